/** Headers of our own that the messaging layer reads and writes. */
export const Headers = {
  /** Delivery attempt of this message, 1 on first delivery; raised on every "retry later". */
  attempt: 'x-herald-attempt',
  /** Per-publish id used to match a basic.return to the publish that caused it. */
  publishId: 'x-herald-publish-id',
  parkedReason: 'x-herald-parked-reason',
  parkedAt: 'x-herald-parked-at',
  parkedFromQueue: 'x-herald-parked-from-queue',
  /** On a parked message of which only the first bytes were kept: the size of the whole body. */
  parkedBodyBytes: 'x-herald-parked-body-bytes',
  originalExchange: 'x-herald-original-exchange',
  originalRoutingKey: 'x-herald-original-routing-key',
  correlationId: 'x-herald-correlation-id',
} as const;

export function attemptOf(headers: Record<string, unknown> | undefined): number {
  const raw = headers?.[Headers.attempt];
  const n = typeof raw === 'number' ? raw : Number(raw);
  return Number.isInteger(n) && n > 0 ? n : 1;
}
