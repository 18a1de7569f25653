export * from './versions';
export * from './common';
export * from './agent-protocol';
export * from './integration-events';
export * from './topology';
export * from './parse';
export * from './components';
