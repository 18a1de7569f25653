import { randomUUID } from 'node:crypto';
import type { Event, RecordedEvent } from '@herald/domain';

/**
 * Events as a projection reads them from the store, in the order given: global positions and
 * transaction ids counting up, each in the stream `streamOf` names. For projection tests that
 * replay a story without writing it first.
 */
export function asRecorded<E extends Event>(events: readonly E[], streamOf: (e: E) => string): Array<RecordedEvent<E>> {
  return events.map((e, i) => ({
    ...e,
    eventId: randomUUID(),
    streamId: streamOf(e),
    streamPosition: i + 1,
    globalPosition: String(i + 1),
    transactionId: String(1000 + i),
    schemaVersion: 1,
    recordedAt: new Date(),
    metadata: {},
  }));
}
