export * from './agent-connection';
export * from './component-store';
export * from './herald-agent';
export * from './agent-identity';
