import { randomUUID } from 'node:crypto';
import { silentLogger } from '@eventport/core';
import { Inbox, migrateInbox, PostgresInboxStore } from '@eventport/inbox';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually, sleep } from '@eventport/testkit';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Pool, type PoolClient } from 'pg';
import { DATABASE_URL, until } from './support/env';

const schema = `inbox_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const pool = new Pool({ connectionString: DATABASE_URL, max: 8 });
pool.on('error', () => undefined);

beforeAll(async () => {
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query(`CREATE TABLE ${schema}.effects (message_id text NOT NULL, note text)`);
});
afterAll(async () => {
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
});

let tables = 0;
async function newStore(options: Partial<ConstructorParameters<typeof PostgresInboxStore>[0]> = {}) {
  const store = new PostgresInboxStore({
    pool,
    table: `${schema}.inbox_${++tables}`,
    logger: silentLogger,
    ...options,
  });
  await store.migrate();
  return store;
}
const effects = async (id: string) =>
  Number((await pool.query(`SELECT count(*) FROM ${schema}.effects WHERE message_id = $1`, [id])).rows[0].count);
const insertEffect = (tx: PoolClient, id: string, note = '') =>
  tx.query(`INSERT INTO ${schema}.effects (message_id, note) VALUES ($1, $2)`, [id, note]);

describe('PostgresInboxStore', () => {
  it('migrates idempotently, from several callers at once', async () => {
    const table = `${schema}.migrated`;
    await Promise.all([migrateInbox(pool, table), migrateInbox(pool, table), migrateInbox(pool, table)]);
    await migrateInbox(pool, table);
    const { rows } = await pool.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'migrated' ORDER BY ordinal_position`,
      [schema],
    );
    expect(rows.map((row) => row.column_name)).toEqual(['group_name', 'message_key', 'topic', 'recorded_at']);
  });

  it('commits the effect with the record; a duplicate runs nothing; a failing effect leaves neither', async () => {
    const store = await newStore();
    const entry = { group: 'g', key: `m-${randomUUID()}`, topic: 't' };
    expect(await store.process(entry, (tx) => insertEffect(tx, entry.key).then(() => undefined))).toBe('handled');
    let ranAgain = false;
    expect(
      await store.process(entry, async () => {
        ranAgain = true;
      }),
    ).toBe('duplicate');
    expect(ranAgain).toBe(false);
    expect(await effects(entry.key)).toBe(1);
    // The same key in another group is another consumer's business.
    expect(await store.process({ ...entry, group: 'h' }, async () => {})).toBe('handled');

    const failing = { group: 'g', key: `m-${randomUUID()}`, topic: 't' };
    await expect(
      store.process(failing, async (tx) => {
        await insertEffect(tx, failing.key);
        throw new Error('business rule failed after the write');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await effects(failing.key)).toBe(0);
    expect(await store.has('g', failing.key)).toBe(false);
    expect(await store.process(failing, (tx) => insertEffect(tx, failing.key).then(() => undefined))).toBe('handled');
    expect(await effects(failing.key)).toBe(1);
  });

  it('a second delivery running at the same time blocks on the record, then drops (first commits)', async () => {
    const store = await newStore();
    const entry = { group: 'g', key: `m-${randomUUID()}`, topic: 't' };
    const gate = deferred();
    const first = store.process(entry, async (tx) => {
      await insertEffect(tx, entry.key, 'first');
      await gate.promise;
    });
    await sleep(100);
    let secondRan = false;
    const second = store.process(entry, async (tx) => {
      secondRan = true;
      await insertEffect(tx, entry.key, 'second');
    });
    await sleep(300);
    // Still waiting on the first transaction's uncommitted primary key.
    expect(secondRan).toBe(false);
    gate.resolve();
    expect(await first).toBe('handled');
    expect(await second).toBe('duplicate');
    expect(secondRan).toBe(false);
    expect(await effects(entry.key)).toBe(1);
  });

  it('a second delivery running at the same time takes over when the first rolls back', async () => {
    const store = await newStore();
    const entry = { group: 'g', key: `m-${randomUUID()}`, topic: 't' };
    const gate = deferred();
    const first = store.process(entry, async (tx) => {
      await insertEffect(tx, entry.key, 'first');
      await gate.promise;
      throw new Error('first attempt fails');
    });
    await sleep(100);
    const second = store.process(entry, (tx) => insertEffect(tx, entry.key, 'second').then(() => undefined));
    await sleep(200);
    gate.resolve();
    await expect(first).rejects.toThrow('first attempt fails');
    expect(await second).toBe('handled');
    const { rows } = await pool.query(`SELECT note FROM ${schema}.effects WHERE message_id = $1`, [entry.key]);
    expect(rows).toEqual([{ note: 'second' }]);
  });

  it('a connection killed mid-transaction (a crashed consumer) loses the effect and the record together', async () => {
    const store = await newStore();
    const entry = { group: 'g', key: `m-${randomUUID()}`, topic: 't' };
    const killed = store.process(entry, async (tx) => {
      await insertEffect(tx, entry.key);
      const { rows } = await tx.query('SELECT pg_backend_pid() AS pid');
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
      await tx.query('SELECT 1');
    });
    await expect(killed).rejects.toThrow();
    expect(await effects(entry.key)).toBe(0);
    expect(await store.has('g', entry.key)).toBe(false);
    expect(await store.process(entry, (tx) => insertEffect(tx, entry.key).then(() => undefined))).toBe('handled');
    expect(await effects(entry.key)).toBe(1);
  });

  it('gives the handler the transaction client through inbox.handler, on a real subscription', async () => {
    const store = await newStore();
    const inbox = new Inbox({ store, logger: silentLogger });
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    const topic = `pg-${randomUUID().slice(0, 8)}`;
    const id = `m-${randomUUID()}`;
    let attempts = 0;
    await adapter.subscribe(
      topic,
      inbox.handler<{ n: number }>(async (message, tx) => {
        attempts++;
        await insertEffect(tx, message.id, `attempt ${attempts}`);
        if (attempts === 1) throw new Error('first attempt fails after its write');
      }),
      { redeliveryDelayMs: () => 1 },
    );
    await adapter.publish({ topic, id, data: { n: 1 } });
    await adapter.publish({ topic, id, data: { n: 1 } });
    expect(await eventually(() => inbox.stats().handled === 1 && inbox.stats().duplicates === 1, 10_000)).toBe(true);
    const { rows } = await pool.query(`SELECT note FROM ${schema}.effects WHERE message_id = $1`, [id]);
    expect(rows).toEqual([{ note: 'attempt 2' }]);
    await adapter.disconnect();
  });
});

