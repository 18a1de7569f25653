/**
 * The storage-free building blocks of Herald's domain: events and deciders. Deciders and event
 * definitions import this (and @herald/contracts), never @herald/event-store, so the domain
 * reaches no database, broker or framework (npm run lint checks it).
 */
export * from './events';
export * from './decider';
