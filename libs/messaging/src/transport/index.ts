export * from './queue-definition';
export * from './herald-context';
export * from './herald-transport';
export * from './handler-outcome.interceptor';
export * from './messaging.module';
