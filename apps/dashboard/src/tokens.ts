/** Injection token for the list of services the dashboard passes API calls on to. */
export const UPSTREAMS = Symbol('UPSTREAMS');
