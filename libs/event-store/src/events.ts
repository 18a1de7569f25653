/**
 * A place in the global event order. Events are read in (transactionId, globalPosition) order,
 * and only from transactions older than every one still running, so a reader never skips an
 * event that committed after a later-numbered one.
 */
export type GlobalCursor = Readonly<{ transactionId: string; globalPosition: string }>;

export const START: GlobalCursor = { transactionId: '0', globalPosition: '0' };

/** The version a stream must be at for an append to succeed: its last position, 0 when empty. */
export type ExpectedVersion = number | 'any';

/** Turns an old stored shape of an event into the current one (see *.v1.ts files). */
export type Upcaster = (data: unknown, schemaVersion: number) => object;
