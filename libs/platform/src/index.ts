export * from './config';
export * from './runtime';
export * from './runtime.module';
export * from './health.controller';
export * from './tokens';
export * from './bootstrap';
export * from './message-handlers';
