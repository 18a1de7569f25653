/**
 * The dependency rules of the codebase (npm run lint checks them):
 * - domain code (deciders, event definitions, @herald/domain) reaches no framework, ORM or broker
 *   client, not even through an index or a type-only import;
 * - libraries never import applications, and applications never import each other;
 * - the agent SDK stands on the contracts alone, so it can ship on its own.
 */
module.exports = {
  forbidden: [
    {
      name: 'pure-domain',
      comment:
        'Deciders and events are pure: nothing they import, directly or through an index (say @herald/event-store), ' +
        'reaches NestJS, TypeORM, pg, amqplib or Express. Decider and Event come from @herald/domain.',
      severity: 'error',
      from: { path: ['\\.(decider|events)\\.ts$', '^libs/domain/'] },
      to: { path: 'node_modules/(@nestjs|typeorm|pg|pg-[a-z-]+|amqplib|express)/', reachable: true },
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
