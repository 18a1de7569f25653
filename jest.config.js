// One Jest config, three tiers chosen by file suffix: *.unit.spec.ts (pure), *.int.spec.ts
// (real PostgreSQL and RabbitMQ), test/**/*.e2e-spec.ts (all services as processes).
const swc = JSON.parse(require('node:fs').readFileSync(`${__dirname}/.swcrc`, 'utf8'));
const { baseUrl, paths, ...jsc } = swc.jsc;

const aliases = Object.fromEntries(
  Object.entries(paths).map(([alias, [target]]) => [`^${alias}$`, `<rootDir>/${target}`]),
);

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  moduleNameMapper: aliases,
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swc, jsc: { ...jsc }, swcrc: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,test}/**/*.unit.spec.ts'] },
    { ...common, displayName: 'int', testMatch: ['<rootDir>/{apps,libs,test}/**/*.int.spec.ts'], globalSetup: '<rootDir>/test/build-once.js' },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], globalSetup: '<rootDir>/test/build-once.js' },
  ],
};
