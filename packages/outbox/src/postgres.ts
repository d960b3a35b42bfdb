import { createHash } from 'node:crypto';
import { type Codec, describeError, EventportError } from '@eventport/core';
import type { ClientBase, Pool, PoolClient } from 'pg';
import { encodeEvent, type OutboxEntry, type OutboxMessage, type OutboxRecord, type OutboxStore } from './store.js';

/** A pg client (inside the caller's BEGIN ... COMMIT) or anything else with its query(). */
export type PgQueryable = Pick<ClientBase, 'query'>;

export interface PostgresOutboxOptions {
  /** The pool the relay uses; add() uses the caller's own transaction client instead. */
  pool: Pool;
  /** Table name, optionally schema-qualified ("app.outbox"). Default "eventport_outbox". */
  table?: string;
  /** Encodes `data` on add(); the relay decodes with the same content type. Default JSON (Buffers as raw bytes). */
  codec?: Codec;
}

interface OutboxRow {
  seq: string;
  id: string;
  topic: string;
  key: string | null;
  headers: Record<string, string>;
  payload: Buffer;
  content_type: string;
  created_at: Date;
  attempts: number;
  published_at?: Date | null;
  last_error?: string | null;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const SELECT_COLUMNS = 'seq, id, topic, key, headers, payload, content_type, created_at, attempts';
const CLEANUP_CHUNK = 5_000;

/** A validated table name and the SQL names derived from it. */
export interface OutboxTableNames {
  /** Quoted, schema-qualified when a schema was given. */
  table: string;
  schema?: string;
  /** Unquoted base name, for derived object names. */
  base: string;
  /** LISTEN/NOTIFY channel the insert trigger signals. */
  channel: string;
}

export function outboxTableNames(table = 'eventport_outbox'): OutboxTableNames {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `outbox table must be "name" or "schema.name" of letters, digits and "_" (got "${table}")`,
    );
  }
  const base = parts[parts.length - 1] as string;
  const names: OutboxTableNames = {
    table: parts.map(quote).join('.'),
    base,
    channel: `eventport_outbox_${createHash('sha256').update(table).digest('hex').slice(0, 16)}`,
  };
  if (parts.length === 2) names.schema = parts[0] as string;
  return names;
}

/**
 * Creates the outbox table, its indexes and the insert trigger that wakes listening relays.
 * Idempotent and safe to run from several processes at once (serialised by an advisory lock).
 */
export async function migrateOutbox(pool: Pool, table?: string): Promise<void> {
  const names = outboxTableNames(table);
  const qualified = (name: string) => (names.schema ? `${quote(names.schema)}.${quote(name)}` : quote(name));
  const notifyFunction = qualified(`${names.base}_notify`);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('eventport-outbox-migrate'))`);
    if (names.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quote(names.schema)}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${names.table} (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        topic text NOT NULL,
        key text,
        headers jsonb NOT NULL DEFAULT '{}'::jsonb,
        payload bytea NOT NULL,
        content_type text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        last_error text
      )`);
    await client.query(
      `CREATE INDEX IF NOT EXISTS ${quote(`${names.base}_pending`)} ON ${names.table} (seq) WHERE published_at IS NULL`,
    );
    await client.query(
      `CREATE INDEX IF NOT EXISTS ${quote(`${names.base}_published`)} ON ${names.table} (published_at) WHERE published_at IS NOT NULL`,
    );
    await client.query(`
      CREATE OR REPLACE FUNCTION ${notifyFunction}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${names.channel}', '');
        RETURN NULL;
      END $$`);
    await client.query(`DROP TRIGGER IF EXISTS ${quote(`${names.base}_notify`)} ON ${names.table}`);
    await client.query(
      `CREATE TRIGGER ${quote(`${names.base}_notify`)} AFTER INSERT ON ${names.table} FOR EACH STATEMENT EXECUTE FUNCTION ${notifyFunction}()`,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new EventportError('INTERNAL', `outbox migration of ${names.table} failed: ${describeError(error)}`, {
      cause: error,
    });
  } finally {
    client.release();
  }
}

/**
 * The outbox in PostgreSQL. add() writes through the caller's transaction client, so the business
 * write and the event commit or roll back together; processBatch() claims rows with
 * `FOR UPDATE SKIP LOCKED`, so any number of relays can run without publishing a row twice.
 */
export class PostgresOutboxStore implements OutboxStore<PgQueryable> {
  readonly names: OutboxTableNames;
  private readonly pool: Pool;
  private readonly table: string | undefined;
  private readonly codec: Codec | undefined;

  constructor(options: PostgresOutboxOptions) {
    if (!options?.pool)
      throw new EventportError('INVALID_ARGUMENT', 'PostgresOutboxStore needs a pg Pool (options.pool)');
    this.pool = options.pool;
    this.names = outboxTableNames(options.table);
    this.table = options.table;
    this.codec = options.codec;
  }

