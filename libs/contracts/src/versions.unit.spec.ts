import { compareVersions, versionKey } from './versions';

describe('versionKey', () => {
  it('pads to four numeric parts, so versions that compare equal get the same key', () => {
    expect(versionKey('1')).toEqual([1, 0, 0, 0]);
    expect(versionKey('1.0')).toEqual(versionKey('1.0.0.0'));
    expect(versionKey('17.123.0')).toEqual([17, 123, 0, 0]);
    expect(versionKey('01.2')).toEqual(versionKey('1.2'));
    expect(versionKey('999999999.999999999.999999999.999999999')).toEqual([999_999_999, 999_999_999, 999_999_999, 999_999_999]);
  });

  it.each(['', '1.', '.1', '1..2', '1.2.3.4.5', 'v1', '1.-2', '1e3', '1234567890', ' 1'])('refuses %j, which is no component version', (v) => {
    expect(() => versionKey(v)).toThrow('not a component version');
  });

  it('orders keys element by element exactly as compareVersions orders the versions', () => {
    const versions = ['1', '1.0.0.1', '1.0.1', '1.1', '2', '10', '17.9.0', '17.10', '17.10.0.0', '0.0.0.1', '0'];
    const byKey = (a: string, b: string) => {
      const [ka, kb] = [versionKey(a), versionKey(b)];
      const i = ka.findIndex((x, n) => x !== kb[n]);
      return i < 0 ? 0 : Math.sign(ka[i]! - kb[i]!);
    };
    for (const a of versions) for (const b of versions) expect([a, b, byKey(a, b)]).toEqual([a, b, compareVersions(a, b)]);
  });
});
