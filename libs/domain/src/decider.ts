import type { Event } from './events';

/**
 * A pure decision model for one stream: the state folded from its events, and the events a
 * command produces from that state. No I/O, no clock: time and lookups arrive in the command.
 */
export interface Decider<State, Command, E extends Event> {
  initialState(): State;
  evolve(state: State, event: E): State;
  decide(command: Command, state: State): readonly E[];
}

/** Folds events into the state a decider starts from. */
export function stateOf<State, E extends Event>(decider: Pick<Decider<State, unknown, E>, 'initialState' | 'evolve'>, events: readonly E[]): State {
  return events.reduce((s, e) => decider.evolve(s, e), decider.initialState());
}

/** For the exhaustive `default` of a switch over a union: a missing case fails to compile. */
export function unreachable(value: never, what: string): never {
  throw new Error(`unknown ${what} ${JSON.stringify(value)}`);
}
