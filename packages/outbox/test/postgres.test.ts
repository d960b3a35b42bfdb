import { randomUUID } from 'node:crypto';
import { silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { migrateOutbox, OutboxRelay, type PgQueryable, PostgresOutboxStore } from '@eventport/outbox';
import { eventually, sleep, Tally } from '@eventport/testkit';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Pool } from 'pg';
import { describeOutboxStore } from './store-suite';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describeOutboxStore<PgQueryable>('postgres', async () => {
  const schema = `outbox_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const table = `${schema}.outbox`;
  const pools: Pool[] = [];
  const newPool = () => {
    const pool = new Pool({ connectionString: DATABASE_URL, max: 4 });
    pools.push(pool);
    return pool;
  };
  const pool = newPool();
  const store = new PostgresOutboxStore({ pool, table });
  await store.migrate();
  return {
    store,
    anotherStore: () => new PostgresOutboxStore({ pool: newPool(), table }),
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.query(`DROP SCHEMA ${schema} CASCADE`);
      await Promise.all(pools.map((each) => each.end()));
    },
  };
});

describe('postgres outbox specifics', () => {
  const schema = `outbox_pg_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const table = `${schema}.outbox`;
  const pool = new Pool({ connectionString: DATABASE_URL, max: 4 });
  const store = new PostgresOutboxStore({ pool, table });

  beforeAll(async () => {
    // Concurrent migrations (several instances starting at once) must not trip over each other.
    await Promise.all([store.migrate(), store.migrate(), migrateOutbox(pool, table)]);
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  });

  it('re-listens after the LISTEN connection is killed, and keeps publishing meanwhile', async () => {
    const topic = `relisten-${randomUUID().slice(0, 8)}`;
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    const tally = new Tally();
    await adapter.subscribe(topic, (message) => tally.record(message.id));
    const errors: unknown[] = [];
    const relay = new OutboxRelay({ store, adapter, pollIntervalMs: 200, onError: (error) => errors.push(error) });
    relay.start();
    const channelQuery = `LISTEN "${store.names.channel}"`;
    /** The backend pid of the relay's listening connection, once it shows up. */
    const waitForListener = async (other?: number): Promise<number | undefined> => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const { rows } = await pool.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()',
          [channelQuery],
        );
        const pid = rows.find((row) => row.pid !== other)?.pid;
        if (pid !== undefined) return pid;
        await sleep(50);
      }
      return undefined;
    };
    const pid = await waitForListener();
    expect(pid).toBeDefined();
    await pool.query('SELECT pg_terminate_backend($1)', [pid]);
    expect(await eventually(() => errors.length > 0, 10_000)).toBe(true);
    const first = await store.add(pool, { topic, data: 'published by polling or a new listener' });
    tally.expect([first]);
    expect(await tally.waitForAll(10_000)).toBe(true);
    const newPid = await waitForListener(pid);
    expect(newPid).toBeDefined();
    expect(newPid).not.toBe(pid);
    await relay.stop();
    await adapter.disconnect();
  });

  it('falls back to polling when the pool has a single connection', async () => {
    const tinyPool = new Pool({ connectionString: DATABASE_URL, max: 1 });
    const topic = `tiny-${randomUUID().slice(0, 8)}`;
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    const tally = new Tally();
    await adapter.subscribe(topic, (message) => tally.record(message.id));
    const errors: unknown[] = [];
    const relay = new OutboxRelay({
      store: new PostgresOutboxStore({ pool: tinyPool, table }),
      adapter,
      pollIntervalMs: 50,
      onError: (error) => errors.push(error),
    });
    relay.start();
    const id = await store.add(pool, { topic, data: 1 });
    tally.expect([id]);
    expect(await tally.waitForAll(10_000)).toBe(true);
    await relay.stop();
    await tinyPool.end();
    await adapter.disconnect();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
