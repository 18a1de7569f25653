/**
 * Small runtime helpers every Herald library may use: no framework, no database, no broker.
 */
export * from './polling-loop';
export * from './background-worker';
export * from './redact';
export * from './chunks';
export * from './broker-urls';
export * from './token-buckets';
export * from './like-pattern';
