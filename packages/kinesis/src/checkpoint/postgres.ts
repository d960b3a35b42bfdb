import { EventportError, redact } from '@eventport/core';
import { type CheckpointScope, importPeer, LeaseTable, type Row } from './store.js';

/**
 * The part of a pg Pool this store calls. Any pg Pool fits it, and because pg is an optional peer, the
 * declarations name this shape instead of pg's types: an app without pg (or without @types/pg) type-checks.
 */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  end(): Promise<void>;
}

export interface PostgresCheckpointStoreOptions {
  /** postgres:// URL; ignored when `pool` is given. */
  url?: string;
  /** A pg Pool to use; the caller keeps ownership (close() does not end it). */
  pool?: PgPoolLike;
  /** Table name (created on first use). Default "eventport_kinesis_checkpoints". */
  table?: string;
}

/**
 * Checkpoints and shard leases in PostgreSQL (pg): one row per stream, group and shard (plus "$group",
 * the start, and "$member:<id>"). The table is created on first use; leases use the database clock.
 */
export class PostgresCheckpointStore extends LeaseTable {
  private readonly table: string;
  private ready: Promise<PgPoolLike> | undefined;

  constructor(private readonly options: PostgresCheckpointStoreOptions) {
    super();
    if (!options.pool && !options.url)
      throw new EventportError('INVALID_CONFIG', 'PostgresCheckpointStore needs a url');
    this.table = options.table ?? 'eventport_kinesis_checkpoints';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.table)) {
      throw new EventportError(
        'INVALID_CONFIG',
        `checkpoint table "${this.table}" must be a lower-case SQL identifier`,
      );
    }
  }

  async startPosition(scope: CheckpointScope, position: string): Promise<string> {
    const { rows } = await this.query<{ checkpoint: string }>(
      `INSERT INTO ${this.table} AS t (stream, consumer_group, shard_id, checkpoint) VALUES ($1, $2, '$group', $3)
       ON CONFLICT (stream, consumer_group, shard_id) DO UPDATE SET checkpoint = t.checkpoint RETURNING checkpoint`,
      [scope.stream, scope.group, position],
    );
    return rows[0]?.checkpoint ?? position;
  }

  async tryLease(scope: CheckpointScope, name: string, owner: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.query(
      `INSERT INTO ${this.table} AS t (stream, consumer_group, shard_id, lease_owner, lease_expires_at)
       VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
       ON CONFLICT (stream, consumer_group, shard_id) DO UPDATE
         SET lease_owner = EXCLUDED.lease_owner, lease_expires_at = EXCLUDED.lease_expires_at
         WHERE t.lease_owner IS NULL OR t.lease_owner = EXCLUDED.lease_owner OR t.lease_expires_at < now()`,
      [scope.stream, scope.group, name, owner, ttlMs],
    );
    return rowCount === 1;
  }

  protected async ifOwner(scope: CheckpointScope, name: string, owner: string, value?: string): Promise<boolean> {
    const set = value === undefined ? 'lease_owner = NULL, lease_expires_at = NULL' : 'checkpoint = $5';
    const { rowCount } = await this.query(
      `UPDATE ${this.table} SET ${set} WHERE stream = $1 AND consumer_group = $2 AND shard_id = $3 AND lease_owner = $4`,
      [scope.stream, scope.group, name, owner, ...(value === undefined ? [] : [value])],
    );
    return rowCount === 1;
  }

  protected async rows(scope: CheckpointScope): Promise<Row[]> {
    const { rows } = await this.query<{ name: string; value: string | null; live: boolean }>(
      `SELECT shard_id AS name, checkpoint AS value, coalesce(lease_owner IS NOT NULL AND lease_expires_at > now(), false) AS live
       FROM ${this.table} WHERE stream = $1 AND consumer_group = $2`,
      [scope.stream, scope.group],
    );
    return rows.map(({ name, value, live }) => ({ name, live, ...(value === null ? {} : { value }) }));
  }

  protected async remove(scope: CheckpointScope, names: string[]): Promise<void> {
    await this.query(`DELETE FROM ${this.table} WHERE stream = $1 AND consumer_group = $2 AND shard_id = ANY($3)`, [
      scope.stream,
      scope.group,
      names,
    ]);
  }

  async groups(stream: string): Promise<string[]> {
    const { rows } = await this.query<{ consumer_group: string }>(
      `SELECT DISTINCT consumer_group FROM ${this.table} WHERE stream = $1 ORDER BY consumer_group`,
      [stream],
    );
    return rows.map((row) => row.consumer_group);
  }

  async forgetStream(stream: string): Promise<void> {
    await this.query(`DELETE FROM ${this.table} WHERE stream = $1`, [stream]);
  }

  async close(): Promise<void> {
    const pool = await this.ready?.catch(() => undefined);
    this.ready = undefined;
    if (pool && !this.options.pool) await pool.end();
  }

  private async query<R extends object>(sql: string, values: unknown[]) {
    this.ready ??= this.open().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return (await (await this.ready).query(sql, values)) as { rows: R[]; rowCount: number | null };
  }

  private async open(): Promise<PgPoolLike> {
    const { url, pool: given } = this.options;
    const pool = given ?? (await ownPool(url));
    try {
      await pool.query(`CREATE TABLE IF NOT EXISTS ${this.table} (stream text NOT NULL, consumer_group text NOT NULL,
        shard_id text NOT NULL, checkpoint text, lease_owner text, lease_expires_at timestamptz,
        PRIMARY KEY (stream, consumer_group, shard_id))`);
    } catch (error) {
      // Two processes creating the table at once: the loser sees a duplicate type or table, which is fine.
      if (!['23505', '42P07'].includes((error as { code?: string }).code ?? '')) {
        if (!given) await pool.end().catch(() => undefined);
        const where = url ? ` at ${redact(url)}` : '';
        throw new EventportError('CONNECTION', `cannot prepare the PostgreSQL checkpoint table${where}`, {
          cause: error,
        });
      }
    }
    return pool;
  }
}

async function ownPool(url: string | undefined): Promise<PgPoolLike> {
  const { Pool } = await importPeer<typeof import('pg')>('pg');
  // Bounded: a database that does not answer fails queries within seconds.
  const pool = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5_000, query_timeout: 5_000 });
  pool.on('error', () => undefined); // an idle client's error resurfaces on the next query
  return pool;
}
