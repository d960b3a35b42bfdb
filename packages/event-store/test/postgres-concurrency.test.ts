import { ConcurrencyError, migrateEventStore, PostgresEventStore } from '@eventport/event-store';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { applyToReadModel, createReadModel } from './fixtures/read-model';
import { PostgresTestDatabase } from './postgres-harness';
import { collect, raceWriters } from './store-suite';

const WRITERS = 20;
const EVENTS_PER_WRITER = 5;

describe('postgres event store under concurrency', () => {
  const database = new PostgresTestDatabase();
  beforeAll(() => database.reachable());
  afterAll(() => database.close());

  it(`${WRITERS} writers, each with its own connection, racing on one stream with expectedVersion`, async () => {
    const first = await database.store('race');
    const { schema } = first;
    // One pool of one connection per writer, as twenty processes would have.
    const stores = await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        const pool = database.newPool({ max: 1 });
        await pool.query('SELECT 1');
        return new PostgresEventStore({ pool, schema });
      }),
    );
    const result = await raceWriters(stores, 'account-1', WRITERS, EVENTS_PER_WRITER);
    const total = WRITERS * EVENTS_PER_WRITER;
    console.log(
      `[race] ${WRITERS} writers x ${EVENTS_PER_WRITER}: versions 1..${result.versions.length}, ` +
        `${result.attempts} attempts, ${result.conflicts} ConcurrencyErrors, winners per version: ` +
        `${Math.min(...result.winnersPerVersion)}..${Math.max(...result.winnersPerVersion)}`,
    );
    expect(result.versions).toEqual(Array.from({ length: total }, (_, index) => index + 1));
    expect(result.winnersPerVersion.every((winners) => winners === 1)).toBe(true);
    expect(result.conflicts).toBe(result.attempts - total);
    expect(result.conflictsReportedStale).toBe(true);

    const events = await collect(first.readStream('account-1'));
    const writes = events.map((event) => JSON.stringify(event.data));
    expect(new Set(writes).size).toBe(total);
    expect(new Set(events.map((event) => event.id)).size).toBe(total);
    expect(events.map((event) => event.position)).toEqual(Array.from({ length: total }, (_, index) => index + 1));
    const { rows } = await database.pool.query(
      `SELECT count(*)::int AS events, count(DISTINCT version)::int AS versions, max(version)::int AS max FROM ${first.tables.events}`,
    );
    expect(rows[0]).toEqual({ events: total, versions: total, max: total });
    expect(await first.streamVersion('account-1')).toBe(total);
  }, 120_000);

  it('a reader tailing readAll() while 8 writers commit never skips an event that commits later', async () => {
    const store = await database.store('tail');
    const { schema } = store;
    const writers = Array.from(
      { length: 8 },
      () => new PostgresEventStore({ pool: database.newPool({ max: 1 }), schema }),
    );
    let writing = true;
    const written = Promise.all(
      writers.map(async (writer, index) => {
        let count = 0;
        for (let append = 0; append < 40; append++) {
          const size = 1 + (append % 3);
          await writer.append(
            `stream-${index}`,
            Array.from({ length: size }, (_, n) => ({ type: 'T', data: { n } })),
          );
          count += size;
        }
        return count;
      }),
    ).finally(() => {
      writing = false;
    });

    const seen: number[] = [];
    let last = 0;
    let skipped = 0;
    while (writing || last < (await store.headPosition())) {
      const before = last;
      for await (const event of store.readAll({ fromPosition: last + 1, pageSize: 7 })) {
        if (event.position !== last + 1) skipped++;
        last = event.position;
        seen.push(event.position);
      }
      if (last === before) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const total = (await written).reduce((sum, count) => sum + count, 0);
    console.log(
      `[tail] ${writers.length} writers committed ${total} events; the tailing reader saw ${seen.length}, skipped ${skipped}`,
    );
    expect(skipped).toBe(0);
    expect(seen).toEqual(Array.from({ length: total }, (_, index) => index + 1));
  }, 120_000);

  it("appends inside the caller's transaction: rolled back with it, committed with it, no position used up", async () => {
    const store = await database.store('caller_tx');
    const { schema } = store;
    await database.pool.query(`CREATE TABLE ${schema}.accounts (id text PRIMARY KEY)`);
    await store.append('other', { type: 'Before', data: {} });

    const inTransaction = async (commit: boolean) => {
      const client = await database.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO ${schema}.accounts (id) VALUES ('acct-1')`);
        const result = await store.append(
          'acct-1',
          [
            { type: 'Opened', data: {} },
            { type: 'Deposited', data: { n: 1 } },
          ],
          {
            transaction: client,
            expectedVersion: 'no-stream',
          },
        );
        await client.query(commit ? 'COMMIT' : 'ROLLBACK');
        return result;
      } finally {
        client.release();
      }
    };
    const rolledBack = await inTransaction(false);
    expect(rolledBack.events.map((event) => event.position)).toEqual([2, 3]);
    expect(await store.streamVersion('acct-1')).toBe(0);
    expect(await store.headPosition()).toBe(1);
    const { rows: none } = await database.pool.query(`SELECT id FROM ${schema}.accounts`);
    expect(none).toEqual([]);

    const committed = await inTransaction(true);
    expect(committed.events.map((event) => event.position)).toEqual([2, 3]);
    expect(await store.streamVersion('acct-1')).toBe(2);
    const { rows: one } = await database.pool.query(`SELECT id FROM ${schema}.accounts`);
    expect(one).toEqual([{ id: 'acct-1' }]);
    await expect(
      store.append('acct-1', { type: 'Opened', data: {} }, { expectedVersion: 'no-stream' }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('a PostgreSQL read model written in the batch transaction keeps no row of a failed batch', async () => {
    const store = await database.store('readmodel');
    const { schema } = store;
    await createReadModel(database.pool, schema);
    await store.append(
      's',
      Array.from({ length: 12 }, (_, n) => ({ type: 'T', data: { n } })),
    );
    let failOnce = true;
    const errors: unknown[] = [];
    const projection = store.project(
      'rows',
      async (event, tx) => {
        await applyToReadModel(tx, schema, event, 'test');
        if (event.position === 7 && failOnce) {
          failOnce = false;
          throw new Error('crash after writing rows 6 and 7');
        }
      },
      { batchSize: 5, onError: (error) => errors.push(error) },
    );
    expect(await projection.caughtUp()).toBe(12);
    await projection.stop();
    expect(errors).toHaveLength(1);
    const { rows } = await database.pool.query(
      `SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS events FROM ${schema}.applied`,
    );
    expect(rows[0]).toEqual({ rows: 12, events: 12 });
  });

  it('migrations running at once do not trip over each other', async () => {
    const schema = database.schema('migrate');
    await Promise.all([1, 2, 3].map(() => migrateEventStore(database.pool, schema)));
    const store = new PostgresEventStore({ pool: database.pool, schema });
    await store.migrate();
    await store.append('s', { type: 'T', data: 1 });
    expect(await store.headPosition()).toBe(1);
    expect(() => new PostgresEventStore({ pool: database.pool, schema: 'bad-name; DROP' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
