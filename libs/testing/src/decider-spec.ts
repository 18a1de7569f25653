import type { Decider, Event } from '@herald/domain';

/**
 * given/when/then for deciders: past events in, one command, expected new events (or error)
 * out. Asserts on events, never on mock calls.
 *
 *   spec.given([AgentConnected]).when(notify).then([AttemptSent])
 */
export function DeciderSpec<S, C, E extends Event>(decider: Decider<S, C, E>) {
  return {
    given(events: readonly E[]) {
      const state = events.reduce((s, e) => decider.evolve(s, e), decider.initialState());
      return {
        when(command: C) {
          const run = () => decider.decide(command, state);
          return {
            then(expected: readonly E[]): void {
              expect(run()).toEqual(expected);
            },
            thenNothing(): void {
              expect(run()).toEqual([]);
            },
            thenThrows(match: string | RegExp | (new (...args: never[]) => Error)): void {
              expect(run).toThrow(match as never);
            },
            /** The new events, for assertions that toEqual cannot express. */
            events(): readonly E[] {
              return run();
            },
          };
        },
      };
    },
  };
}
