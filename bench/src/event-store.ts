/**
 * Event store throughput: appends/s (single events and batches of 100, 4 concurrent writers),
 * readAll events/s, and the time to load a 10,000-event aggregate with and without snapshots (with:
 * the snapshot plus a tail of half the snapshot interval, as a typical load finds it).
 *
 * Part of `npm run bench` (`--no-event-store` skips it). PostgreSQL comes from DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test); the bench works in a schema of its own and drops it.
 */
import { randomUUID } from 'node:crypto';
import {
  type EventStore,
  MemoryEventStore,
  type NewEvent,
  PostgresEventStore,
  type StoredEvent,
} from '@eventport/event-store';
import { Pool } from 'pg';

export interface EventStoreBenchOptions {
  backend: 'postgres' | 'memory';
  databaseUrl?: string;
  writers?: number;
  /** Single-event appends per writer. */
  singleAppends?: number;
  /** Appends of 100 events per writer. */
  batchAppends?: number;
  aggregateEvents?: number;
  snapshotEvery?: number;
  /** Timed loads of the aggregate per variant (the median is reported). */
  loadRounds?: number;
}

export interface EventStoreBenchResult {
  backend: string;
  writers: number;
  singleAppendsPerSecond: number;
  batchOf100AppendsPerSecond: number;
  batchOf100EventsPerSecond: number;
  readAllEvents: number;
  readAllEventsPerSecond: number;
  aggregateEvents: number;
  /** Events after the snapshot when loading with snapshots. */
  snapshotTail: number;
  loadWithoutSnapshotsMs: number;
  loadWithSnapshotsMs: number;
  /** How many times faster the load from a snapshot is. */
  snapshotSpeedup: number;
}

const BATCH = 100;
const payload = (n: number) => ({ amountCents: n, note: 'benchmark event with a little text in it' });

export async function runEventStoreBench(options: EventStoreBenchOptions): Promise<EventStoreBenchResult> {
  const writers = options.writers ?? 4;
  const singleAppends = options.singleAppends ?? 500;
  const batchAppends = options.batchAppends ?? 50;
  const aggregateEvents = options.aggregateEvents ?? 10_000;
  const snapshotEvery = options.snapshotEvery ?? 100;
  const loadRounds = options.loadRounds ?? 5;
  const setup = await openStores(options, writers);
  try {
    const [reader] = setup.stores as [EventStore<unknown>];
    const single = await timed(() =>
      Promise.all(
        setup.stores.map(async (store, writer) => {
          for (let n = 0; n < singleAppends; n++) {
            await store.append(`single-${writer}`, { type: 'Deposited', data: payload(n) }, { expectedVersion: n });
          }
        }),
      ),
    );
    const batched = await timed(() =>
      Promise.all(
        setup.stores.map(async (store, writer) => {
          for (let n = 0; n < batchAppends; n++) {
            const events: NewEvent[] = Array.from({ length: BATCH }, (_, index) => ({
              type: 'Deposited',
              data: payload(index),
            }));
            await store.append(`batch-${writer}`, events, { expectedVersion: n * BATCH });
          }
        }),
      ),
    );

    let readAllEvents = 0;
    const read = await timed(async () => {
      for await (const _event of reader.readAll()) readAllEvents++;
    });

    for (let written = 0; written < aggregateEvents; written += 1_000) {
      const size = Math.min(1_000, aggregateEvents - written);
      await reader.append(
        'aggregate',
        Array.from({ length: size }, (_, index) => ({ type: 'Deposited', data: payload(written + index) })),
      );
    }
    const evolve = (balance: number, event: StoredEvent) =>
      balance + (event.data as { amountCents: number }).amountCents;
    const withoutSnapshots = await median(loadRounds, () => reader.load('aggregate', evolve, 0));
    await reader.load('aggregate', evolve, 0, { snapshotEvery }); // writes the snapshot at the head
    // A typical load then finds a tail of events after the snapshot: half the snapshot interval.
    const tail = Math.floor(snapshotEvery / 2);
    await reader.append(
      'aggregate',
      Array.from({ length: tail }, (_, index) => ({ type: 'Deposited', data: payload(index) })),
    );
    const withSnapshots = await median(loadRounds, () => reader.load('aggregate', evolve, 0, { snapshotEvery }));

    const singleTotal = writers * singleAppends;
    const batchTotal = writers * batchAppends;
    return {
      backend: options.backend,
      writers,
      singleAppendsPerSecond: Math.round(singleTotal / (single / 1_000)),
      batchOf100AppendsPerSecond: Math.round(batchTotal / (batched / 1_000)),
      batchOf100EventsPerSecond: Math.round((batchTotal * BATCH) / (batched / 1_000)),
      readAllEvents,
      readAllEventsPerSecond: Math.round(readAllEvents / (read / 1_000)),
      aggregateEvents: aggregateEvents + tail,
      snapshotTail: tail,
      loadWithoutSnapshotsMs: round(withoutSnapshots),
      loadWithSnapshotsMs: round(withSnapshots),
      snapshotSpeedup: round(withoutSnapshots / withSnapshots),
    };
  } finally {
    await setup.close();
  }
}

async function openStores(
  options: EventStoreBenchOptions,
  writers: number,
): Promise<{ stores: EventStore<unknown>[]; close: () => Promise<void> }> {
  if (options.backend === 'memory') {
    const store = new MemoryEventStore();
    return { stores: Array.from({ length: writers }, () => store as EventStore<unknown>), close: async () => {} };
  }
  const url = options.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `es_bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  // One connection per writer, as separate processes would have.
  const pools = Array.from({ length: writers }, () => new Pool({ connectionString: url, max: 1 }));
  const stores = pools.map((pool) => new PostgresEventStore({ pool, schema }) as EventStore<unknown>);
  await (stores[0] as PostgresEventStore).migrate();
  return {
    stores,
    close: async () => {
      await (pools[0] as Pool).query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await Promise.all(pools.map((pool) => pool.end()));
    },
  };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function median(rounds: number, work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) times.push(await timed(work));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
