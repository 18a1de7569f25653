import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

/*
 * npm run delta:corpus [-- --dir var/delta-pairs] [--budget var/delta-budget]
 *
 * Builds a corpus of real version pairs for `npm run bench:delta -- --pairs DIR`: files taken
 * from packages on the npm registry (fetched with `npm pack`, so through npm's own registry
 * settings and cache), written as NAME-a (the older version) and NAME-b (the newer). The kinds
 * a security product ships: executables, packed data, a binary lookup database, source text
 * and a minified bundle, each for consecutive releases and for releases far apart. Versions are
 * pinned, so every run builds the same corpus; a directory is packed as a deterministic tar
 * (sorted, no times or owners), so the same files give the same bytes. The files are not
 * committed. Files already there are kept.
 *
 * With --budget DIR it also writes two large pairs into DIR for the build and apply budgets
 * (issue 16: a 100 MB pair built in under a minute and 1 GiB, applied in under 5 s and 256 MB):
 * `mixed-16mib`, the far-apart executable, database and data pairs end to end (just under
 * 16 MiB, the largest pair every format is built for), and `mixed-100mb`, every pair's files end
 * to end and then again in reverse order (about 100 MB). Not a kind of file of their own, so they
 * stay out of the per-pair ratio.
 */

interface Pair {
  name: string;
  what: string;
  pkg: string;
  a: string;
  b: string;
  /** A file inside the package, or a directory packed as a deterministic tar. */
  path: string;
}

export const CORPUS: readonly Pair[] = [
  { name: 'esbuild-exe-1', what: 'Go executable, one patch release', pkg: '@esbuild/linux-x64', a: '0.25.11', b: '0.25.12', path: 'bin/esbuild' },
  { name: 'esbuild-exe-far', what: 'Go executable, a year of releases', pkg: '@esbuild/linux-x64', a: '0.24.0', b: '0.25.12', path: 'bin/esbuild' },
  { name: 'sqljs-wasm-1', what: 'WebAssembly executable (SQLite), one minor release', pkg: 'sql.js', a: '1.12.0', b: '1.13.0', path: 'dist/sql-wasm.wasm' },
  { name: 'caniuse-data-1', what: 'packed JS data (tar of a data directory), consecutive releases', pkg: 'caniuse-lite', a: '1.0.30001828', b: '1.0.30001829', path: 'data' },
  { name: 'caniuse-data-14', what: 'packed JS data (tar of a data directory), 14 releases apart', pkg: 'caniuse-lite', a: '1.0.30001812', b: '1.0.30001829', path: 'data' },
  { name: 'geoip-db-1', what: 'binary lookup database (GeoLite2 country ranges), consecutive releases', pkg: 'geoip-country', a: '5.0.202609230144', b: '5.0.202609260156', path: 'data/geoip-country.dat' },
  { name: 'geoip-db-far', what: 'binary lookup database, two months apart', pkg: 'geoip-country', a: '5.0.202607250106', b: '5.0.202609260156', path: 'data/geoip-country.dat' },
  { name: 'typescript-src-1', what: 'source text (a 9 MB JS file), one patch release', pkg: 'typescript', a: '5.6.2', b: '5.6.3', path: 'lib/typescript.js' },
  { name: 'typescript-src-far', what: 'source text, two minor releases apart', pkg: 'typescript', a: '5.4.5', b: '5.6.3', path: 'lib/typescript.js' },
  { name: 'react-bundle-1', what: 'minified JS bundle, a tiny change', pkg: 'react-dom', a: '18.3.0', b: '18.3.1', path: 'umd/react-dom.production.min.js' },
];

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
  return r.stdout;
}

/** The file (or the directory as a deterministic tar) at `inside` of pkg@version, written to `out`. */
function fetchFile(pkg: string, version: string, inside: string, out: string, work: string): void {
  const dir = mkdtempSync(path.join(work, 'pkg-'));
  try {
    const packed = JSON.parse(run('npm', ['pack', `${pkg}@${version}`, '--json', '--pack-destination', dir], dir)) as Array<{ filename: string }>;
    const tgz = path.join(dir, path.basename(packed[0]!.filename));
    run('tar', ['-xzf', tgz, '-C', dir], dir);
    const source = path.join(dir, 'package', inside);
    if (!existsSync(source)) throw new Error(`${pkg}@${version} has no ${inside}`);
    const tmp = `${out}.part`;
    if (statSync(source).isDirectory()) {
      run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '-cf', tmp, '-C', path.join(dir, 'package'), inside], dir);
    } else {
      run('cp', [source, tmp], dir);
    }
    renameSync(tmp, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);

function main(): void {
  const { values } = parseArgs({ options: { dir: { type: 'string', default: path.join('var', 'delta-pairs') }, budget: { type: 'string' } } });
  const dir = path.resolve(values.dir!);
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(path.join(tmpdir(), 'delta-corpus-'));
  try {
    for (const p of CORPUS) {
      for (const [side, version] of [['a', p.a], ['b', p.b]] as const) {
        const out = path.join(dir, `${p.name}-${side}`);
        if (!existsSync(out)) fetchFile(p.pkg, version, p.path, out, work);
      }
      const [a, b] = [path.join(dir, `${p.name}-a`), path.join(dir, `${p.name}-b`)];
      console.log(`${p.name}: ${p.pkg} ${p.a} → ${p.b}, ${p.path} (${(statSync(a).size / 1e6).toFixed(2)} → ${(statSync(b).size / 1e6).toFixed(2)} MB, ${sha(a)} → ${sha(b)}) — ${p.what}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`corpus: ${CORPUS.length} pairs in ${dir}`);
  if (values.budget) budgetPairs(dir, path.resolve(values.budget));
}

function budgetPairs(dir: string, out: string): void {
  mkdirSync(out, { recursive: true });
  const side = (names: string[], s: 'a' | 'b') => names.map((n) => readFileSync(path.join(dir, `${n}-${s}`)));
  const small = ['esbuild-exe-far', 'geoip-db-far', 'caniuse-data-14'];
  const all = CORPUS.map((p) => p.name);
  for (const s of ['a', 'b'] as const) {
    writeFileSync(path.join(out, `mixed-16mib-${s}`), Buffer.concat(side(small, s)));
    const files = side(all, s);
    writeFileSync(path.join(out, `mixed-100mb-${s}`), Buffer.concat([...files, ...[...files].reverse()]));
  }
  for (const name of ['mixed-16mib', 'mixed-100mb']) {
    const [a, b] = [path.join(out, `${name}-a`), path.join(out, `${name}-b`)];
    console.log(`${name}: ${(statSync(a).size / 1e6).toFixed(2)} → ${(statSync(b).size / 1e6).toFixed(2)} MB (budget pair)`);
  }
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`delta:corpus: ${(err as Error).message}`);
    process.exit(1);
  }
}
