/**
 * What a consumer decided about one message. Every handler returns one; there is no implicit
 * acknowledgement.
 */
export type Outcome =
  | { readonly kind: 'ack' }
  /** Transient failure: redeliver through the delayed-retry queue after `delayMs`. */
  | { readonly kind: 'retry'; readonly reason: string; readonly delayMs?: number }
  /**
   * Never going to work (malformed, unknown, refused): move to the parking queue. Write the
   * reason as "<code>: <detail>"; the code (lower-case words and dashes) labels the metric.
   */
  | { readonly kind: 'park'; readonly reason: string };

export const Outcome = {
  ack: (): Outcome => ({ kind: 'ack' }),
  retry: (reason: string, delayMs?: number): Outcome => ({ kind: 'retry', reason, delayMs }),
  park: (reason: string): Outcome => ({ kind: 'park', reason }),
};
