import { configFields, consoleLogger, describeError, EventportError, type Logger, parseOptions } from '@eventport/core';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { type CleanupResult, type InboxRetention, type ResolvedRetention, resolveRetention } from './retention.js';
import type { InboxEntry, InboxOutcome, InboxStore } from './store.js';

export interface PostgresInboxOptions {
  /** Every delivery takes one connection for its transaction: size the pool for the handlers' concurrency. */
  pool: Pool;
  /** Table name, optionally schema-qualified ("app.inbox"). Default "eventport_inbox". */
  table?: string;
  /** Off by default: records are kept until you delete them. */
  retention?: InboxRetention;
  /** Background cleanup failures; default logs a warning. */
  onError?: (error: unknown) => void;
  logger?: Logger;
}

const PostgresInboxOptionsSchema = z.strictObject({
  pool: z.custom<Pool>(
    (value) => typeof (value as Pool | undefined)?.connect === 'function',
    'must be a pg Pool (every delivery takes one of its connections for its transaction)',
  ),
  table: z.string().optional(),
  // Validated in detail by resolveRetention.
  retention: z.unknown().optional(),
  onError: configFields.callback().optional(),
  logger: configFields.object('must be a Logger').optional(),
});

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const CLEANUP_CHUNK = 5_000;

/** A validated table name and the SQL names derived from it. */
export interface InboxTableNames {
  /** Quoted, schema-qualified when a schema was given. */
  table: string;
  schema?: string;
  /** Unquoted base name, for derived object names. */
  base: string;
}

export function inboxTableNames(table = 'eventport_inbox'): InboxTableNames {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `inbox table must be "name" or "schema.name" of letters, digits and "_" (got "${table}")`,
    );
  }
  const base = parts[parts.length - 1] as string;
  const names: InboxTableNames = { table: parts.map(quote).join('.'), base };
  if (parts.length === 2) names.schema = parts[0] as string;
  return names;
}

/**
 * Creates the inbox table and its index. Idempotent and safe to run from several processes at once
 * (serialised by an advisory lock). Call it from your migrations, or through store.migrate().
 */
export async function migrateInbox(pool: Pool, table?: string): Promise<void> {
  const names = inboxTableNames(table);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('eventport-inbox-migrate'))`);
    if (names.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quote(names.schema)}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${names.table} (
        group_name text NOT NULL,
        message_key text NOT NULL,
        topic text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_name, message_key)
      )`);
    // Serves both cleanups: the oldest records of a group, and a group's newest N.
    await client.query(
      `CREATE INDEX IF NOT EXISTS ${quote(`${names.base}_recorded`)} ON ${names.table} (group_name, recorded_at)`,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new EventportError('INTERNAL', `inbox migration of ${names.table} failed: ${describeError(error)}`, {
      cause: error,
    });
  } finally {
    client.release();
  }
}

/**
 * The transactional inbox. For each delivery, in one transaction on a pool connection:
 *
 *   BEGIN
 *   INSERT INTO inbox (group, key, topic) ... ON CONFLICT DO NOTHING
 *     0 rows: already recorded, a duplicate: ROLLBACK, ack, the handler never runs
 *   the handler's own writes, through the same client
 *   COMMIT, then the broker ack
 *
 * The record is inserted first, so a second delivery of the same key running at the same time (a
 * competing consumer after a redelivery) blocks on the primary key until the first transaction
 * ends: it sees the committed record and drops the message, or takes over after a rollback. A crash
 * anywhere before COMMIT rolls back the effect and the record together; after COMMIT, the broker's
 * redelivery finds the record.
 */
export class PostgresInboxStore implements InboxStore<PoolClient> {
  readonly kind = 'postgres';
  readonly names: InboxTableNames;
  private readonly pool: Pool;
  private readonly table: string | undefined;
  private readonly retention: ResolvedRetention | undefined;
  private readonly onError: (error: unknown) => void;
  private readonly insertSql: string;
  private lastCleanupAt = Date.now();
  private cleaning: Promise<unknown> | undefined;
  private closed = false;

  constructor(options: PostgresInboxOptions) {
    parseOptions(PostgresInboxOptionsSchema, options, 'postgres inbox', 'INVALID_ARGUMENT');
    this.pool = options.pool;
    this.names = inboxTableNames(options.table);
    this.table = options.table;
    this.retention = resolveRetention(options.retention);
    const logger = options.logger ?? consoleLogger();
    this.onError = options.onError ?? ((error) => logger.warn('inbox cleanup failed', { error: describeError(error) }));
    this.insertSql = `INSERT INTO ${this.names.table} (group_name, message_key, topic) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`;
  }

  /** Creates the table if missing (see migrateInbox). */
  migrate(): Promise<void> {
    return migrateInbox(this.pool, this.table);
  }

