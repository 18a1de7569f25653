/** What a domain event looks like before it is stored: a past-tense type and its data. */
export type Event<Type extends string = string, Data extends object = object> = Readonly<{
  type: Type;
  data: Data;
  metadata?: EventMetadata;
}>;

export type EventMetadata = Readonly<{
  /** Follows one business flow across services (download → notification → agent report). */
  correlationId?: string;
  /** The message or command that caused this event. */
  causationId?: string;
  [key: string]: unknown;
}>;

/** A stored event, with where it sits in its stream and in the whole store. */
export type RecordedEvent<E extends Event = Event> = E &
  Readonly<{
    eventId: string;
    streamId: string;
    /** 1 for the first event of a stream. */
    streamPosition: number;
    /** Position in the whole store (a bigint, as a string). */
    globalPosition: string;
    /** PostgreSQL transaction that wrote it (xid8, as a string); orders subscriptions safely. */
    transactionId: string;
    schemaVersion: number;
    recordedAt: Date;
    metadata: EventMetadata;
  }>;
