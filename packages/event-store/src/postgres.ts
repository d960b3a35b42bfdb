import { describeError, EventportError, type Headers } from '@eventport/core';
import type { ClientBase, Pool, PoolClient, QueryResultRow } from 'pg';
import type { EncodedEvent, RawEvent } from './encoding.js';
import { ConcurrencyError, checkExpectedVersion } from './errors.js';
import {
  EventStore,
  type EventStoreOptions,
  type ReadAllFilter,
  type SnapshotKey,
  type StreamRange,
} from './event-store.js';
import { toPublishInput } from './publishing.js';
import type { AppendResult, EventRouting, ExpectedVersion, OutboxWriter } from './types.js';

/** A pg client (inside BEGIN ... COMMIT) or anything else with its query(). */
export type PgQueryable = Pick<ClientBase, 'query'>;

export interface PostgresEventStoreOptions extends EventStoreOptions {
  pool: Pool;
  /** Schema of the store's tables (migrate() creates it). Default "eventport". */
  schema?: string;
  /**
   * Every append also adds its events to this outbox (e.g. @eventport/outbox's PostgresOutboxStore
   * on the same database) in the append's transaction: the relay publishes exactly what was committed.
   */
  outbox?: EventRouting & { store: OutboxWriter<PgQueryable> };
}

/** The quoted, schema-qualified names of the store's tables. */
export interface EventStoreTables {
  schema: string;
  events: string;
  streams: string;
  snapshots: string;
  checkpoints: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const EVENT_COLUMNS = 'position, id, stream_id, version, type, data, metadata, occurred_at';
// pg error classes that mean the connection, not the statement, failed.
const CONNECTION_ERRORS = /^(08|57P0[1-3]|53300|E[A-Z]+$)/;

interface EventRow {
  position: string;
  id: string;
  stream_id: string;
  version: string;
  type: string;
  data: unknown;
  metadata: Headers;
  occurred_at: Date;
}

export function eventStoreTables(schema = 'eventport'): EventStoreTables {
  if (!IDENTIFIER.test(schema)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `event store schema must be letters, digits and "_", not starting with a digit (got "${schema}")`,
    );
  }
  const qualified = (table: string) => `${quote(schema)}.${quote(table)}`;
  return {
    schema: quote(schema),
    events: qualified('events'),
    streams: qualified('streams'),
    snapshots: qualified('snapshots'),
    checkpoints: qualified('checkpoints'),
  };
}

/**
 * Creates the schema, tables and indexes if missing. Idempotent and safe to run from several
 * processes at once (serialised by an advisory lock).
 */
