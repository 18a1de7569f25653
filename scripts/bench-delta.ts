import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FolderUpstream } from '../apps/update-source/src/folder-upstream';
import { IN_PROCESS_METHODS } from './bench-delta-worker';

/*
 * npm run bench:delta [-- --quick] [--dir var/bench-delta]
 * npm run bench:delta -- --pairs DIR    (real files: NAME-a and NAME-b; `npm run delta:corpus` makes some)
 *
 * Chooses the delta algorithm by measurement. Builds a corpus of synthetic pattern files with
 * the reference update source (about 1, 10 and 100 MB; 16 releases each), then, in this one
 * run, builds and applies a patch for consecutive and 7- and 14-apart pairs with every
 * candidate: Herald's own formats (herald-delta and bsdiff40 in TypeScript, zstd-patch-from through
 * zstd-napi's libzstd), fossil-delta (npm, pure JS) and the Debian tools zstd --patch-from, xdelta3 and bsdiff (named when
 * missing, never installed by the script). Each build and apply runs in a process of its own, so its time and peak
 * memory (maxRSS) are its alone; every rebuilt file is checked against the target's SHA-256.
 * The last line is `patch-bytes-vs-best-tool: R`, herald-delta's total patch bytes over the best
 * external tool's on the same pairs.
 *
 * With --pairs, the same measurements run on every pair of files in DIR, and the comparison is
 * per pair: Herald's smallest patch (the one its server would serve an agent that applies every
 * format) against the smallest of the three tools on that pair. The
 * last line is `patch-bytes-vs-best-per-pair: R`, the sum of Herald's over the sum of the best
 * tools'. Nothing is installed: a missing tool is named, with the Debian package that has it,
 * and left out.
 */

const CHOSEN = 'herald-delta';
const TOOLS = ['zstd --patch-from', 'xdelta3', 'bsdiff'] as const;

interface Result {
  size: string;
  pair: string;
  method: string;
  patchBytes: number | null;
  buildS: number | null;
  buildMB: number | null;
  applyS: number | null;
  applyMB: number | null;
  note: string;
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    dir: { type: 'string', default: path.join('var', 'bench-delta') },
    releases: { type: 'string', default: '15' },
    pairs: { type: 'string' },
    // herald: only Herald's own formats (the budget run on large pairs, where the tools take minutes).
    methods: { type: 'string', default: 'all' },
  },
});
const root = path.resolve(values.dir!);
const worker = path.join(__dirname, 'bench-delta-worker.js');
const sizes = values.quick ? [1] : [1, 10, 100];
const last = Number(values.releases);

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** The tools there are, saying which are missing (and where to get them) instead of installing them. */
function availableTools(): Set<string> {
  const missing = [
    ['zstd', 'zstd'],
    ['xdelta3', 'xdelta3'],
    ['bsdiff', 'bsdiff'],
    ['bspatch', 'bsdiff'],
  ].filter(([bin]) => !have(bin!));
  for (const [bin, pkg] of missing) console.log(`missing: ${bin} (Debian package ${pkg}); its rows are left out`);
  if (!have('/usr/bin/time')) throw new Error('GNU time (/usr/bin/time, Debian package time) is needed to measure the tools’ peak memory');
  const available = new Set<string>();
  if (have('zstd')) available.add('zstd --patch-from');
  if (have('xdelta3')) available.add('xdelta3');
  if (have('bsdiff') && have('bspatch')) available.add('bsdiff');
  return available;
}

/** Whether an in-process candidate loads (zstd-napi's binding may not be built). */
function loads(method: string): boolean {
  if (method !== ZSTD_METHOD) return true;
  const ok = spawnSync(process.execPath, ['-e', "require('zstd-napi')"]).status === 0;
  if (!ok) console.log(`missing: zstd-napi's native binding (npm ci builds it, with python3, make and g++); its rows are left out`);
  return ok;
}

