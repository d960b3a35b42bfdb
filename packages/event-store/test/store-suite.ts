import { randomUUID } from 'node:crypto';
import { defineEvent, EventportError, runInMessageContext, silentLogger } from '@eventport/core';
import {
  ConcurrencyError,
  type EventRouting,
  type EventStore,
  type EventStoreOptions,
  type NewEvent,
  type StoredEvent,
} from '@eventport/event-store';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { OutboxRelay, type OutboxStore } from '@eventport/outbox';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';

export interface StoreHarness<Tx> {
  /** A new, empty store (its own tables or instance), so positions start at 1 in every case. */
  fresh(options?: EventStoreOptions): Promise<EventStore<Tx>>;
  /** A new, empty store whose appends also go to an outbox of the same kind (memory or PostgreSQL). */
  freshWithOutbox(routing: EventRouting): Promise<{ store: EventStore<Tx>; outbox: OutboxStore<never> }>;
  close(): Promise<void>;
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

const event = (type: string, data: unknown, extra: Partial<NewEvent> = {}): NewEvent => ({ type, data, ...extra });
const numbered = (count: number, type = 'Numbered') =>
  Array.from({ length: count }, (_, index) => event(type, { n: index + 1 }));

/** An aggregate for the fold cases: a running total and how many events built it. */
interface Tally {
  total: number;
  count: number;
}
const addUp = (state: Tally, stored: StoredEvent): Tally => ({
  total: state.total + (stored.data as { n: number }).n,
  count: state.count + 1,
});
const zero: Tally = { total: 0, count: 0 };

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** The event store contract, run against every store. */
export function describeEventStore<Tx>(name: string, makeHarness: () => Promise<StoreHarness<Tx>>): void {
  describe(`event store contract: ${name}`, () => {
    let harness: StoreHarness<Tx>;
    beforeAll(async () => {
      harness = await makeHarness();
    });
    afterAll(async () => {
      await harness?.close();
    });

    it('appends each call atomically with consecutive versions and gap-free global positions', async () => {
      const store = await harness.fresh();
      const first = await store.append('account-a', [event('Opened', { owner: 'ada' }), event('Deposited', { n: 5 })], {
        expectedVersion: 'no-stream',
      });
      expect(first.version).toBe(2);
      expect(first.events.map((each) => [each.version, each.position])).toEqual([
        [1, 1],
        [2, 2],
      ]);
      const other = await store.append('account-b', event('Opened', { owner: 'bob' }));
      expect(other.events[0]).toMatchObject({ streamId: 'account-b', version: 1, position: 3 });
      const third = await store.append('account-a', numbered(3, 'Deposited'), { expectedVersion: 2 });
      expect(third.version).toBe(5);
      expect(third.events.map((each) => [each.version, each.position])).toEqual([
        [3, 4],
        [4, 5],
        [5, 6],
      ]);

      const stream = await collect(store.readStream('account-a'));
      expect(stream.map((each) => each.version)).toEqual([1, 2, 3, 4, 5]);
      expect(stream.map((each) => each.type)).toEqual(['Opened', 'Deposited', 'Deposited', 'Deposited', 'Deposited']);
      expect(stream[0]).toEqual(first.events[0]);
      expect(stream[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(stream[0]?.occurredAt).toBeInstanceOf(Date);
      expect(stream[0]?.data).toEqual({ owner: 'ada' });
      const all = await collect(store.readAll());
      expect(all.map((each) => each.position)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(all.map((each) => each.streamId)).toEqual([
        'account-a',
        'account-a',
        'account-b',
        'account-a',
        'account-a',
        'account-a',
      ]);
      expect(await store.streamVersion('account-a')).toBe(5);
      expect(await store.streamVersion('never-written')).toBe(0);
      expect(await store.headPosition()).toBe(6);
    });

    it('checks every kind of expectedVersion; a conflict carries the expected and the actual version', async () => {
      const store = await harness.fresh();
      await store.append('s', event('A', 1), { expectedVersion: 'no-stream' });

      const conflict = (await rejection(
        store.append('s', event('A', 2), { expectedVersion: 'no-stream' }),
      )) as ConcurrencyError;
      expect(conflict).toBeInstanceOf(ConcurrencyError);
      expect(conflict).toBeInstanceOf(EventportError);
      expect(conflict).toMatchObject({
        code: 'CONFLICT',
        streamId: 's',
        expectedVersion: 'no-stream',
        actualVersion: 1,
        retryable: false,
      });
      expect(conflict.message).toContain('version 1');

      expect(await rejection(store.append('new', event('A', 1), { expectedVersion: 'exists' }))).toMatchObject({
        code: 'CONFLICT',
        expectedVersion: 'exists',
        actualVersion: 0,
      });
      await store.append('s', event('A', 2), { expectedVersion: 'exists' });
      await store.append('s', event('A', 3), { expectedVersion: 2 });
      expect(await rejection(store.append('s', event('A', 4), { expectedVersion: 2 }))).toMatchObject({
        code: 'CONFLICT',
        expectedVersion: 2,
        actualVersion: 3,
      });
      expect(await rejection(store.append('s', event('A', 4), { expectedVersion: 0 }))).toMatchObject({
        expectedVersion: 0,
        actualVersion: 3,
      });
      expect(await rejection(store.append('s', event('A', 4), { expectedVersion: 7 }))).toMatchObject({
        expectedVersion: 7,
        actualVersion: 3,
      });
      await store.append('s', event('A', 4), { expectedVersion: 'any' });
      await store.append('s', event('A', 5));
      await store.append('fresh', event('A', 1), { expectedVersion: 0 });

      // The losers wrote nothing: versions and positions stayed gap-free.
      expect((await collect(store.readStream('s'))).map((each) => each.data)).toEqual([1, 2, 3, 4, 5]);
      expect((await collect(store.readAll())).map((each) => each.position)).toEqual([1, 2, 3, 4, 5, 6]);

      for (const expectedVersion of [-1, 1.5, 'latest'] as never[]) {
        expect(await rejection(store.append('s', event('A', 6), { expectedVersion }))).toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
      }
    });

    it('writes nothing of an append that fails validation or reuses an event id', async () => {
      const store = await harness.fresh();
      const { events } = await store.append('s', event('A', 1, { id: 'event-1' }));
      expect(events[0]?.id).toBe('event-1');

      expect(await rejection(store.append('s', [event('A', 2), event('', 3)]))).toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(await rejection(store.append('s', [event('A', 2), event('A', undefined)]))).toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(
        await rejection(store.append('s', [event('A', 2), event('A', 3, { metadata: { 'ce-id': 'reserved' } })])),
      ).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await rejection(store.append('', event('A', 2)))).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await rejection(store.append('s', [event('A', 2), event('A', 3, { id: 'event-1' })]))).toMatchObject({
        code: 'ALREADY_EXISTS',
      });
      expect(
        await rejection(store.append('s', [event('A', 2, { id: 'twice' }), event('A', 3, { id: 'twice' })])),
      ).toMatchObject({ code: 'ALREADY_EXISTS' });

      expect(await store.streamVersion('s')).toBe(1);
      expect(await store.headPosition()).toBe(1);
      expect(await store.append('s', [], { expectedVersion: 1 })).toEqual({ streamId: 's', version: 1, events: [] });
      expect(await rejection(store.append('s', [], { expectedVersion: 'no-stream' }))).toBeInstanceOf(ConcurrencyError);
      const next = await store.append('s', event('A', 2));
      expect(next.events[0]).toMatchObject({ version: 2, position: 2 });
    });

    it("stamps correlation and causation ids from the message being handled, and keeps the caller's metadata", async () => {
      const store = await harness.fresh();
      const [started] = (await store.append('order-1', event('Started', {}))).events;
      expect(started?.metadata).toEqual({ 'correlation-id': started?.id });

      const command = { id: 'command-7', headers: { 'correlation-id': 'flow-9' } };
      const handled = await runInMessageContext(command, () =>
        store.append('order-1', [event('Priced', { cents: 5 }, { metadata: { tenant: 'acme' } }), event('Paid', {})]),
      );
      for (const each of handled.events) {
        expect(each.metadata).toMatchObject({ 'correlation-id': 'flow-9', 'causation-id': 'command-7' });
      }
      expect(handled.events[0]?.metadata.tenant).toBe('acme');
      const explicit = await runInMessageContext(command, () =>
        store.append('order-2', event('Started', {}, { metadata: { 'correlation-id': 'mine' } })),
      );
      expect(explicit.events[0]?.metadata).toMatchObject({ 'correlation-id': 'mine', 'causation-id': 'command-7' });

      const flow = await collect(store.readAll({ correlationId: 'flow-9' }));
      expect(flow.map((each) => each.type)).toEqual(['Priced', 'Paid']);
      expect(flow[0]?.metadata).toEqual({ 'correlation-id': 'flow-9', 'causation-id': 'command-7', tenant: 'acme' });
    });

    it('reads a stream forward, backward and by version range, a page at a time', async () => {
      const store = await harness.fresh({ pageSize: 4 });
      await store.append('s', numbered(10));
      await store.append('other', numbered(3));
      await store.append('s', numbered(15).slice(10));
      const versions = async (options: Parameters<typeof store.readStream>[1]) =>
        (await collect(store.readStream('s', options))).map((each) => each.version);
      const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

      expect(await versions({})).toEqual(range(1, 15));
      expect(await versions({ pageSize: 1 })).toEqual(range(1, 15));
      expect(await versions({ direction: 'backward' })).toEqual(range(1, 15).reverse());
      expect(await versions({ fromVersion: 5, toVersion: 12 })).toEqual(range(5, 12));
      expect(await versions({ fromVersion: 5, toVersion: 12, direction: 'backward' })).toEqual(range(5, 12).reverse());
      expect(await versions({ fromVersion: 12 })).toEqual(range(12, 15));
      expect(await versions({ toVersion: 8, pageSize: 8 })).toEqual(range(1, 8));
      expect(await versions({ fromVersion: 16 })).toEqual([]);
      expect(await collect(store.readStream('missing'))).toEqual([]);
      expect(await rejection(collect(store.readStream('s', { fromVersion: 0 })))).toMatchObject({
        code: 'INVALID_ARGUMENT',
      });

      const newestThree: number[] = [];
      for await (const each of store.readStream('s', { direction: 'backward' })) {
        newestThree.push(each.version);
        if (newestThree.length === 3) break;
      }
      expect(newestThree).toEqual([15, 14, 13]);
    });

    it('reads all streams in position order, filtered by type, time, correlation id and limit, a page at a time', async () => {
      const store = await harness.fresh({ pageSize: 3 });
      const at = (minute: number) => new Date(Date.UTC(2024, 0, 1, 12, minute));
      for (let n = 1; n <= 12; n++) {
        await store.append(`s${n % 3}`, event(n % 2 ? 'Odd' : 'Even', { n }, { occurredAt: at(n) }));
      }
      const numbers = async (options: Parameters<typeof store.readAll>[0]) =>
        (await collect(store.readAll(options))).map((each) => (each.data as { n: number }).n);

      expect(await numbers({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(await numbers({ fromPosition: 10 })).toEqual([10, 11, 12]);
      expect(await numbers({ types: ['Even'] })).toEqual([2, 4, 6, 8, 10, 12]);
      expect(await numbers({ types: ['Even', 'Odd'], limit: 4 })).toEqual([1, 2, 3, 4]);
      expect(await numbers({ since: at(4), until: at(7) })).toEqual([4, 5, 6, 7]);
      expect(await numbers({ types: ['Odd'], since: at(4), fromPosition: 6, limit: 2 })).toEqual([7, 9]);
      expect(await numbers({ limit: 6, pageSize: 2 })).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await numbers({ limit: 0 })).toEqual([]);
      expect(await numbers({ types: [] })).toEqual([]);
      expect(await numbers({ correlationId: 'nobody' })).toEqual([]);
      const stored = (await collect(store.readAll({ fromPosition: 5, limit: 1 })))[0];
      expect(stored?.occurredAt.toISOString()).toBe(at(5).toISOString());
    });

    it('validates appends and upcasts stored events of older versions through the defineEvent registry', async () => {
      const Deposited = defineEvent('Deposited').version(1, z.object({ amount: z.number() }));
      const store = await harness.fresh({ events: [Deposited] });
      await store.append('account', [event('Deposited', { amount: 12.5 }), event('Unregistered', { free: true })]);
      expect(await rejection(store.append('account', event('Deposited', { amount: 'ten' })))).toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      const [old] = await collect(store.readStream('account'));
      expect(old?.metadata['event-version']).toBe('1');

      // The next release of the service: v2 counts cents, and old events are read through the upcaster.
      Deposited.version(2, z.object({ amountCents: z.number().int() })).upcast(1, 2, (data) => ({
        amountCents: Math.round((data as { amount: number }).amount * 100),
      }));
      await store.append('account', event('Deposited', { amountCents: 300 }));
      const read = await collect(store.readStream('account'));
      expect(read.map((each) => each.data)).toEqual([{ amountCents: 1250 }, { free: true }, { amountCents: 300 }]);
      expect(read.map((each) => each.metadata['event-version'])).toEqual(['2', undefined, '2']);
      expect((await collect(store.readAll({ types: ['Deposited'] }))).map((each) => each.data)).toEqual([
        { amountCents: 1250 },
        { amountCents: 300 },
      ]);
      const loaded = await store.load(
        'account',
        (cents: number, each) =>
          each.type === 'Deposited' ? cents + (each.data as { amountCents: number }).amountCents : cents,
        0,
      );
      expect(loaded.state).toBe(1550);
    });

    it('folds a stream with load() and answers time travel with stateAt()', async () => {
      const store = await harness.fresh();
      const at = (second: number) => new Date(Date.UTC(2024, 5, 1, 9, 0, second));
      await store.append(
        'counter',
        [1, 2, 3, 4].map((n) => event('Numbered', { n }, { occurredAt: at(n * 10) })),
      );
      expect(await store.load('counter', addUp, zero)).toEqual({
        state: { total: 10, count: 4 },
        version: 4,
        snapshotVersion: 0,
      });
      expect(await store.load('nothing', addUp, zero)).toEqual({ state: zero, version: 0, snapshotVersion: 0 });
      expect((await store.stateAt('counter', addUp, zero, { version: 2 })).state).toEqual({ total: 3, count: 2 });
      expect((await store.stateAt('counter', addUp, zero, { version: 0 })).state).toEqual(zero);
      expect(await store.stateAt('counter', addUp, zero, { version: 99 })).toMatchObject({ version: 4 });
      expect(await store.stateAt('counter', addUp, zero, { time: at(35) })).toMatchObject({
        state: { total: 6, count: 3 },
        version: 3,
      });
      expect(await store.stateAt('counter', addUp, zero, { time: at(30) })).toMatchObject({ version: 3 });
      expect(await store.stateAt('counter', addUp, zero, { time: at(5) })).toMatchObject({ state: zero, version: 0 });
    });

    it('writes a snapshot every N events and loads the newest snapshot plus the tail', async () => {
      const store = await harness.fresh();
      let folded = 0;
      const counting = (state: Tally, each: StoredEvent) => {
        folded++;
        return addUp(state, each);
      };
      const load = async (options: Parameters<typeof store.load>[3]) => {
        folded = 0;
        const loaded = await store.load('big', counting, zero, options);
        return { ...loaded, folded };
      };
      await store.append('big', numbered(25));

      expect(await load({ snapshotEvery: 10 })).toEqual({
        state: { total: 325, count: 25 },
        version: 25,
        snapshotVersion: 0,
        folded: 25,
      });
      expect(await load({ snapshotEvery: 10 })).toMatchObject({ version: 25, snapshotVersion: 25, folded: 0 });
      await store.append('big', numbered(7));
      expect(await load({ snapshotEvery: 10 })).toMatchObject({ version: 32, snapshotVersion: 25, folded: 7 });
      // Seven events on top of the snapshot is fewer than ten: no new one yet.
      expect(await load({ snapshotEvery: 10 })).toMatchObject({ snapshotVersion: 25, folded: 7 });
      await store.append('big', numbered(3));
      expect(await load({ snapshotEvery: 10 })).toMatchObject({ version: 35, snapshotVersion: 25, folded: 10 });
      const fromSnapshot = await load({ snapshotEvery: 10 });
      expect(fromSnapshot).toMatchObject({ version: 35, snapshotVersion: 35, folded: 0 });
      expect(fromSnapshot.state).toEqual((await load({})).state);

      // A new shape of the state ignores snapshots of the old one, and gets its own.
      expect(await load({ snapshotEvery: 10, schemaVersion: 2 })).toMatchObject({ snapshotVersion: 0, folded: 35 });
      expect(await load({ snapshotEvery: 10, schemaVersion: 2 })).toMatchObject({ snapshotVersion: 35, folded: 0 });
      expect(await load({ snapshotEvery: 10, snapshotName: 'other-fold' })).toMatchObject({ snapshotVersion: 0 });
      // Without snapshotEvery nothing is read from snapshots.
      expect(await load({})).toMatchObject({ snapshotVersion: 0, folded: 35 });
      expect(await rejection(load({ snapshotEvery: 0 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('projects every event once and in order, follows new ones, and resumes from its stored checkpoint', async () => {
      const store = await harness.fresh();
      await store.append('a', numbered(130));
      const seen: number[] = [];
      const projection = store.project('totals', (each) => void seen.push(each.position), { batchSize: 25 });
      expect(await projection.caughtUp()).toBe(130);
      await store.append('b', numbered(5));
      expect(await projection.caughtUp()).toBe(135);
      expect(seen).toEqual(Array.from({ length: 135 }, (_, index) => index + 1));
      expect(await store.checkpoint('totals')).toBe(135);
      expect(() => store.project('totals', () => {})).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
      await projection.stop();
      expect(projection.running).toBe(false);

      await store.append('a', numbered(3));
      const resumed: number[] = [];
      const again = store.project('totals', (each) => void resumed.push(each.position));
      expect(await again.caughtUp()).toBe(138);
      expect(resumed).toEqual([136, 137, 138]);
      await store.close();
      await store.append('a', numbered(1));
      expect(await rejection(again.caughtUp())).toMatchObject({ code: 'CLOSED' });
    });

    it('hands a projection only the chosen types, and still moves its checkpoint to the head', async () => {
      const store = await harness.fresh();
      await store.append('a', [...numbered(3, 'Kept'), ...numbered(4, 'Skipped')]);
      const seen: string[] = [];
      const projection = store.project('kept-only', (each) => void seen.push(each.type), {
        types: ['Kept'],
        batchSize: 2,
      });
      expect(await projection.caughtUp()).toBe(7);
      expect(seen).toEqual(['Kept', 'Kept', 'Kept']);
      await projection.stop();
    });

    it('retries a failing batch with backoff and never skips the event that failed', async () => {
      const store = await harness.fresh();
      await store.append('a', numbered(6));
      const applied: number[] = [];
      const errors: unknown[] = [];
      let failuresLeft = 2;
      const projection = store.project(
        'flaky',
        (each) => {
          if (each.position === 4 && failuresLeft-- > 0) throw new Error('read model unavailable');
          applied.push(each.position);
        },
        { batchSize: 3, onError: (error) => errors.push(error) },
      );
      expect(await projection.caughtUp()).toBe(6);
      expect(errors).toHaveLength(2);
      expect(String(errors[0])).toContain('read model unavailable');
      // The batch 4..6 committed once, after the failure stopped: nothing after 4 ran before 4 succeeded.
      expect(applied).toEqual([1, 2, 3, 4, 5, 6]);
      await projection.stop();
    });

    it('rebuilds a projection from scratch with progress, then keeps following', async () => {
      const store = await harness.fresh();
      await store.append('a', numbered(45));
      let view = new Map<number, number>();
      let resets = 0;
      const projection = store.project('view', (each) => void view.set(each.position, (each.data as { n: number }).n), {
        batchSize: 10,
        reset: () => {
          resets++;
          view = new Map();
        },
      });
      await projection.caughtUp();
      expect(view.size).toBe(45);
      const progress: Array<[number, number, number]> = [];
      const rebuilt = await store.rebuild('view', {
        onProgress: ({ applied, position, head }) => progress.push([applied, position, head]),
      });
      expect(rebuilt).toEqual({ applied: 45, position: 45 });
      expect(resets).toBe(1);
      expect(progress).toEqual([
        [10, 10, 45],
        [20, 20, 45],
        [30, 30, 45],
        [40, 40, 45],
        [45, 45, 45],
      ]);
      expect(view.size).toBe(45);
      expect(projection.running).toBe(true);
      await store.append('a', numbered(2));
      expect(await projection.caughtUp()).toBe(47);
      expect(view.size).toBe(47);
      await projection.stop();

      expect(await rejection(store.rebuild('unknown'))).toMatchObject({ code: 'NOT_FOUND' });
      store.project('no-reset', () => {});
      expect(await rejection(store.rebuild('no-reset'))).toMatchObject({ code: 'INVALID_ARGUMENT' });
      await store.close();
    });

    it('replays stored events to any adapter with their original ids and metadata, filtered, with progress every 100', async () => {
      const store = await harness.fresh();
      const topic = `replay-${randomUUID().slice(0, 8)}`;
      const flow = { id: 'command-1', headers: { 'correlation-id': 'flow-1' } };
      await runInMessageContext(flow, () => store.append('acct-1', numbered(150, 'Deposited')));
      await store.append('acct-2', numbered(100, 'Deposited'));
      await store.append('acct-1', event('Closed', {}));

      const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
      const received: Array<{ id: string; key?: string; data: unknown; headers: Record<string, string> }> = [];
      await adapter.subscribe(topic, (message) => void received.push(message), { concurrency: 1 });
      const progress: number[] = [];
      const result = await store.replay({
        to: adapter,
        topic,
        types: ['Deposited'],
        onProgress: ({ published }) => progress.push(published),
      });
      expect(result).toEqual({ published: 250, position: 250 });
      expect(progress).toEqual([100, 200, 250]);
      expect(await eventually(() => received.length === 250)).toBe(true);
      const stored = await collect(store.readAll({ types: ['Deposited'] }));
      expect(new Set(received.map((message) => message.id))).toEqual(new Set(stored.map((each) => each.id)));
      const first = received.find((message) => message.id === stored[0]?.id);
      expect(first).toMatchObject({ key: 'acct-1', data: { n: 1 } });
      expect(first?.headers).toMatchObject({
        'correlation-id': 'flow-1',
        'causation-id': 'command-1',
        'event-type': 'Deposited',
        'stream-id': 'acct-1',
        'stream-version': '1',
        'global-position': '1',
      });

      // A replay of one stream, run again: the same ids, so a consumer deduping on ids drops every repeat.
      received.length = 0;
      const again = await runInMessageContext({ id: 'unrelated', headers: {} }, () =>
        store.replay({ to: adapter, topic, streamId: 'acct-1' }),
      );
      expect(again).toEqual({ published: 151, position: 251 });
      expect(await eventually(() => received.length === 151)).toBe(true);
      const acct1 = await collect(store.readStream('acct-1'));
      expect(received.map((message) => message.id).sort()).toEqual(acct1.map((each) => each.id).sort());
      expect(received.every((message) => message.headers['causation-id'] !== 'unrelated')).toBe(true);

      received.length = 0;
      const byType = await store.replay({ to: adapter, topic: () => topic, streamId: 'acct-1', types: ['Closed'] });
      expect(byType.published).toBe(1);
      expect(await eventually(() => received.length === 1)).toBe(true);
      expect(await rejection(store.replay({ to: adapter, speed: 0 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
      await adapter.disconnect();
    });

    it('replays at a multiple of the original timing, and only the chosen time window', async () => {
      const store = await harness.fresh();
      const topic = `timed-${randomUUID().slice(0, 8)}`;
      const start = Date.UTC(2024, 0, 1);
      // Events one minute apart; at 200x speed that is 300 ms between them.
      await store.append(
        'clock',
        [0, 1, 2, 3].map((minute) => event('Tick', { minute }, { occurredAt: new Date(start + minute * 60_000) })),
      );
      const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
      const arrivals: number[] = [];
      await adapter.subscribe(topic, () => void arrivals.push(Date.now()), { concurrency: 1 });
      const began = Date.now();
      const result = await store.replay({
        to: adapter,
        topic,
        speed: 200,
        since: new Date(start + 60_000),
        until: new Date(start + 180_000),
      });
      const took = Date.now() - began;
      expect(result.published).toBe(3);
      expect(await eventually(() => arrivals.length === 3)).toBe(true);
      expect(took).toBeGreaterThanOrEqual(550);
      expect(took).toBeLessThan(5_000);
      expect((arrivals[2] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(500);
      await adapter.disconnect();
    });

    it('writes appended events to the outbox in the same commit, and nothing of an append that fails', async () => {
      const topic = `outbox-${randomUUID().slice(0, 8)}`;
      const { store, outbox } = await harness.freshWithOutbox({ topic });
      const appended = await store.append('order-1', [event('Placed', { cents: 10 }), event('Paid', {})], {
        expectedVersion: 'no-stream',
      });
      expect(await outbox.countPending()).toBe(2);
      expect(
        await rejection(store.append('order-1', event('Placed', {}), { expectedVersion: 'no-stream' })),
      ).toBeInstanceOf(ConcurrencyError);
      expect(await rejection(store.append('order-2', [event('Placed', {}), event('Placed', undefined)]))).toMatchObject(
        {
          code: 'INVALID_ARGUMENT',
        },
      );
      expect(await outbox.countPending()).toBe(2);
      const entry = await outbox.get(appended.events[0]?.id as string);
      expect(entry).toMatchObject({ topic, key: 'order-1' });
      expect(entry?.headers).toMatchObject({ 'event-type': 'Placed', 'stream-version': '1', 'global-position': '1' });

      const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
      const received: Array<{ id: string; data: unknown }> = [];
      await adapter.subscribe(topic, (message) => void received.push(message), { concurrency: 1 });
      const relay = new OutboxRelay({ store: outbox, adapter, logger: silentLogger });
      expect(await relay.publishPending()).toBe(2);
      expect(await eventually(() => received.length === 2)).toBe(true);
      expect(received.map((message) => message.id)).toEqual(appended.events.map((each) => each.id));
      expect(received[0]?.data).toEqual({ cents: 10 });
      await adapter.disconnect();
    });

    it('concurrent writers with expectedVersion: one winner per version, every loser told so', async () => {
      const store = await harness.fresh();
      const result = await raceWriters(store, 'contended', 8, 5);
      expect(result.versions).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
      expect(result.winnersPerVersion.every((winners) => winners === 1)).toBe(true);
      expect(result.conflicts).toBeGreaterThan(0);
      expect(result.conflicts).toBe(result.attempts - 40);
      expect(result.conflictsReportedStale).toBe(true);
    });
  });
}

export interface RaceResult {
  versions: number[];
  attempts: number;
  conflicts: number;
  /** How many appends succeeded with each expected version (index = version - 1). */
  winnersPerVersion: number[];
  /** Every conflict named an actual version beyond the one the loser expected. */
  conflictsReportedStale: boolean;
}

/**
 * `writers` concurrent writers, each appending `each` events one at a time with the version it just
 * read as expectedVersion, retrying after every ConcurrencyError.
 */
export async function raceWriters<Tx>(
  stores: EventStore<Tx> | Array<EventStore<Tx>>,
  streamId: string,
  writers: number,
  each: number,
): Promise<RaceResult> {
  const storeOf = (writer: number) => (Array.isArray(stores) ? (stores[writer] as EventStore<Tx>) : stores);
  const wins = new Map<number, number>();
  let attempts = 0;
  let conflicts = 0;
  let stale = true;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const store = storeOf(writer);
      for (let written = 0; written < each; ) {
        const expectedVersion = await store.streamVersion(streamId);
        attempts++;
        try {
          const result = await store.append(streamId, event('Written', { writer, written }), { expectedVersion });
          wins.set(expectedVersion, (wins.get(expectedVersion) ?? 0) + 1);
          expect(result.version).toBe(expectedVersion + 1);
          written++;
        } catch (error) {
          if (!(error instanceof ConcurrencyError)) throw error;
          conflicts++;
          if (!(error.actualVersion > expectedVersion && error.expectedVersion === expectedVersion)) stale = false;
        }
      }
    }),
  );
  const stored = await collect(storeOf(0).readStream(streamId));
  const total = writers * each;
  return {
    versions: stored.map((stored) => stored.version),
    attempts,
    conflicts,
    winnersPerVersion: Array.from({ length: total }, (_, index) => wins.get(index) ?? 0),
    conflictsReportedStale: stale,
  };
}
