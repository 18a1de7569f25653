export * from './amqp-client';
export * from './errors';
export * from './headers';
export * from './logger';
export * from './outcome';
export * from './topology';
export * from './transport';
