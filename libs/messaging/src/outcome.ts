/**
 * What a message's body says it is (its own id and type), as far as it could be read: handed on
 * with a parked message (the `parked` event) so that listeners need not read the body again.
 */
export interface MessageSubject {
  readonly messageId?: string;
  readonly type?: string;
}

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
   * With `keepBytes`, only the first that many bytes of the body are parked (a message refused
   * for its size must not fill the parking queue).
   */
  | { readonly kind: 'park'; readonly reason: string; readonly keepBytes?: number; readonly subject?: MessageSubject }
  /**
   * Refused and not worth keeping: acknowledged and gone, only counted (by the reason's code)
   * and never logged one by one. For what comes in floods, where parking every copy would cost
   * the broker a write each and push the messages worth inspecting out of the bounded parking
   * queue.
   */
  | { readonly kind: 'drop'; readonly reason: string };

export const Outcome = {
  ack: (): Outcome => ({ kind: 'ack' }),
  retry: (reason: string, delayMs?: number): Outcome => ({ kind: 'retry', reason, delayMs }),
  park: (reason: string, options: { keepBytes?: number; subject?: MessageSubject } = {}): Outcome => ({ kind: 'park', reason, ...options }),
  drop: (reason: string): Outcome => ({ kind: 'drop', reason }),
};