export async function migrateEventStore(pool: Pool, schema?: string): Promise<void> {
  const t = eventStoreTables(schema);
  const client = await connect(pool);
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('eventport-event-store-migrate'))`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t.streams} (
        stream_id text PRIMARY KEY,
        version bigint NOT NULL CHECK (version > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t.events} (
        position bigint PRIMARY KEY CHECK (position > 0),
        id text NOT NULL UNIQUE,
        stream_id text NOT NULL,
        version bigint NOT NULL CHECK (version > 0),
        type text NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        correlation_id text,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT events_stream_version UNIQUE (stream_id, version)
      )`);
    await client.query(`CREATE INDEX IF NOT EXISTS events_type_position ON ${t.events} (type, position)`);
    await client.query(
      `CREATE INDEX IF NOT EXISTS events_correlation_position ON ${t.events} (correlation_id, position)`,
    );
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t.snapshots} (
        stream_id text NOT NULL,
        name text NOT NULL,
        schema_version integer NOT NULL,
        version bigint NOT NULL,
        state jsonb NOT NULL,
        taken_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stream_id, name, schema_version)
      )`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t.checkpoints} (
        name text PRIMARY KEY,
        position bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new EventportError('INTERNAL', `event store migration of ${t.schema} failed: ${describeError(error)}`, {
      cause: error,
    });
  } finally {
    client.release();
  }
}

/**
 * The event store in PostgreSQL. Appends queue on one transaction-level advisory lock per store
 * until they commit, so positions are handed out in commit order with no gaps, and a reader that
 * continues after the last position it saw can never skip an event that commits later.
 */
export class PostgresEventStore extends EventStore<PgQueryable> {
  /** The schema of the store's tables, unquoted. */
  readonly schema: string;
  readonly tables: EventStoreTables;
  private readonly pool: Pool;
  private readonly lockName: string;
  private readonly outbox: PostgresEventStoreOptions['outbox'];

  constructor(options: PostgresEventStoreOptions) {
    if (!options?.pool) {
      throw new EventportError('INVALID_ARGUMENT', 'PostgresEventStore needs a pg Pool (options.pool)');
    }
    super(options);
    this.pool = options.pool;
    this.tables = eventStoreTables(options.schema);
    this.schema = options.schema ?? 'eventport';
    this.lockName = `eventport-event-store:${this.tables.schema}`;
    this.outbox = options.outbox;
  }

  /** Creates the tables if missing (see migrateEventStore). */
  migrate(): Promise<void> {
    return migrateEventStore(this.pool, this.schema);
  }

  async streamVersion(streamId: string, on: PgQueryable = this.pool): Promise<number> {
    const { rows } = await this.query<{ version: string }>(
      on,
      `SELECT version FROM ${this.tables.streams} WHERE stream_id = $1`,
      [streamId],
    );
    return Number(rows[0]?.version ?? 0);
  }

  async headPosition(on: PgQueryable = this.pool): Promise<number> {
    const { rows } = await this.query<{ head: string }>(
      on,
      `SELECT coalesce(max(position), 0) AS head FROM ${this.tables.events}`,
    );
    return Number(rows[0]?.head ?? 0);
  }

  async checkpoint(name: string): Promise<number> {
    const { rows } = await this.query<{ position: string }>(
      this.pool,
      `SELECT position FROM ${this.tables.checkpoints} WHERE name = $1`,
      [name],
    );
    return Number(rows[0]?.position ?? 0);
  }

  protected write(
    streamId: string,
    events: readonly EncodedEvent[],
    expected: ExpectedVersion,
    transaction: PgQueryable | undefined,
  ): Promise<AppendResult> {
    if (transaction) return this.writeIn(transaction, streamId, events, expected);
    return this.inTransaction((client) => this.writeIn(client, streamId, events, expected));
  }

  private async writeIn(
    client: PgQueryable,
    streamId: string,
    events: readonly EncodedEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    const t = this.tables;
    // Held until commit or rollback: appends commit one after the other, in position order.
    await this.query(client, 'SELECT pg_advisory_xact_lock(hashtext($1))', [this.lockName]);
    // A statement after the lock, so (in READ COMMITTED) it sees the previous holder's commit.
    const { rows } = await this.query<{ version: string | null; head: string }>(
      client,
      `SELECT (SELECT version FROM ${t.streams} WHERE stream_id = $1) AS version,
              (SELECT coalesce(max(position), 0) FROM ${t.events}) AS head`,
      [streamId],
    );
    const actual = Number(rows[0]?.version ?? 0);
    const head = Number(rows[0]?.head ?? 0);
    checkExpectedVersion(streamId, expected, actual);
    if (events.length === 0) return { streamId, version: actual, events: [] };

    const version = actual + events.length;
    // The version condition is the optimistic check once more, for writers that bypass the lock.
    const moved = await this.query(
      client,
      `INSERT INTO ${t.streams} (stream_id, version) VALUES ($1, $2)
       ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, updated_at = now()
       WHERE ${t.streams}.version = $3`,
      [streamId, version, actual],
    );
    if (moved.rowCount !== 1) {
      throw new ConcurrencyError(streamId, expected, await this.streamVersion(streamId, client));
    }
    const stored = events.map((event, index) =>
      this.codec.stored(event, streamId, actual + index + 1, head + index + 1),
    );
    await this.query(
      client,
      `INSERT INTO ${t.events} (position, id, stream_id, version, type, data, metadata, correlation_id, occurred_at)
       SELECT position, id, $1, version, type, data, metadata, correlation_id, occurred_at
       FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[],
                   $9::timestamptz[])
         AS e(position, id, version, type, data, metadata, correlation_id, occurred_at)`,
      [
        streamId,
        stored.map((event) => event.position),
        events.map((event) => event.id),
        stored.map((event) => event.version),
        events.map((event) => event.type),
        events.map((event) => event.json),
        events.map((event) => JSON.stringify(event.metadata)),
        events.map((event) => event.correlationId),
        events.map((event) => event.occurredAt),
      ],
      (error) => this.insertError(error, streamId, expected, actual),
    );
    const outbox = this.outbox;
    if (outbox) for (const event of stored) await outbox.store.add(client, toPublishInput(event, outbox));
    return { streamId, version, events: stored };
  }

  protected async readStreamPage(streamId: string, range: StreamRange, limit: number): Promise<RawEvent[]> {
    const { rows } = await this.query<EventRow>(
      this.pool,
      `SELECT ${EVENT_COLUMNS} FROM ${this.tables.events}
       WHERE stream_id = $1 AND version BETWEEN $2 AND $3
       ORDER BY version ${range.direction === 'forward' ? 'ASC' : 'DESC'} LIMIT $4`,
      [streamId, range.fromVersion, range.toVersion, limit],
    );
    return rows.map(toRaw);
  }

  protected async readAllPage(
    filter: ReadAllFilter,
    fromPosition: number,
    limit: number,
    on: PgQueryable = this.pool,
  ): Promise<RawEvent[]> {
    const values: unknown[] = [fromPosition];
    const conditions = ['position >= $1'];
    const where = (condition: (parameter: string) => string, value: unknown) => {
      values.push(value);
      conditions.push(condition(`$${values.length}`));
    };
    if (filter.types) where((p) => `type = ANY(${p}::text[])`, filter.types);
    if (filter.since) where((p) => `occurred_at >= ${p}`, filter.since);
    if (filter.until) where((p) => `occurred_at <= ${p}`, filter.until);
    if (filter.correlationId !== undefined) where((p) => `correlation_id = ${p}`, filter.correlationId);
    values.push(limit);
    const { rows } = await this.query<EventRow>(
      on,
      `SELECT ${EVENT_COLUMNS} FROM ${this.tables.events}
       WHERE ${conditions.join(' AND ')} ORDER BY position LIMIT $${values.length}`,
      values,
    );
    return rows.map(toRaw);
  }

  protected async readSnapshot(key: SnapshotKey): Promise<{ version: number; state: unknown } | undefined> {
    const { rows } = await this.query<{ version: string; state: unknown }>(
      this.pool,
      `SELECT version, state FROM ${this.tables.snapshots} WHERE stream_id = $1 AND name = $2 AND schema_version = $3`,
      [key.streamId, key.name, key.schemaVersion],
    );
    const row = rows[0];
    return row && { version: Number(row.version), state: row.state };
  }

  protected async writeSnapshot(key: SnapshotKey, version: number, stateJson: string): Promise<void> {
    const t = this.tables;
    await this.query(
      this.pool,
      `INSERT INTO ${t.snapshots} (stream_id, name, schema_version, version, state) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (stream_id, name, schema_version)
       DO UPDATE SET version = excluded.version, state = excluded.state, taken_at = now()
       WHERE ${t.snapshots}.version < excluded.version`,
      [key.streamId, key.name, key.schemaVersion, version, stateJson],
    );
  }

  protected withCheckpoint(
    name: string,
    work: (checkpoint: number, tx: PgQueryable) => Promise<number>,
  ): Promise<number> {
    return this.inTransaction(async (client) => {
      const checkpoint = await this.lockCheckpoint(client, name);
      const position = await work(checkpoint, client);
      if (position !== checkpoint) await this.moveCheckpoint(client, name, position);
      return position;
    });
  }

  protected resetCheckpoint(name: string, reset: (tx: PgQueryable) => Promise<void> | void): Promise<void> {
    return this.inTransaction(async (client) => {
      await this.lockCheckpoint(client, name);
      await reset(client);
      await this.moveCheckpoint(client, name, 0);
    });
  }

  /** Creates the checkpoint if new and locks it: one batch of a projection at a time, across processes. */
  private async lockCheckpoint(client: PgQueryable, name: string): Promise<number> {
    const t = this.tables;
    await this.query(client, `INSERT INTO ${t.checkpoints} (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, [name]);
    const { rows } = await this.query<{ position: string }>(
      client,
      `SELECT position FROM ${t.checkpoints} WHERE name = $1 FOR UPDATE`,
      [name],
    );
    return Number(rows[0]?.position ?? 0);
  }

  private async moveCheckpoint(client: PgQueryable, name: string, position: number): Promise<void> {
    await this.query(
      client,
      `UPDATE ${this.tables.checkpoints} SET position = $2, updated_at = now() WHERE name = $1`,
      [name, position],
    );
  }

  /** BEGIN, work, COMMIT; ROLLBACK if work throws (its error is rethrown as it was). */
  private async inTransaction<R>(work: (client: PoolClient) => Promise<R>): Promise<R> {
    const client = await connect(this.pool);
    let broken: Error | undefined;
    try {
      await this.query(client, 'BEGIN');
      const result = await work(client);
      await this.query(client, 'COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        // A connection that cannot even roll back is handed back as broken, so the pool drops it.
        broken = error instanceof Error ? error : new Error(String(error));
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** One of the store's own statements; pg errors become EventportErrors (`mapError` may pick another). */
  private async query<R extends QueryResultRow = QueryResultRow>(
    on: PgQueryable,
    text: string,
    values?: unknown[],
    mapError?: (error: unknown) => EventportError | undefined,
  ) {
    try {
      return await on.query<R>(text, values);
    } catch (error) {
      throw mapError?.(error) ?? pgError(error, `event store query failed (${this.tables.schema})`);
    }
  }

  private insertError(error: unknown, streamId: string, expected: ExpectedVersion, actual: number) {
    const { code, constraint } = error as { code?: string; constraint?: string };
    if (code !== '23505') return undefined;
    if (constraint === 'events_id_key') {
      return new EventportError('ALREADY_EXISTS', `an event of this append already exists (${describeError(error)})`, {
        cause: error,
      });
    }
    if (constraint === 'events_stream_version') return new ConcurrencyError(streamId, expected, actual + 1);
    return new EventportError(
      'INTERNAL',
      `append saw a stale position: run appends in READ COMMITTED transactions (${describeError(error)})`,
      { cause: error },
    );
  }
}

async function connect(pool: Pool): Promise<PoolClient> {
  try {
    return await pool.connect();
  } catch (error) {
    throw pgError(error, 'cannot connect to PostgreSQL for the event store');
  }
}

function pgError(error: unknown, context: string): EventportError {
  if (error instanceof EventportError) return error;
  const code = (error as { code?: string }).code ?? '';
  return new EventportError(
    CONNECTION_ERRORS.test(code) ? 'CONNECTION' : 'INTERNAL',
    `${context}: ${describeError(error)}`,
    {
      cause: error,
    },
  );
}

function toRaw(row: EventRow): RawEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    version: Number(row.version),
    position: Number(row.position),
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    occurredAt: row.occurred_at,
  };
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
