import { EventportError } from '@eventport/core';
import type { EncodedEvent, RawEvent } from './encoding.js';
import { checkExpectedVersion } from './errors.js';
import {
  EventStore,
  type EventStoreOptions,
  type ReadAllFilter,
  type SnapshotKey,
  type StreamRange,
} from './event-store.js';
import { toPublishInput } from './publishing.js';
import type { AppendResult, EventRouting, ExpectedVersion, OutboxWriter } from './types.js';

/** An outbox that groups its writes in its own transactions, like @eventport/outbox's MemoryOutboxStore. */
export interface TransactionalOutbox<Tx = unknown> extends OutboxWriter<Tx> {
  transaction<R>(work: (tx: Tx) => Promise<R>): Promise<R>;
}

export interface MemoryEventStoreOptions extends EventStoreOptions {
  /** Every append also writes its events to this outbox, in the outbox transaction the append commits with. */
  outbox?: EventRouting & { store: TransactionalOutbox };
}

/** A row as stored: data kept as JSON text, so every read gets a fresh copy, as from PostgreSQL. */
interface Row extends Omit<RawEvent, 'data'> {
  json: string;
}

/**
 * The embedded event store for tests and development: the PostgreSQL store's semantics (atomic
 * appends, optimistic concurrency, gap-free positions, snapshots, checkpoints) in this process.
 * Nothing survives a restart. A projection's transaction covers its checkpoint only: the read model
 * is the caller's own objects, so a failed batch is retried on whatever the handler already changed.
 */
export class MemoryEventStore extends EventStore<undefined> {
  private readonly log: Row[] = [];
  private readonly streams = new Map<string, Row[]>();
  private readonly ids = new Set<string>();
  private readonly snapshots = new Map<string, { version: number; json: string }>();
  private readonly checkpoints = new Map<string, number>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly outbox: MemoryEventStoreOptions['outbox'];

  constructor(options: MemoryEventStoreOptions = {}) {
    super(options);
    this.outbox = options.outbox;
  }

  async streamVersion(streamId: string): Promise<number> {
    return this.streams.get(streamId)?.length ?? 0;
  }

  async headPosition(): Promise<number> {
    return this.log.length;
  }

  async checkpoint(name: string): Promise<number> {
    return this.checkpoints.get(name) ?? 0;
  }

  protected write(
    streamId: string,
    events: readonly EncodedEvent[],
    expected: ExpectedVersion,
    transaction: undefined,
  ): Promise<AppendResult> {
    if (transaction !== undefined) {
      throw new EventportError('UNSUPPORTED', 'the memory event store has no caller transactions');
    }
    // One append at a time, as PostgreSQL's append lock does: the outbox write is the only await.
    return this.exclusive('append', async () => {
      const stream = this.streams.get(streamId) ?? [];
      checkExpectedVersion(streamId, expected, stream.length);
      const batchIds = new Set<string>();
      for (const event of events) {
        if (this.ids.has(event.id) || batchIds.has(event.id)) {
          throw new EventportError('ALREADY_EXISTS', `an event with id "${event.id}" already exists`);
        }
        batchIds.add(event.id);
      }
      const stored = events.map((event, index) =>
        this.codec.stored(event, streamId, stream.length + index + 1, this.log.length + index + 1),
      );
      const outbox = this.outbox;
      if (outbox && stored.length > 0) {
        // Throws before anything is kept here, and the outbox keeps nothing of a transaction that threw.
        await outbox.store.transaction(async (tx) => {
          for (const event of stored) await outbox.store.add(tx, toPublishInput(event, outbox));
        });
      }
      stored.forEach((event, index) => {
        const { data: _data, ...row } = event;
        // Copies: the caller owns what append() returned.
        const kept: Row = {
          ...row,
          metadata: { ...row.metadata },
          occurredAt: new Date(row.occurredAt),
          json: (events[index] as EncodedEvent).json,
        };
        this.log.push(kept);
        stream.push(kept);
        this.ids.add(event.id);
      });
      if (stream.length > 0) this.streams.set(streamId, stream);
      return { streamId, version: stream.length, events: stored };
    });
  }

  protected async readStreamPage(streamId: string, range: StreamRange, limit: number): Promise<RawEvent[]> {
    const stream = this.streams.get(streamId) ?? [];
    const low = range.fromVersion - 1;
    const high = Math.min(range.toVersion, stream.length);
    const slice =
      range.direction === 'forward'
        ? stream.slice(low, Math.min(high, low + limit))
        : stream.slice(Math.max(low, high - limit), high).reverse();
    return slice.map(toRaw);
  }

  protected async readAllPage(filter: ReadAllFilter, fromPosition: number, limit: number): Promise<RawEvent[]> {
    const page: RawEvent[] = [];
    for (let index = fromPosition - 1; index < this.log.length && page.length < limit; index++) {
      const row = this.log[index] as Row;
      if (filter.types && !filter.types.includes(row.type)) continue;
      if (filter.since && row.occurredAt < filter.since) continue;
      if (filter.until && row.occurredAt > filter.until) continue;
      if (filter.correlationId !== undefined && row.metadata['correlation-id'] !== filter.correlationId) continue;
      page.push(toRaw(row));
    }
    return page;
  }

  protected async readSnapshot(key: SnapshotKey): Promise<{ version: number; state: unknown } | undefined> {
    const snapshot = this.snapshots.get(snapshotKey(key));
    return snapshot && { version: snapshot.version, state: JSON.parse(snapshot.json) };
  }

  protected async writeSnapshot(key: SnapshotKey, version: number, stateJson: string): Promise<void> {
    const current = this.snapshots.get(snapshotKey(key));
    if (!current || current.version < version) this.snapshots.set(snapshotKey(key), { version, json: stateJson });
  }

  protected withCheckpoint(
    name: string,
    work: (checkpoint: number, tx: undefined) => Promise<number>,
  ): Promise<number> {
    return this.exclusive(`projection:${name}`, async () => {
      const position = await work(this.checkpoints.get(name) ?? 0, undefined);
      this.checkpoints.set(name, position);
      return position;
    });
  }

  protected resetCheckpoint(name: string, reset: (tx: undefined) => Promise<void> | void): Promise<void> {
    return this.exclusive(`projection:${name}`, async () => {
      await reset(undefined);
      this.checkpoints.set(name, 0);
    });
  }

  /** Runs `work` after every earlier work under the same lock name has settled. */
  private exclusive<R>(lock: string, work: () => Promise<R>): Promise<R> {
    const previous = this.locks.get(lock) ?? Promise.resolve();
    const result = previous.then(work, work);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(lock, settled);
    // Forget the lock once idle, so one-off names (projections) do not pile up.
    void settled.then(() => {
      if (this.locks.get(lock) === settled) this.locks.delete(lock);
    });
    return result;
  }
}

function toRaw(row: Row): RawEvent {
  const { json, ...rest } = row;
  return { ...rest, metadata: { ...rest.metadata }, occurredAt: new Date(rest.occurredAt), data: JSON.parse(json) };
}

function snapshotKey(key: SnapshotKey): string {
  return JSON.stringify([key.streamId, key.name, key.schemaVersion]);
}
