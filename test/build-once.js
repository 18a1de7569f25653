// Jest globalSetup for the int and e2e tiers: compile apps and libs with SWC (about a second),
// so tests that start real processes (services, crash children) run the current code. Same
// command as `npm run build`: only .ts is compiled; other files (the dashboard's page) are copied.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function buildOnce() {
  if (process.env.HERALD_SKIP_BUILD === '1') return;
  const root = path.resolve(__dirname, '..');
  execFileSync(process.execPath, [require.resolve('@swc/cli/bin/swc.js'), 'apps', 'libs', '-d', 'dist', '--config-file', '.swcrc', '--ignore', '**/*.spec.ts', '--extensions', '.ts', '--copy-files', '--quiet'], {
    cwd: root,
    stdio: 'inherit',
  });
};
