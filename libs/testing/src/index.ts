export * from './rabbitmq';
export * from './postgres';
export * from './wait';
export * from './decider-spec';
export * from './processes';
export * from './upstream-fixture';
export * from './herald-system';
export * from './dashboard-process';