describe('PostgresInboxStore retention', () => {
  /** Records of `group` aged `ageMs` (recorded_at moved back). */
  async function seed(store: PostgresInboxStore, group: string, count: number, ageMs: number) {
    await pool.query(
      `INSERT INTO ${store.names.table} (group_name, message_key, topic, recorded_at)
       SELECT $1, $1 || '-' || $3::text || '-' || n, 't', now() - $2 * interval '1 millisecond' - n * interval '1 microsecond'
       FROM generate_series(1, $4::int) AS n`,
      [group, ageMs, ageMs, count],
    );
  }
  const HOUR = 3_600_000;

  it('by age: deletes records older than maxAgeMs, in every group', async () => {
    const store = await newStore({ retention: { redeliveryWindowMs: HOUR, maxAgeMs: 2 * HOUR, intervalMs: 0 } });
    await seed(store, 'a', 30, 3 * HOUR);
    await seed(store, 'a', 20, HOUR / 2);
    await seed(store, 'b', 7, 3 * HOUR);
    expect(await store.cleanup()).toEqual({ deletedByAge: 37, deletedByCount: 0, keptInWindow: 0 });
    expect(await store.count('a')).toBe(20);
    expect(await store.count('b')).toBe(0);
  });

  it('by count: keeps the newest maxRecords per group, but never deletes one inside the redelivery window', async () => {
    const store = await newStore({ retention: { redeliveryWindowMs: HOUR, maxRecords: 10, intervalMs: 0 } });
    await seed(store, 'a', 25, 2 * HOUR); // outside the window: may go
    await seed(store, 'b', 5, 2 * HOUR);
    await seed(store, 'c', 15, HOUR / 4); // all inside the window: stays over the cap
    await seed(store, 'c', 3, 2 * HOUR);
    expect(await store.cleanup()).toEqual({ deletedByAge: 0, deletedByCount: 15 + 3, keptInWindow: 5 });
    expect(await store.count('a')).toBe(10);
    expect(await store.count('b')).toBe(5);
    expect(await store.count('c')).toBe(15);
    // The ten kept in group a are its newest.
    const { rows } = await pool.query(
      `SELECT min(message_key) AS oldest FROM (SELECT message_key FROM ${store.names.table} WHERE group_name = 'a') kept`,
    );
    expect(rows[0].oldest).toBe(`a-${2 * HOUR}-1`);
  });

  it('age and count together, and a background cleanup started by handling', async () => {
    const store = await newStore({
      retention: { redeliveryWindowMs: HOUR, maxAgeMs: 5 * HOUR, maxRecords: 3, intervalMs: 50 },
    });
    await seed(store, 'a', 4, 6 * HOUR);
    await seed(store, 'a', 6, 2 * HOUR);
    await sleep(60);
    expect(await store.process({ group: 'a', key: 'new', topic: 't' }, async () => {})).toBe('handled');
    // 4 by age, then beyond the newest 3 and outside the window: 5 of the 6 two-hour-old ones.
    expect(await until(async () => (await store.count('a')) === 3, 5_000)).toBe(true);
    await store.close();
    expect(await store.has('a', 'new')).toBe(true);
  });

  it('refuses a retention that could delete what a redelivery needs, and names what is missing', async () => {
    const make = (retention: unknown) =>
      new PostgresInboxStore({ pool, table: `${schema}.never`, retention: retention as never });
    expect(() => make({ maxAgeMs: HOUR })).toThrow(/redeliveryWindowMs: is required/);
    expect(() => make({ redeliveryWindowMs: 2 * HOUR, maxAgeMs: HOUR })).toThrow(
      /maxAgeMs: must not be below redeliveryWindowMs/,
    );
    expect(() => make({ redeliveryWindowMs: HOUR })).toThrow(/give maxAgeMs, maxRecords or both/);
    expect(() => make({ redeliveryWindowMs: HOUR, maxRecord: 5 })).toThrow(
      /"maxRecord" \(did you mean "maxRecords"\?\)/,
    );
    expect(() => new PostgresInboxStore({} as never)).toThrow(/pool: must be a pg Pool/);
    expect(() => new PostgresInboxStore({ pool, table: 'a.b.c' })).toThrow(/"name" or "schema.name"/);
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}