/** Runs a command under GNU time: wall seconds and peak RSS. */
function timed(cmd: string, args: string[]): { s: number; mb: number } | { error: string } {
  const stats = path.join(root, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', '-o', stats, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 24 });
  if (r.status !== 0) return { error: `${cmd} exited ${r.status}: ${r.stderr.toString().trim().split('\n').pop()}` };
  const [s, kb] = readFileSync(stats, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { s: s!, mb: kb! / 1024 };
}

function inProcess(method: string, op: 'build' | 'apply', a: string, b: string, out: string): { s: number; mb: number } | { error: string } {
  const r = spawnSync(process.execPath, ['--max-old-space-size=4096', worker, method, op, a, b, out], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    // A crashed V8 ends its output with a native stack; the line that says why comes earlier.
    const lines = r.stderr.toString().trim().split('\n');
    const why = lines.find((l) => /Fatal JavaScript|FATAL ERROR|RangeError|Error:/.test(l))?.replace(/^#\s*/, '') ?? lines.pop();
    return { error: `${op} failed: ${why?.trim()}` };
  }
  const { ms, maxRssMB } = JSON.parse(r.stdout.toString().trim().split('\n').pop()!) as { ms: number; maxRssMB: number };
  return { s: ms / 1000, mb: maxRssMB };
}

function windowLog(bytes: number): number {
  return Math.max(20, Math.min(31, Math.ceil(Math.log2(bytes + 1))));
}

function measure(method: string, base: string, target: string, work: string): Omit<Result, 'size' | 'pair' | 'method'> {
  const patch = path.join(work, 'patch');
  const out = path.join(work, 'out');
  rmSync(patch, { force: true });
  rmSync(out, { force: true });
  const w = windowLog(statSync(base).size + statSync(target).size);
  let build: ReturnType<typeof timed>;
  let apply: ReturnType<typeof timed>;
  switch (method) {
    case 'zstd --patch-from':
      build = timed('zstd', ['-q', '-f', '-19', `--long=${w}`, `--patch-from=${base}`, target, '-o', patch]);
      apply = 'error' in build ? build : timed('zstd', ['-q', '-f', '-d', `--long=${w}`, `--patch-from=${base}`, patch, '-o', out]);
      break;
    case 'xdelta3': {
      // The source window covers the whole base (xdelta3 takes no less than 512 KiB).
      const window = String(Math.max(1 << 19, Math.min(2 ** 31 - 1, 2 ** Math.ceil(Math.log2(statSync(base).size + 1)))));
      build = timed('xdelta3', ['-f', '-e', '-9', '-B', window, '-s', base, target, patch]);
      apply = 'error' in build ? build : timed('xdelta3', ['-f', '-d', '-B', window, '-s', base, patch, out]);
      break;
    }
    case 'bsdiff':
      build = timed('bsdiff', [base, target, patch]);
      apply = 'error' in build ? build : timed('bspatch', [base, out, patch]);
      break;
    default:
      build = inProcess(method, 'build', base, target, patch);
      apply = 'error' in build ? build : inProcess(method, 'apply', base, patch, out);
  }
  if ('error' in build) return { patchBytes: null, buildS: null, buildMB: null, applyS: null, applyMB: null, note: build.error };
  const patchBytes = statSync(patch).size;
  if ('error' in apply) return { patchBytes, buildS: build.s, buildMB: build.mb, applyS: null, applyMB: null, note: apply.error };
  const ok = sha256File(out) === sha256File(target);
  rmSync(out, { force: true });
  return { patchBytes, buildS: build.s, buildMB: build.mb, applyS: apply.s, applyMB: apply.mb, note: ok ? 'ok' : 'REBUILT FILE DIFFERS' };
}

async function corpus(mb: number): Promise<string[]> {
  const dir = path.join(root, 'corpus', `${mb}mb`);
  const upstream = new FolderUpstream(dir);
  const files = Array.from({ length: last + 1 }, (_, k) => path.join(dir, 'files', 'virus-pattern', `1.0.${k}`));
  if (!files.every((f) => existsSync(f))) {
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`building the ${mb} MB corpus (${last + 1} releases) with the reference update source… `);
    const started = Date.now();
    for (let k = 0; k <= last; k++) await upstream.publishPattern('virus-pattern', { version: `1.0.${k}`, bytes: mb * 1_000_000, patches: false });
    console.log(`${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return files;
}

const fmt = (n: number | null, digits = 2) => (n === null ? '—' : n.toFixed(digits));

const ZSTD_METHOD = 'zstd-patch-from (Herald, zstd-napi)';

/** Herald's own methods (the formats the server builds): the smallest patch of these per pair is Herald's. */
const HERALD_METHODS = [CHOSEN, 'bsdiff40 (Herald, TypeScript)', ZSTD_METHOD];
const heraldMethods = () => HERALD_METHODS.filter(loads);

async function pairsMain(dir: string): Promise<void> {
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('-a') && existsSync(path.join(dir, `${f.slice(0, -2)}-b`)))
    .map((f) => f.slice(0, -2))
    .sort();
  if (names.length === 0) throw new Error(`no pairs in ${dir} (files NAME-a and NAME-b; npm run delta:corpus -- --dir ${dir} makes some)`);
  mkdirSync(root, { recursive: true });
  const tools = availableTools();
  const others = values.methods === 'herald' ? [] : [...IN_PROCESS_METHODS.filter((m) => !HERALD_METHODS.includes(m) && loads(m)), ...TOOLS.filter((t) => tools.has(t))];
  const methods = [...heraldMethods(), ...others];
  const work = path.join(root, 'work');
  mkdirSync(work, { recursive: true });
  const results: Result[] = [];
  for (const name of names) {
    const [a, b] = [path.join(dir, `${name}-a`), path.join(dir, `${name}-b`)];
    const size = `${(statSync(a).size / 1e6).toFixed(2)} → ${(statSync(b).size / 1e6).toFixed(2)} MB`;
    for (const method of methods) {
      process.stdout.write(`${name}, ${method}… `);
      const r = measure(method, a, b, work);
      console.log(r.note === 'ok' ? `${r.patchBytes} bytes, build ${fmt(r.buildS)} s ${fmt(r.buildMB, 0)} MB, apply ${fmt(r.applyS)} s ${fmt(r.applyMB, 0)} MB` : r.note);
      results.push({ size, pair: name, method, ...r });
    }
  }
  rmSync(work, { recursive: true, force: true });

  console.log('');
  console.log('| pair | size | method | patch bytes | build s | build peak MB | apply s | apply peak MB | check |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results) {
    console.log(`| ${r.pair} | ${r.size} | ${r.method} | ${r.patchBytes ?? '—'} | ${fmt(r.buildS)} | ${fmt(r.buildMB, 0)} | ${fmt(r.applyS)} | ${fmt(r.applyMB, 0)} | ${r.note} |`);
  }
  const smallest = (pair: string, among: readonly string[]): Result | undefined =>
    results.filter((r) => r.pair === pair && among.includes(r.method) && r.note === 'ok').sort((x, y) => x.patchBytes! - y.patchBytes!)[0];
  console.log('');
  console.log(
    '| pair | Herald (method) | best tool (which) | Herald / best | server build: s (all formats) | build peak MB | agent apply s | apply peak MB |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  let heraldTotal = 0;
  let bestTotal = 0;
  let worst = 0;
  let complete = true;
  const overBudget: string[] = [];
  for (const name of names) {
    const h = smallest(name, HERALD_METHODS);
    const t = smallest(name, TOOLS);
    if (!h || !t) complete = false;
    const ratio = h && t ? h.patchBytes! / t.patchBytes! : null;
    if (ratio !== null) worst = Math.max(worst, ratio);
    if (h && t) {
      heraldTotal += h.patchBytes!;
      bestTotal += t.patchBytes!;
    }
    // The server builds every format that applies to the pair, one after the other, in one worker.
    const built = results.filter((r) => r.pair === name && HERALD_METHODS.includes(r.method) && r.note === 'ok');
    const buildS = built.reduce((sum, r) => sum + r.buildS!, 0);
    const buildMB = Math.max(0, ...built.map((r) => r.buildMB!));
    if (buildS > 60 || buildMB > 1024 || (h && (h.applyS! > 5 || h.applyMB! > 256))) overBudget.push(name);
    console.log(
      `| ${name} | ${h ? `${h.patchBytes} (${h.method})` : '—'} | ${t ? `${t.patchBytes} (${t.method})` : '—'} | ${ratio === null ? '—' : ratio.toFixed(3)} | ${fmt(buildS)} | ${fmt(buildMB, 0)} | ${fmt(h?.applyS ?? null)} | ${fmt(h?.applyMB ?? null, 0)} |`,
    );
  }
  console.log('');
  console.log(`budgets (build < 60 s and < 1 GiB for all formats of a pair; apply < 5 s and < 256 MB): ${overBudget.length === 0 ? 'every pair within' : `over: ${overBudget.join(', ')}`}`);
  console.log('');
  console.log(`worst pair: ${worst.toFixed(3)}× the best tool${complete ? '' : ' (some pairs incomplete: see the notes above)'}`);
  console.log(`patch-bytes-vs-best-per-pair: ${bestTotal > 0 ? (heraldTotal / bestTotal).toFixed(3) : 'n/a'}`);
}

async function main(): Promise<void> {
  if (values.pairs) return pairsMain(path.resolve(values.pairs));
  mkdirSync(root, { recursive: true });
  const tools = availableTools();
  const methods = [CHOSEN, ...IN_PROCESS_METHODS.filter((m) => m !== CHOSEN && loads(m)), ...TOOLS.filter((t) => tools.has(t))];
  const results: Result[] = [];
  const work = path.join(root, 'work');
  mkdirSync(work, { recursive: true });
  for (const mb of sizes) {
    const files = await corpus(mb);
    const apart = mb >= 100 ? [1, 14] : [1, 7, 14];
    for (const k of apart) {
      const base = files[last - k]!;
      const target = files[last]!;
      for (const method of methods) {
        process.stdout.write(`${mb} MB, ${k} apart, ${method}… `);
        const r = measure(method, base, target, work);
        console.log(r.note === 'ok' ? `${r.patchBytes} bytes` : r.note);
        results.push({ size: `${mb} MB`, pair: `1.0.${last - k} → 1.0.${last} (${k} apart)`, method, ...r });
      }
    }
  }
  rmSync(work, { recursive: true, force: true });

  console.log('');
  console.log('| file | pair | method | patch bytes | build s | build peak MB | apply s | apply peak MB | check |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results) {
    console.log(`| ${r.size} | ${r.pair} | ${r.method} | ${r.patchBytes ?? '—'} | ${fmt(r.buildS)} | ${fmt(r.buildMB, 0)} | ${fmt(r.applyS)} | ${fmt(r.applyMB, 0)} | ${r.note} |`);
  }
  const pairs = [...new Set(results.map((r) => `${r.size} ${r.pair}`))];
  const total = (method: string): number | null => {
    const rows = results.filter((r) => r.method === method);
    if (rows.length !== pairs.length || rows.some((r) => r.note !== 'ok')) return null;
    return rows.reduce((s, r) => s + r.patchBytes!, 0);
  };
  console.log('');
  console.log('| method | total patch bytes (all pairs) | vs best tool |');
  console.log('| --- | ---: | ---: |');
  const toolTotals = TOOLS.map((t) => total(t)).filter((t): t is number => t !== null);
  const best = toolTotals.length > 0 ? Math.min(...toolTotals) : null;
  for (const m of methods) {
    const t = total(m);
    console.log(`| ${m} | ${t ?? 'incomplete'} | ${t !== null && best ? (t / best).toFixed(3) : '—'} |`);
  }
  const chosen = total(CHOSEN);
  console.log('');
  console.log(`chosen: ${CHOSEN} (pure TypeScript, applies with Node built-ins only, so every agent can use it)`);
  console.log(`patch-bytes-vs-best-tool: ${chosen !== null && best ? (chosen / best).toFixed(3) : 'n/a'}`);
}

main().catch((err: Error) => {
  console.error(`bench:delta: ${err.stack}`);
  process.exit(1);
});
