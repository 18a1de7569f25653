import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { bzip2 } from './bzip2';
import { evolve } from './delta.fixtures.spec';

const run = promisify(execFile);

// Suffix sorting of 1.8 MB blocks in JS takes a second or two on a loaded machine: a deadline for a hang.
jest.setTimeout(120_000);

// seek-bzip, the decoder bsdiff40 uses (MIT; no types).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const seekBzip = require('seek-bzip') as { decode(input: Buffer): Buffer };

/** Herald's bzip2 encoder, read back by Debian's bzip2, Python's bz2 (Debian's python3) and seek-bzip. */
describe('bzip2 encoder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bzip2-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const records = randomBytes(300_000);
  const cases: Array<[string, Buffer]> = [
    ['nothing', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['runs of every length around the 4 and 255 limits', Buffer.concat([3, 4, 5, 254, 255, 256, 259, 600].map((n, i) => Buffer.alloc(n, 65 + i)))],
    ['random bytes', randomBytes(200_000)],
    ['several blocks of evolving records and zeros', Buffer.concat([records, evolve(records, 2), Buffer.alloc(700_000), evolve(records, 5)])],
    ['one symbol only', Buffer.alloc(1_000_000, 7)],
  ];

  it('writes what bzip2, Python and seek-bzip decompress byte for byte', async () => {
    const python = 'import bz2, sys; sys.stdout.buffer.write(bz2.decompress(open(sys.argv[1], "rb").read()))';
    for (const [what, data] of cases) {
      const file = path.join(dir, 'data.bz2');
      await writeFile(file, bzip2(data));
      await run('bzip2', ['-t', file]);
      const [{ stdout: cli }, { stdout: py }] = await Promise.all([
        run('bzip2', ['-dc', file], { encoding: 'buffer', maxBuffer: 1 << 28 }),
        run('/usr/bin/python3', ['-c', python, file], { encoding: 'buffer', maxBuffer: 1 << 28 }),
      ]);
      const ours = await readFile(file);
      expect({ what, cli: cli.equals(data), python: py.equals(data), seekBzip: seekBzip.decode(ours).equals(data) }).toEqual({ what, cli: true, python: true, seekBzip: true });
    }
  });

  it('compresses within 1 % of bzip2 -9', async () => {
    const data = Buffer.concat([records, evolve(records, 3)].map((b) => Buffer.from(b.toString('hex'))));
    const file = path.join(dir, 'plain');
    await writeFile(file, data);
    const { stdout } = await run('bzip2', ['-9', '-c', file], { encoding: 'buffer', maxBuffer: 1 << 28 });
    expect(bzip2(data).length).toBeLessThan(stdout.length * 1.01);
  });
});
