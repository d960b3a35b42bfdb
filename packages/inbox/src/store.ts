/** What identifies one message for one consumer group, as the inbox records it. */
export interface InboxEntry {
  /** The consumer group (ReceivedMessage.group): each group handles a message once. */
  group: string;
  /** The dedupe key: the message id by default, or what the inbox's `key` function returned. */
  key: string;
  /** Where it was delivered from (kept with the record, for inspection; not part of the key). */
  topic: string;
}

/**
 * What a store's process() did with a delivery:
 * - `handled`: the effect ran and the entry is now recorded;
 * - `duplicate`: the entry was already recorded, the effect did not run;
 * - `raced`: the effect ran, but meanwhile another delivery of the same entry recorded it first, so
 *   the effect ran more than once (only a store without transactions, Redis, can report this).
 */
export type InboxOutcome = 'handled' | 'duplicate' | 'raced';

/**
 * Where an inbox keeps what each group has handled. `Tx` is what the handler receives to apply its
 * effect: a pg client inside the transaction that also writes the record (PostgreSQL), or nothing
 * (Redis: the effect lives elsewhere).
 */
export interface InboxStore<Tx = unknown> {
  /** Short name, used as the `store` metric label and in messages ("postgres", "redis", "memory"). */
  readonly kind: string;
  /**
   * Runs `effect` unless `entry` is already recorded, and records it. A throwing effect leaves no
   * record and its error propagates (the delivery is nacked and comes back).
   */
  process(entry: InboxEntry, effect: (tx: Tx) => Promise<void>): Promise<InboxOutcome>;
}
