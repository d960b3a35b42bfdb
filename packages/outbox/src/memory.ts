import { type Codec, describeError, EventportError } from '@eventport/core';
import {
  type EncodedEvent,
  encodeEvent,
  type OutboxEntry,
  type OutboxMessage,
  type OutboxRecord,
  type OutboxStore,
} from './store.js';

interface Row extends OutboxEntry {
  locked: boolean;
}

/** A unit of work against a MemoryOutboxStore: its events appear only when it commits. */
export class MemoryOutboxTransaction {
  /** @internal */
  readonly staged: EncodedEvent[] = [];
  /** @internal */
  state: 'open' | 'committed' | 'rolled back' = 'open';
}

export interface MemoryOutboxStoreOptions {
  codec?: Codec;
}

/**
 * The embedded outbox for development and tests: same contract as the PostgreSQL store, kept in
 * this process (nothing survives a restart). Use `transaction()` to group business writes and events.
 */
export class MemoryOutboxStore implements OutboxStore<MemoryOutboxTransaction> {
  private readonly rows: Row[] = [];
  private readonly ids = new Set<string>();
  private readonly watchers = new Set<() => void>();
  private readonly codec: Codec | undefined;

  constructor(options: MemoryOutboxStoreOptions = {}) {
    this.codec = options.codec;
  }

  /** Runs `work`, then commits its events if it resolved, or discards them if it threw. */
  async transaction<R>(work: (tx: MemoryOutboxTransaction) => Promise<R> | R): Promise<R> {
    const tx = new MemoryOutboxTransaction();
    let result: R;
    try {
      result = await work(tx);
    } catch (error) {
      tx.state = 'rolled back';
      throw error;
    }
    this.commit(tx);
    return result;
  }

  async add(tx: MemoryOutboxTransaction, message: OutboxMessage): Promise<string> {
    if (tx.state !== 'open') {
      throw new EventportError('CLOSED', `cannot add to an outbox transaction that was already ${tx.state}`);
    }
    const event = encodeEvent(message, this.codec);
    if (this.ids.has(event.id) || tx.staged.some((staged) => staged.id === event.id)) {
      throw new EventportError('ALREADY_EXISTS', `an outbox event with id "${event.id}" already exists`);
    }
    tx.staged.push(event);
    return event.id;
  }

  async processBatch(limit: number, publish: (records: readonly OutboxRecord[]) => Promise<void>): Promise<number> {
    const batch: Row[] = [];
    for (const row of this.rows) {
      if (batch.length >= limit) break;
      if (row.publishedAt === undefined && !row.locked) batch.push(row);
    }
    if (batch.length === 0) return 0;
    for (const row of batch) row.locked = true;
    try {
      await publish(batch.map(toRecord));
      const now = new Date();
      for (const row of batch) {
        row.publishedAt = now;
        row.attempts++;
        delete row.lastError;
      }
    } catch (error) {
      for (const row of batch) {
        row.attempts++;
        row.lastError = describeError(error);
      }
      throw error;
    } finally {
      for (const row of batch) row.locked = false;
    }
    return batch.length;
  }

  async deletePublished(before: Date): Promise<number> {
    let deleted = 0;
    for (let index = this.rows.length - 1; index >= 0; index--) {
      const row = this.rows[index] as Row;
      if (row.publishedAt !== undefined && row.publishedAt < before && !row.locked) {
        this.rows.splice(index, 1);
        this.ids.delete(row.id);
        deleted++;
      }
    }
    return deleted;
  }

  async countPending(): Promise<number> {
    return this.rows.filter((row) => row.publishedAt === undefined).length;
  }

  async get(id: string): Promise<OutboxEntry | undefined> {
    const row = this.rows.find((candidate) => candidate.id === id);
    if (!row) return undefined;
    const { locked: _locked, ...entry } = row;
    return { ...entry, headers: { ...entry.headers } };
  }

  async watch(onChange: () => void): Promise<() => Promise<void>> {
    this.watchers.add(onChange);
    return async () => {
      this.watchers.delete(onChange);
    };
  }

  private commit(tx: MemoryOutboxTransaction): void {
    tx.state = 'committed';
    const createdAt = new Date();
    for (const event of tx.staged) {
      this.rows.push({ ...event, createdAt, attempts: 0, locked: false });
      this.ids.add(event.id);
    }
    if (tx.staged.length > 0) for (const watcher of this.watchers) watcher();
  }
}

function toRecord(row: Row): OutboxRecord {
  const record: OutboxRecord = {
    id: row.id,
    topic: row.topic,
    headers: { ...row.headers },
    payload: row.payload,
    contentType: row.contentType,
    createdAt: row.createdAt,
    attempts: row.attempts,
  };
  if (row.key !== undefined) record.key = row.key;
  return record;
}
