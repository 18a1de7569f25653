export * from './component-store';
export * from './herald-agent';