  async process(entry: InboxEntry, effect: (tx: PoolClient) => Promise<void>): Promise<InboxOutcome> {
    const client = await this.pool.connect();
    // A connection that drops mid-transaction also fails the query in progress, which is what we
    // report; unheard, this event would crash the process.
    client.on('error', ignoreConnectionError);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const inserted = await client.query(this.insertSql, [entry.group, entry.key, entry.topic]);
      if (inserted.rowCount === 0) {
        await client.query('ROLLBACK');
        return 'duplicate';
      }
      await effect(client);
      await client.query('COMMIT');
    } catch (error) {
      broken = await rollback(client, error);
      throw error;
    } finally {
      client.removeListener('error', ignoreConnectionError);
      client.release(broken);
    }
    this.cleanupIfDue();
    return 'handled';
  }

  /** Whether `key` is recorded for `group`. */
  async has(group: string, key: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `SELECT 1 FROM ${this.names.table} WHERE group_name = $1 AND message_key = $2`,
      [group, key],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Records kept, for one group or all. */
  async count(group?: string): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      group === undefined
        ? `SELECT count(*) AS count FROM ${this.names.table}`
        : `SELECT count(*) AS count FROM ${this.names.table} WHERE group_name = $1`,
      group === undefined ? [] : [group],
    );
    return Number(rows[0]?.count ?? 0);
  }

  /**
   * Applies the retention once, group by group, in chunks (so it never holds long locks): deletes
   * records older than maxAgeMs, then each group's oldest beyond maxRecords, never one younger than
   * redeliveryWindowMs. Ages are measured with the database's clock. Several processes may run it at
   * once (rows another cleanup holds are skipped).
   */
  async cleanup(): Promise<CleanupResult> {
    const result: CleanupResult = { deletedByAge: 0, deletedByCount: 0, keptInWindow: 0 };
    const retention = this.retention;
    if (!retention) return result;
    for (const group of await this.groups()) {
      if (retention.maxAgeMs !== undefined) {
        result.deletedByAge += await this.deleteChunked(
          `SELECT message_key FROM ${this.names.table}
           WHERE group_name = $1 AND recorded_at < now() - $2 * interval '1 millisecond'
           ORDER BY recorded_at LIMIT ${CLEANUP_CHUNK} FOR UPDATE SKIP LOCKED`,
          [group, retention.maxAgeMs],
        );
      }
      if (retention.maxRecords !== undefined) {
        result.deletedByCount += await this.deleteChunked(
          `SELECT message_key FROM (
             SELECT message_key, recorded_at FROM ${this.names.table} WHERE group_name = $1
             ORDER BY recorded_at DESC OFFSET $2) AS beyond
           WHERE recorded_at < now() - $3 * interval '1 millisecond' LIMIT ${CLEANUP_CHUNK}`,
          [group, retention.maxRecords, retention.redeliveryWindowMs],
        );
        const { rows } = await this.pool.query<{ count: string }>(
          `SELECT count(*) AS count FROM (
             SELECT 1 FROM ${this.names.table} WHERE group_name = $1 ORDER BY recorded_at DESC OFFSET $2) AS beyond`,
          [group, retention.maxRecords],
        );
        result.keptInWindow += Number(rows[0]?.count ?? 0);
      }
    }
    return result;
  }

  /** Stops the background cleanup and waits for one in progress. The pool stays yours to end. */
  async close(): Promise<void> {
    this.closed = true;
    await this.cleaning;
  }

  private async deleteChunked(selectKeys: string, params: unknown[]): Promise<number> {
    let deleted = 0;
    while (true) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM ${this.names.table} WHERE group_name = $1 AND message_key IN (${selectKeys})`,
        params,
      );
      deleted += rowCount ?? 0;
      if ((rowCount ?? 0) < CLEANUP_CHUNK) return deleted;
    }
  }

  /** The distinct groups, by a loose index scan over the primary key (one probe per group). */
  private async groups(): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string | null }>(
      `WITH RECURSIVE groups AS (
         (SELECT group_name AS name FROM ${this.names.table} ORDER BY group_name LIMIT 1)
         UNION ALL
         SELECT (SELECT group_name FROM ${this.names.table} WHERE group_name > groups.name ORDER BY group_name LIMIT 1)
         FROM groups WHERE groups.name IS NOT NULL)
       SELECT name FROM groups WHERE name IS NOT NULL`,
    );
    return rows.map((row) => row.name as string);
  }

  private cleanupIfDue(): void {
    const retention = this.retention;
    if (!retention || retention.intervalMs === 0 || this.closed || this.cleaning) return;
    if (Date.now() - this.lastCleanupAt < retention.intervalMs) return;
    this.lastCleanupAt = Date.now();
    this.cleaning = this.cleanup()
      .catch((error: unknown) => this.onError(error))
      .finally(() => {
        this.cleaning = undefined;
      });
  }
}

function ignoreConnectionError(): void {}

/** Rolls back; a connection that cannot even do that is returned as the error so the pool drops it. */
async function rollback(client: PoolClient, cause: unknown): Promise<Error | undefined> {
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
