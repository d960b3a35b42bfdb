import { EventportError, redact } from '@eventport/core';
import type { Pool } from 'pg';
import { importPeer } from './peer.js';
import type { CheckpointScope, CheckpointStore } from './store.js';

export interface PostgresCheckpointStoreOptions {
  /** postgres:// URL; ignored when `pool` is given. */
  url?: string;
  /** A pg Pool to use; the caller keeps ownership (close() does not end it). */
  pool?: Pool;
  /** Table name (created on first use). Default "eventport_kinesis_checkpoints". */
  table?: string;
}

/** Rows that are not shards start with "$" (shard ids start with "shardId-"): the group's start, and members. */
const GROUP_ROW = '$group';
const MEMBER_ROW_PREFIX = '$member:';

/**
 * Checkpoints and shard leases in PostgreSQL (pg). The table is created on first use; lease expiry
 * uses the database clock (now()), so members' clocks need not agree.
 */
export class PostgresCheckpointStore implements CheckpointStore {
  private readonly table: string;
  private readonly ownsPool: boolean;
  private ready: Promise<Pool> | undefined;

  constructor(private readonly options: PostgresCheckpointStoreOptions) {
    if (!options.pool && !options.url) {
      throw new EventportError('INVALID_CONFIG', 'PostgresCheckpointStore needs a url or a pool');
    }
    const table = options.table ?? 'eventport_kinesis_checkpoints';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) {
      throw new EventportError(
        'INVALID_CONFIG',
        `checkpoint table "${table}" must be a lower-case SQL identifier (letters, digits, "_")`,
      );
    }
    this.table = table;
    this.ownsPool = !options.pool;
  }

  async startPosition(scope: CheckpointScope, position: string): Promise<string> {
    const db = await this.db();
    await db.query(
      `INSERT INTO ${this.table} (stream, consumer_group, shard_id, checkpoint) VALUES ($1, $2, $3, $4)
       ON CONFLICT (stream, consumer_group, shard_id) DO NOTHING`,
      [scope.stream, scope.group, GROUP_ROW, position],
    );
    const { rows } = await db.query<{ checkpoint: string }>(
      `SELECT checkpoint FROM ${this.table} WHERE stream = $1 AND consumer_group = $2 AND shard_id = $3`,
      [scope.stream, scope.group, GROUP_ROW],
    );
    return rows[0]?.checkpoint ?? position;
  }

  async checkpoints(scope: CheckpointScope): Promise<Record<string, string>> {
    const { rows } = await (await this.db()).query<{ shard_id: string; checkpoint: string }>(
      `SELECT shard_id, checkpoint FROM ${this.table}
       WHERE stream = $1 AND consumer_group = $2 AND left(shard_id, 1) <> '$' AND checkpoint IS NOT NULL`,
      [scope.stream, scope.group],
    );
    return Object.fromEntries(rows.map((row) => [row.shard_id, row.checkpoint]));
  }

  async tryLease(scope: CheckpointScope, shardId: string, owner: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await (await this.db()).query(
      `INSERT INTO ${this.table} AS t (stream, consumer_group, shard_id, lease_owner, lease_expires_at)
       VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
       ON CONFLICT (stream, consumer_group, shard_id) DO UPDATE
         SET lease_owner = EXCLUDED.lease_owner, lease_expires_at = EXCLUDED.lease_expires_at
         WHERE t.lease_owner IS NULL OR t.lease_owner = EXCLUDED.lease_owner OR t.lease_expires_at < now()`,
      [scope.stream, scope.group, shardId, owner, ttlMs],
    );
    return rowCount === 1;
  }

  async checkpoint(scope: CheckpointScope, shardId: string, owner: string, position: string): Promise<boolean> {
    const { rowCount } = await (await this.db()).query(
      `UPDATE ${this.table} SET checkpoint = $5
       WHERE stream = $1 AND consumer_group = $2 AND shard_id = $3 AND lease_owner = $4`,
      [scope.stream, scope.group, shardId, owner, position],
    );
    return rowCount === 1;
  }

  async releaseLease(scope: CheckpointScope, shardId: string, owner: string): Promise<void> {
    await (await this.db()).query(
      `UPDATE ${this.table} SET lease_owner = NULL, lease_expires_at = NULL
       WHERE stream = $1 AND consumer_group = $2 AND shard_id = $3 AND lease_owner = $4`,
      [scope.stream, scope.group, shardId, owner],
    );
  }

  async heartbeat(scope: CheckpointScope, owner: string, ttlMs: number): Promise<number> {
    const db = await this.db();
    await db.query(
      `INSERT INTO ${this.table} (stream, consumer_group, shard_id, lease_expires_at)
       VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
       ON CONFLICT (stream, consumer_group, shard_id) DO UPDATE SET lease_expires_at = EXCLUDED.lease_expires_at`,
      [scope.stream, scope.group, `${MEMBER_ROW_PREFIX}${owner}`, ttlMs],
    );
    const { rows } = await db.query<{ live: string }>(
      `WITH expired AS (
         DELETE FROM ${this.table}
         WHERE stream = $1 AND consumer_group = $2 AND starts_with(shard_id, $3) AND lease_expires_at <= now()
       )
       SELECT count(*) AS live FROM ${this.table}
       WHERE stream = $1 AND consumer_group = $2 AND starts_with(shard_id, $3) AND lease_expires_at > now()`,
      [scope.stream, scope.group, MEMBER_ROW_PREFIX],
    );
    return Number(rows[0]?.live ?? 1);
  }

  async leave(scope: CheckpointScope, owner: string): Promise<void> {
    await (await this.db()).query(
      `DELETE FROM ${this.table} WHERE stream = $1 AND consumer_group = $2 AND shard_id = $3`,
      [scope.stream, scope.group, `${MEMBER_ROW_PREFIX}${owner}`],
    );
  }

  async forgetStream(stream: string): Promise<void> {
    await (await this.db()).query(`DELETE FROM ${this.table} WHERE stream = $1`, [stream]);
  }

  async close(): Promise<void> {
    const pool = await this.ready?.catch(() => undefined);
    this.ready = undefined;
    if (this.ownsPool && pool) await pool.end();
  }

  private db(): Promise<Pool> {
    this.ready ??= this.open().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async open(): Promise<Pool> {
    let pool = this.options.pool;
    if (!pool) {
      const { Pool: PgPool } = await importPeer<typeof import('pg')>('pg');
      pool = new PgPool({ connectionString: this.options.url, max: 4 });
      pool.on('error', () => undefined); // an idle client's error resurfaces on the next query
    }
    try {
      await this.createTable(pool);
    } catch (error) {
      if (this.ownsPool) await pool.end().catch(() => undefined);
      throw error;
    }
    return pool;
  }

  private async createTable(pool: Pool): Promise<void> {
    try {
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (
           stream text NOT NULL,
           consumer_group text NOT NULL,
           shard_id text NOT NULL,
           checkpoint text,
           lease_owner text,
           lease_expires_at timestamptz,
           PRIMARY KEY (stream, consumer_group, shard_id)
         )`,
      );
    } catch (error) {
      // Two processes creating the table at once: the loser sees a duplicate type/table, which is fine.
      const code = (error as { code?: string }).code;
      if (code !== '23505' && code !== '42P07') {
        const where = this.options.url ? ` at ${redact(this.options.url)}` : '';
        throw new EventportError('CONNECTION', `cannot prepare the PostgreSQL checkpoint table${where}`, {
          cause: error,
        });
      }
    }
  }
}
