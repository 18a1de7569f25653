export * from './rabbitmq';
export * from './postgres';
export * from './wait';
export * from './decider-spec';
export * from './processes';
