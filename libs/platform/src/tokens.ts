/** Injection token of the ServiceRuntime. */
export const RUNTIME = Symbol('herald:runtime');
/** Injection token of the service's validated config. */
export const CONFIG = Symbol('herald:config');
