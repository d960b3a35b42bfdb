import { randomUUID } from 'node:crypto';
import {
  type Codec,
  correlationHeaders,
  describeError,
  EventportError,
  type Headers,
  jsonCodec,
  PublishInputSchema,
} from '@eventport/core';

/** What a service writes into the outbox, in the same transaction as its business data. */
export interface OutboxMessage<T = unknown> {
  topic: string;
  data: T;
  key?: string;
  headers?: Headers;
  /** Becomes the published message's id (and dedupe key). Default: a new UUID. Unique per store. */
  id?: string;
}

/** A stored event as the relay publishes it. */
export interface OutboxRecord {
  id: string;
  topic: string;
  key?: string;
  headers: Headers;
  payload: Buffer;
  contentType: string;
  createdAt: Date;
  /** Publish attempts made before this one. */
  attempts: number;
}

/** A stored event with its delivery state, for inspection. */
export interface OutboxEntry extends OutboxRecord {
  publishedAt?: Date;
  lastError?: string;
}

/**
 * Where outbox events live until the relay publishes them. `Tx` is the store's handle on the
 * caller's transaction (a pg client inside BEGIN for PostgreSQL).
 */
export interface OutboxStore<Tx = unknown> {
  /** Writes the event inside `tx`: it exists only if and when `tx` commits. Returns its id. */
  add(tx: Tx, message: OutboxMessage): Promise<string>;
  /**
   * Locks up to `limit` unpublished events (oldest first; events another relay holds are skipped),
   * hands them to `publish`, then marks them published if it resolved, or records the error on them
   * if it threw (and rethrows). Resolves with the number handed over.
   */
  processBatch(limit: number, publish: (records: readonly OutboxRecord[]) => Promise<void>): Promise<number>;
  /** Deletes events published before `before`; resolves with how many. */
  deletePublished(before: Date): Promise<number>;
  countPending(): Promise<number>;
  get(id: string): Promise<OutboxEntry | undefined>;
  /** Calls `onChange` when new events may have been committed; resolves with a stop function. */
  watch?(onChange: () => void, onError: (error: unknown) => void): Promise<() => Promise<void>>;
}

/** A validated, encoded event ready to be stored. */
export interface EncodedEvent {
  id: string;
  topic: string;
  key?: string;
  headers: Headers;
  payload: Buffer;
  contentType: string;
}

/**
 * Validates and encodes before anything is written, so a malformed event fails the caller's
 * transaction at once instead of blocking the relay later. Correlation headers are taken now: the
 * relay publishes outside the handling of whatever message caused this event.
 */
export function encodeEvent(message: OutboxMessage, codec: Codec = jsonCodec): EncodedEvent {
  const parsed = PublishInputSchema.safeParse(message);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new EventportError('INVALID_ARGUMENT', `invalid outbox message: ${where}${issue?.message ?? 'invalid'}`);
  }
  const id = message.id ?? randomUUID();
  let encoded: ReturnType<Codec['encode']>;
  try {
    encoded = codec.encode(message.data);
  } catch (error) {
    throw new EventportError('INVALID_ARGUMENT', `cannot encode outbox data: ${describeError(error)}`, {
      cause: error,
    });
  }
  const event: EncodedEvent = {
    id,
    topic: message.topic,
    headers: correlationHeaders(id, message.headers ?? {}),
    payload: encoded.body,
    contentType: encoded.contentType,
  };
  if (message.key !== undefined) event.key = message.key;
  return event;
}