  /** Creates the table if missing (see migrateOutbox). */
  migrate(): Promise<void> {
    return migrateOutbox(this.pool, this.table);
  }

  async add(tx: PgQueryable, message: OutboxMessage): Promise<string> {
    const event = encodeEvent(message, this.codec);
    try {
      await tx.query(
        `INSERT INTO ${this.names.table} (id, topic, key, headers, payload, content_type) VALUES ($1, $2, $3, $4, $5, $6)`,
        [event.id, event.topic, event.key ?? null, JSON.stringify(event.headers), event.payload, event.contentType],
      );
    } catch (error) {
      const duplicate = (error as { code?: string }).code === '23505';
      throw new EventportError(
        duplicate ? 'ALREADY_EXISTS' : 'INTERNAL',
        duplicate
          ? `an outbox event with id "${event.id}" already exists`
          : `cannot write to ${this.names.table}: ${describeError(error)}`,
        { cause: error },
      );
    }
    return event.id;
  }

  async processBatch(limit: number, publish: (records: readonly OutboxRecord[]) => Promise<void>): Promise<number> {
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxRow>(
        `SELECT ${SELECT_COLUMNS} FROM ${this.names.table} WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const seqs = rows.map((row) => row.seq);
      try {
        await publish(rows.map(toRecord));
      } catch (error) {
        await client.query(
          `UPDATE ${this.names.table} SET attempts = attempts + 1, last_error = $2 WHERE seq = ANY($1::bigint[])`,
          [seqs, describeError(error).slice(0, 2_000)],
        );
        await client.query('COMMIT');
        throw error;
      }
      // A crash before this commit leaves the rows unpublished: they are published again (at-least-once).
      await client.query(
        `UPDATE ${this.names.table} SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE seq = ANY($1::bigint[])`,
        [seqs],
      );
      await client.query('COMMIT');
      return rows.length;
    } catch (error) {
      broken = await rollback(client, error);
      throw error;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async deletePublished(before: Date): Promise<number> {
    let deleted = 0;
    while (true) {
      // In chunks, so a large backlog never holds one long lock.
      const result = await this.pool.query(
        `DELETE FROM ${this.names.table} WHERE seq IN (
           SELECT seq FROM ${this.names.table} WHERE published_at < $1 ORDER BY published_at LIMIT ${CLEANUP_CHUNK}
           FOR UPDATE SKIP LOCKED)`,
        [before],
      );
      deleted += result.rowCount ?? 0;
      if ((result.rowCount ?? 0) < CLEANUP_CHUNK) return deleted;
    }
  }

  async countPending(): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${this.names.table} WHERE published_at IS NULL`,
    );
    return Number(rows[0]?.count ?? 0);
  }

  async get(id: string): Promise<OutboxEntry | undefined> {
    const { rows } = await this.pool.query<OutboxRow>(
      `SELECT ${SELECT_COLUMNS}, published_at, last_error FROM ${this.names.table} WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    const entry: OutboxEntry = toRecord(row);
    if (row.published_at) entry.publishedAt = row.published_at;
    if (row.last_error) entry.lastError = row.last_error;
    return entry;
  }

  /** LISTEN on a dedicated pool connection (held until the returned stop function runs). */
  async watch(onChange: () => void, onError: (error: unknown) => void): Promise<() => Promise<void>> {
    if ((this.pool.options?.max ?? 10) < 2) {
      // The listening connection would be the pool's only one and every batch would wait for it forever.
      throw new EventportError(
        'INVALID_ARGUMENT',
        'LISTEN needs a pool connection of its own: give the pool max >= 2, or the relay listen: false',
      );
    }
    const client = await this.pool.connect();
    let released = false;
    const release = (error?: Error) => {
      if (released) return;
      released = true;
      client.removeListener('notification', onNotification);
      client.release(error);
    };
    const onNotification = (notification: { channel: string }) => {
      if (notification.channel === this.names.channel) onChange();
    };
    client.on('notification', onNotification);
    client.once('error', (error) => {
      release(error);
      onError(error);
    });
    try {
      await client.query(`LISTEN ${quote(this.names.channel)}`);
    } catch (error) {
      release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    return async () => {
      if (released) return;
      await client.query(`UNLISTEN ${quote(this.names.channel)}`).catch(() => undefined);
      release();
    };
  }
}

function toRecord(row: OutboxRow): OutboxRecord {
  const record: OutboxRecord = {
    id: row.id,
    topic: row.topic,
    headers: row.headers,
    payload: row.payload,
    contentType: row.content_type,
    createdAt: row.created_at,
    attempts: row.attempts,
  };
  if (row.key !== null) record.key = row.key;
  return record;
}

/** Rolls back; a connection that cannot even do that is returned as the error so the pool drops it. */
async function rollback(client: PoolClient, cause: unknown): Promise<unknown> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch {
    return cause instanceof Error ? cause : new Error(String(cause));
  }
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
