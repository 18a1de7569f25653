import { readFileSync } from 'node:fs';
import path from 'node:path';

/*
 * Herald is Apache-2.0 and its image ships its production dependencies: none may be under a
 * copyleft licence (GPL, AGPL, LGPL, SSPL, EUPL) or none at all. Read from package-lock.json, which
 * records every installed package's licence; a package without the field there is named below
 * with the licence its own package.json gives in the old `licenses` form.
 */

const lock = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; license?: string }>;
};

/** Licences checked by hand where the lock file has none (the old `licenses` array). */
const CHECKED: Record<string, string> = { 'node_modules/busboy': 'MIT', 'node_modules/streamsearch': 'MIT' };

const PERMISSIVE = /^\(?((MIT|ISC|Apache-2\.0|BSD-2-Clause|BSD-3-Clause|0BSD|Python-2\.0|CC0-1\.0|WTFPL|BlueOak-1\.0\.0|Unlicense)( OR |\)?$))+/;
/** Only permissive licences; conservatively, no expression that names a copyleft one, even as an alternative. */
const acceptable = (license: string) => PERMISSIVE.test(license) && !/GPL|SSPL|EUPL/.test(license);

describe('production dependencies', () => {
  const production = Object.entries(lock.packages).filter(([name, p]) => name !== '' && !p.dev);

  it('are all under permissive licences', () => {
    expect(production.length).toBeGreaterThan(100);
    const offending = production
      .map(([name, p]) => ({ name, license: p.license ?? CHECKED[name] ?? 'none' }))
      .filter(({ license }) => !acceptable(license));
    expect(offending).toEqual([]);
  });

  it('the check would catch a GPL package', () => {
    for (const license of ['GPL', 'GPL-2.0-or-later', 'LGPL-3.0', 'AGPL-3.0-only', '(MIT OR GPL-3.0)', 'SEE LICENSE IN LICENSE', 'none']) {
      expect({ license, ok: acceptable(license) }).toEqual({ license, ok: false });
    }
    for (const license of ['MIT', 'Apache-2.0', '(MIT OR CC0-1.0)', '(BSD-2-Clause OR MIT OR Apache-2.0)']) expect({ license, ok: acceptable(license) }).toEqual({ license, ok: true });
  });
});
