export * from './rabbitmq';
export * from './postgres';
export * from './wait';
