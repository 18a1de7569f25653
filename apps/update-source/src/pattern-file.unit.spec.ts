import { initialPatternFile, nextPatternFile } from './pattern-file';

/** Record ids of a pattern file, in file order. */
function ids(file: Buffer): number[] {
  const start = file.indexOf('\n\n', 0, 'latin1') + 2;
  const out: number[] = [];
  for (let at = start; at < file.length - 32; at += 2 + file.readUInt16BE(at)) out.push(file.readUInt32BE(at + 2));
  return out;
}

describe('synthetic pattern files', () => {
  const first = initialPatternFile('virus-pattern', '1.0.0', 200_000);
  const second = nextPatternFile(first, 'virus-pattern', '1.0.1');

  it('are the same bytes for the same release on every run', () => {
    expect(initialPatternFile('virus-pattern', '1.0.0', 200_000).equals(first)).toBe(true);
    expect(nextPatternFile(first, 'virus-pattern', '1.0.1').equals(second)).toBe(true);
    expect(first.length).toBeGreaterThanOrEqual(200_000);
    expect(first.subarray(0, 60).toString('latin1')).toContain('version=1.0.0');
  });

  it('evolve like signature databases: records added, some dropped, some changed in place', () => {
    const before = ids(first);
    const after = ids(second);
    const kept = new Set(after);
    const dropped = before.filter((id) => !kept.has(id));
    const added = after.filter((id) => !before.includes(id));
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.length).toBeLessThan(before.length * 0.02);
    expect(added.length).toBeGreaterThan(before.length * 0.005);
    expect(Math.min(...added)).toBeGreaterThan(Math.max(...before));
    // Most of the file is unchanged, so an incremental is small.
    let same = 0;
    for (const chunk of first.toString('latin1').match(/[\s\S]{1,64}/g) ?? []) if (second.includes(Buffer.from(chunk, 'latin1'))) same++;
    expect(same / Math.ceil(first.length / 64)).toBeGreaterThan(0.9);
  });
});
