/** A message to publish once the transaction that wrote it commits. */
export interface OutboxMessage {
  /** Defaults to a new UUID; consumers de-duplicate by it. */
  messageId?: string;
  /** Exchange to publish to; '' (the default exchange) with `delayMs`. */
  exchange?: string;
  /** Routing key; with `delayMs`, the queue the message arrives in after the delay. */
  routingKey: string;
  /** Deliver after this long, through the delayed-retry queue of `routingKey`. */
  delayMs?: number;
  type: string;
  correlationId?: string;
  headers?: Record<string, unknown>;
  payload: unknown;
}

/** What the relay needs from a broker client; AmqpClient from @herald/messaging provides it. */
export interface OutboxPublisher {
  publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    options: { messageId: string; type?: string; correlationId?: string; headers?: Record<string, unknown>; mandatory?: boolean },
  ): Promise<{ routed: boolean }>;
  publishDelayed(
    queue: string,
    delayMs: number,
    body: Buffer,
    options: { messageId: string; type?: string; correlationId?: string; headers?: Record<string, unknown> },
  ): Promise<void>;
}
