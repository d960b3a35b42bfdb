import type { EventAdapter, Headers } from '@eventport/core';

/**
 * What the stream must look like for an append to go ahead: exactly this version (0 = no events
 * yet), `'no-stream'` (no events yet), `'exists'` (at least one event) or `'any'` (no check).
 */
export type ExpectedVersion = number | 'no-stream' | 'exists' | 'any';

/** An event as the caller hands it to append(). */
export interface NewEvent<T = unknown> {
  type: string;
  /** JSON data (it is stored as jsonb, so it comes back as what JSON.parse(JSON.stringify(data)) gives). */
  data: T;
  /** Unique in the store; the message id on replay and in the outbox. Default: a new UUID. */
  id?: string;
  /** Extra headers. correlation-id and causation-id are filled in from the message being handled. */
  metadata?: Headers;
  /** Default: now. */
  occurredAt?: Date;
}

/** An event as it was committed. */
export interface StoredEvent<T = unknown> {
  id: string;
  streamId: string;
  /** 1 for the first event of the stream, then consecutive. */
  version: number;
  /** Global order of commit: 1, 2, 3... across all streams, never reused, no gaps. */
  position: number;
  type: string;
  /** For a registered versioned type: upcast to the latest version. */
  data: T;
  /** correlation-id, causation-id, event-version (for registered types) and the caller's own headers. */
  metadata: Headers;
  occurredAt: Date;
}

export interface AppendOptions<Tx = never> {
  /** Default `'any'`. */
  expectedVersion?: ExpectedVersion;
  /**
   * Append inside the caller's open transaction (PostgreSQL: a client after BEGIN) so business
   * writes and events commit together. The store then neither begins nor commits.
   */
  transaction?: Tx;
}

export interface AppendResult {
  streamId: string;
  /** The stream's version after the append: the expectedVersion for the next one. */
  version: number;
  events: StoredEvent[];
}

export interface ReadStreamOptions {
  /** Lowest version to read, inclusive. Default 1. */
  fromVersion?: number;
  /** Highest version to read, inclusive. Default: the last. */
  toVersion?: number;
  /** `'backward'` yields the same range newest first. Default `'forward'`. */
  direction?: 'forward' | 'backward';
  /** Events fetched per query while iterating. Default: the store's pageSize. */
  pageSize?: number;
}

export interface ReadAllOptions {
  /** First position to read, inclusive. Default 1. */
  fromPosition?: number;
  /** Only these event types. */
  types?: readonly string[];
  /** Only events that occurred at or after this time. */
  since?: Date;
  /** Only events that occurred at or before this time. */
  until?: Date;
  correlationId?: string;
  /** Stop after this many events. */
  limit?: number;
  /** Events fetched per query while iterating. Default: the store's pageSize. */
  pageSize?: number;
}

export type Evolve<S, E extends StoredEvent = StoredEvent> = (state: S, event: E) => S;

export interface LoadOptions {
  /** Write a snapshot when at least this many events were folded on top of the last one. Off by default. */
  snapshotEvery?: number;
  /** Version of the state's shape. A snapshot written under another version is ignored. Default 1. */
  schemaVersion?: number;
  /** Tells apart snapshots of different folds of the same stream. Default "default". */
  snapshotName?: string;
}

export interface LoadedState<S> {
  state: S;
  /** The stream version the state reflects (0: no events): the expectedVersion for the next append. */
  version: number;
  /** Version of the snapshot the fold started from (0: none was used). */
  snapshotVersion: number;
}

/** Time travel: the state after a given version, or after the events that occurred by a given time. */
export type StateAt = { version: number } | { time: Date };

/** Where a stored event is published: the topic (default: its type) and key (default: its stream id). */
export interface EventRouting {
  topic?: string | ((event: StoredEvent) => string);
  key?: (event: StoredEvent) => string | undefined;
}

/** A message as @eventport/outbox's add() takes it (any object with this add() will do). */
export interface OutboxMessageInput {
  topic: string;
  data: unknown;
  key?: string;
  headers?: Headers;
  id?: string;
}

export interface OutboxWriter<Tx> {
  add(tx: Tx, message: OutboxMessageInput): Promise<string>;
}

export interface ReplayProgress {
  published: number;
  /** Global position of the last event published. */
  position: number;
}

export interface ReplayOptions extends EventRouting {
  /** Any adapter (or decorated adapter). */
  to: Pick<EventAdapter, 'publish' | 'publishBatch'>;
  /** Only this stream. */
  streamId?: string;
  /** Only events that occurred at or after / at or before these times. */
  since?: Date;
  until?: Date;
  types?: readonly string[];
  /**
   * Keep the original timing between events, this many times faster (1: real time, 60: an hour in a
   * minute). Default: as fast as the broker takes them.
   */
  speed?: number;
  /** Called every 100 events and once at the end. */
  onProgress?: (progress: ReplayProgress) => void;
  signal?: AbortSignal;
}

export interface ReplayResult {
  published: number;
  /** Global position of the last event published (0: none). */
  position: number;
}
