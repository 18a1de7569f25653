/**
 * The dependency rules of the codebase (npm run lint checks them):
 * - domain code (deciders and event definitions) imports no framework, ORM or broker client;
 * - libraries never import applications, and applications never import each other;
 * - the agent SDK stands on the contracts alone, so it can ship on its own.
 */
module.exports = {
  forbidden: [
    {
      name: 'pure-domain',
      comment: 'Deciders and events are pure: no NestJS, TypeORM, pg or amqplib.',
      severity: 'error',
      from: { path: '\\.(decider|events)\\.ts$' },
      to: { path: 'node_modules/(@nestjs|typeorm|pg|amqplib|express)/' },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-are-independent',
      comment: 'Services talk only through RabbitMQ; they share libraries, never code of each other.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/([^/]+)/', pathNot: '^apps/$1/' },
    },
    {
      name: 'sdk-stands-alone',
      comment: 'Agent authors take the SDK with the contracts only.',
      severity: 'error',
      from: { path: '^libs/agent-sdk/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^libs/(messaging|event-store|platform)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '(^dist/|\\.spec\\.ts$|/test-support/)' },
  },
};
