import { PostgresEventStore } from '@eventport/event-store';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { applyToReadModel, createReadModel } from './fixtures/read-model';
import { DATABASE_URL, PostgresTestDatabase } from './postgres-harness';
import { collect } from './store-suite';
import { startWorker } from './worker';

const EVENTS = 2_000;
const BATCH = 50;
const STALL_AT = 725;

describe('postgres event store: processes SIGKILLed mid-work', () => {
  const database = new PostgresTestDatabase();
  beforeAll(() => database.reachable());
  afterAll(() => database.close());

  it('a writer killed inside a multi-event append leaves none of its events, and no hole in the positions', async () => {
    const store = await database.store('kill_append');
    await store.append('account-1', [
      { type: 'Opened', data: {} },
      { type: 'Deposited', data: { cents: 100 } },
    ]);
    const worker = startWorker('append-worker.ts', {
      DATABASE_URL,
      EVENT_STORE_SCHEMA: store.schema,
      STREAM_ID: 'account-1',
      EVENTS: '5',
      EXPECTED_VERSION: '2',
    });
    const { appended } = await worker.nextMessage<{ appended: string[] }>();
    expect(appended).toHaveLength(5);
    // The worker's append is done but not committed: nobody sees it, and the next append waits for it.
    expect(await store.streamVersion('account-1')).toBe(2);
    let waitingAppendDone = false;
    const waitingAppend = store.append('account-2', { type: 'Opened', data: {} }).finally(() => {
      waitingAppendDone = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(waitingAppendDone).toBe(false);

    worker.child.kill('SIGKILL');
    expect(await worker.exited).toBe('SIGKILL');
    // PostgreSQL rolls the dead session back and frees its lock; the waiting append goes on.
    const next = await waitingAppend;
    expect(next.events[0]?.position).toBe(3);
    const events = await collect(store.readAll());
    expect(events.map((event) => event.position)).toEqual([1, 2, 3]);
    expect(events.some((event) => appended.includes(event.id))).toBe(false);
    const { rows } = await database.pool.query(
      `SELECT count(*)::int AS n FROM ${store.tables.events} WHERE id = ANY($1)`,
      [appended],
    );
    expect(rows[0].n).toBe(0);
    expect(await store.streamVersion('account-1')).toBe(2);
    const retried = await store.append('account-1', { type: 'Deposited', data: { cents: 5 } }, { expectedVersion: 2 });
    expect(retried.version).toBe(3);
    console.log(
      `[kill append] 5-event append SIGKILLed before COMMIT: 0 of its events stored, stream still at version 2, next position 3`,
    );
  }, 60_000);

  it('a projection killed mid-batch resumes from its checkpoint: every event applied exactly once to the PostgreSQL read model', async () => {
    const store = await database.store('kill_projection');
    const { schema } = store;
    await createReadModel(database.pool, schema);
    for (let stream = 0; stream < EVENTS / 100; stream++) {
      await store.append(
        `account-${stream}`,
        Array.from({ length: 100 }, (_, n) => ({ type: 'Deposited', data: { cents: n } })),
      );
    }
    const worker = startWorker('projection-worker.ts', {
      DATABASE_URL,
      EVENT_STORE_SCHEMA: schema,
      PROJECTION: 'balances',
      BATCH_SIZE: String(BATCH),
      STALL_AT: String(STALL_AT),
    });
    const { stalledAt } = await worker.nextMessage<{ stalledAt: number }>(60_000);
    expect(stalledAt).toBe(STALL_AT);
    // Rows of the open batch (701..725) exist only inside the worker's transaction.
    const committedBefore = Math.floor((STALL_AT - 1) / BATCH) * BATCH;
    expect(await store.checkpoint('balances')).toBe(committedBefore);
    worker.child.kill('SIGKILL');
    expect(await worker.exited).toBe('SIGKILL');

    const count = async () =>
      (
        await database.pool.query<{ rows: number; events: number; worker: number }>(
          `SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS events,
                  (count(*) FILTER (WHERE applied_by = 'worker'))::int AS worker FROM ${schema}.applied`,
        )
      ).rows[0];
    expect(await count()).toEqual({ rows: committedBefore, events: committedBefore, worker: committedBefore });

    // A new process takes over the projection.
    const successor = new PostgresEventStore({ pool: database.newPool(), schema });
    const resumedFrom: number[] = [];
    const projection = successor.project(
      'balances',
      async (event, tx) => {
        resumedFrom.push(event.position);
        await applyToReadModel(tx, schema, event, 'successor');
      },
      { batchSize: BATCH },
    );
    expect(await projection.caughtUp(60_000)).toBe(EVENTS);
    await projection.stop();
    expect(resumedFrom[0]).toBe(committedBefore + 1);
    expect(resumedFrom).toHaveLength(EVENTS - committedBefore);

    const final = await count();
    const { rows: twice } = await database.pool.query(
      `SELECT event_id FROM ${schema}.applied GROUP BY event_id HAVING count(*) > 1`,
    );
    const { rows: missing } = await database.pool.query(
      `SELECT e.id FROM ${store.tables.events} e LEFT JOIN ${schema}.applied a ON a.event_id = e.id WHERE a.event_id IS NULL`,
    );
    console.log(
      `[kill projection] SIGKILLed at position ${STALL_AT} (batch ${committedBefore + 1}..${committedBefore + BATCH} open); ` +
        `checkpoint was ${committedBefore}; successor resumed at ${resumedFrom[0]}; read model: ${final?.rows} rows for ` +
        `${final?.events} events (${final?.worker} by the killed worker), ${twice.length} applied twice, ${missing.length} missing`,
    );
    expect(final).toEqual({ rows: EVENTS, events: EVENTS, worker: committedBefore });
    expect(twice).toEqual([]);
    expect(missing).toEqual([]);
    expect(await store.checkpoint('balances')).toBe(EVENTS);
  }, 120_000);
});
