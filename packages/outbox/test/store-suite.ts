import { randomUUID } from 'node:crypto';
import { EventportError, ForwardingAdapter, type PublishInput, silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { type OutboxRecord, OutboxRelay, type OutboxStore } from '@eventport/outbox';
import { eventually, sleep, Tally } from '@eventport/testkit';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

export interface StoreHarness<Tx> {
  store: OutboxStore<Tx>;
  /** Another store on the same data, as a second relay process would have (its own connections). */
  anotherStore(): OutboxStore<Tx>;
  /** Runs `work` in a transaction: commits when it resolves, rolls back when it throws. */
  transaction<R>(work: (tx: Tx) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}

const uniqueTopic = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

/** A memory adapter as the sink, plus a subscriber that records every id it receives. */
async function sink(topic: string) {
  const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
  const tally = new Tally();
  const received: Array<{ id: string; key?: string; data: unknown; headers: Record<string, string> }> = [];
  await adapter.subscribe(
    topic,
    (message) => {
      tally.record(message.id);
      received.push({ id: message.id, key: message.key, data: message.data, headers: message.headers });
    },
    { concurrency: 64 },
  );
  return { adapter, tally, received };
}

/** The store contract, run against every OutboxStore. */
export function describeOutboxStore<Tx>(name: string, makeHarness: () => Promise<StoreHarness<Tx>>): void {
  describe(`outbox store contract: ${name}`, () => {
    let harness: StoreHarness<Tx>;
    beforeAll(async () => {
      harness = await makeHarness();
    });
    afterAll(async () => {
      await harness?.close();
    });

    /** Drains what earlier cases left, so each case sees only its own events. */
    async function drainPending(): Promise<void> {
      while ((await harness.store.processBatch(1_000, async () => {})) > 0);
    }

    it('hands committed events over oldest first, with id, key, headers and payload, then marks them', async () => {
      await drainPending();
      const topic = uniqueTopic('orders');
      const ids = await harness.transaction(async (tx) => [
        await harness.store.add(tx, { topic, key: 'order-1', headers: { tenant: 'acme' }, data: { n: 1 } }),
        await harness.store.add(tx, { topic, data: Buffer.from([0, 1, 2, 255]), id: `custom-${randomUUID()}` }),
      ]);
      expect(await harness.store.countPending()).toBe(2);
      const seen: OutboxRecord[] = [];
      const count = await harness.store.processBatch(10, async (records) => {
        seen.push(...records);
      });
      expect(count).toBe(2);
      expect(seen.map((record) => record.id)).toEqual(ids);
      expect(seen[0]).toMatchObject({ topic, key: 'order-1', contentType: 'application/json', attempts: 0 });
      expect(seen[0]?.headers).toEqual({ tenant: 'acme', 'correlation-id': ids[0] });
      expect(JSON.parse(seen[0]!.payload.toString('utf8'))).toEqual({ n: 1 });
      expect(seen[1]?.key).toBeUndefined();
      expect(seen[1]?.contentType).toBe('application/octet-stream');
      expect([...seen[1]!.payload]).toEqual([0, 1, 2, 255]);
      expect(await harness.store.countPending()).toBe(0);
      const entry = await harness.store.get(ids[0]!);
      expect(entry?.publishedAt).toBeInstanceOf(Date);
      expect(entry?.attempts).toBe(1);
      expect(await harness.store.processBatch(10, async () => {})).toBe(0);
    });

    it('keeps nothing from a rolled-back transaction', async () => {
      await drainPending();
      const topic = uniqueTopic('rolled-back');
      let id = '';
      await expect(
        harness.transaction(async (tx) => {
          id = await harness.store.add(tx, { topic, data: { n: 1 } });
          throw new Error('business rule failed after the event was written');
        }),
      ).rejects.toThrow('business rule failed');
      expect(await harness.store.countPending()).toBe(0);
      expect(await harness.store.get(id)).toBeUndefined();
      const { adapter, tally } = await sink(topic);
      const relay = new OutboxRelay({ store: harness.store, adapter, logger: silentLogger });
      expect(await relay.publishPending()).toBe(0);
      await sleep(50);
      console.log(`[outbox ${name}] rolled-back transaction: ${tally.strangers.length} messages published`);
      expect(tally.strangers).toEqual([]);
    });

    it('records the error on a failed publish, keeps the events pending and in order, clears it on success', async () => {
      await drainPending();
      const topic = uniqueTopic('failing');
      const ids = await harness.transaction(async (tx) => [
        await harness.store.add(tx, { topic, data: 1 }),
        await harness.store.add(tx, { topic, data: 2 }),
      ]);
      await expect(
        harness.store.processBatch(10, async () => {
          throw new EventportError('CONNECTION', 'broker unreachable');
        }),
      ).rejects.toThrow('broker unreachable');
      const failed = await harness.store.get(ids[0]!);
      expect(failed?.attempts).toBe(1);
      expect(failed?.lastError).toContain('broker unreachable');
      expect(failed?.publishedAt).toBeUndefined();
      expect(await harness.store.countPending()).toBe(2);
      const retried: string[] = [];
      await harness.store.processBatch(10, async (records) => {
        retried.push(...records.map((record) => record.id));
      });
      expect(retried).toEqual(ids);
      const published = await harness.store.get(ids[0]!);
      expect(published?.attempts).toBe(2);
      expect(published?.lastError).toBeUndefined();
    });

    it('never hands the same event to two concurrent batches', async () => {
      await drainPending();
      const topic = uniqueTopic('concurrent');
      await harness.transaction(async (tx) => {
        for (let n = 0; n < 10; n++) await harness.store.add(tx, { topic, data: n });
      });
      const other = harness.anotherStore();
      let releaseFirst: () => void = () => {};
      const firstIds: string[] = [];
      const first = harness.store.processBatch(4, async (records) => {
        firstIds.push(...records.map((record) => record.id));
        await new Promise<void>((resolve) => {
          releaseFirst = resolve;
        });
      });
      await eventually(() => firstIds.length > 0, 5_000);
      const secondIds: string[] = [];
      await other.processBatch(100, async (records) => {
        secondIds.push(...records.map((record) => record.id));
      });
      releaseFirst();
      await first;
      expect(firstIds).toHaveLength(4);
      expect(secondIds).toHaveLength(6);
      expect(secondIds.filter((id) => firstIds.includes(id))).toEqual([]);
    });

    it('deletes only published events older than the cut-off', async () => {
      await drainPending();
      const topic = uniqueTopic('cleanup');
      const [oldId] = await harness.transaction(async (tx) => [await harness.store.add(tx, { topic, data: 'old' })]);
      await harness.store.processBatch(10, async () => {});
      await sleep(20);
      const cutOff = new Date();
      await sleep(20);
      const [pendingId] = await harness.transaction(async (tx) => [
        await harness.store.add(tx, { topic, data: 'pending' }),
      ]);
      expect(await harness.store.deletePublished(cutOff)).toBeGreaterThanOrEqual(1);
      expect(await harness.store.get(oldId!)).toBeUndefined();
      expect(await harness.store.get(pendingId!)).toBeDefined();
    });

    it('rejects a malformed event inside the transaction with a typed error', async () => {
      await expect(
        harness.transaction((tx) => harness.store.add(tx, { topic: 'bad topic!', data: 1 })),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(
        harness.transaction((tx) => harness.store.add(tx, { topic: 'ok', headers: { 'ce-id': 'x' }, data: 1 })),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const id = `dup-${randomUUID()}`;
      await harness.transaction((tx) => harness.store.add(tx, { topic: 'ok', id, data: 1 }));
      await expect(
        harness.transaction((tx) => harness.store.add(tx, { topic: 'ok', id, data: 2 })),
      ).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await drainPending();
    });

    it('relay: publishes through an adapter with the event id as message id, backing off on broker errors', async () => {
      await drainPending();
      const topic = uniqueTopic('relay');
      const { adapter, tally, received } = await sink(topic);
      let failuresLeft = 3;
      class FlakyBroker extends ForwardingAdapter {
        override publishBatch<T>(messages: readonly PublishInput<T>[]) {
          if (failuresLeft-- > 0) return Promise.reject(new EventportError('CONNECTION', 'broker down'));
          return super.publishBatch(messages);
        }
      }
      const errors: unknown[] = [];
      const relay = new OutboxRelay({
        store: harness.store,
        adapter: new FlakyBroker(adapter),
        batchSize: 7,
        pollIntervalMs: 20,
        initialBackoffMs: 5,
        maxBackoffMs: 20,
        onError: (error) => errors.push(error),
      });
      const ids = await harness.transaction(async (tx) => {
        const added: string[] = [];
        for (let n = 0; n < 30; n++) {
          added.push(await harness.store.add(tx, { topic, key: `k${n % 3}`, headers: { n: String(n) }, data: { n } }));
        }
        return added;
      });
      tally.expect(ids);
      relay.start();
      expect(await tally.waitForAll(20_000)).toBe(true);
      await relay.stop();
      console.log(`[outbox ${name}] relay through a flaky broker`, tally.summary(), `errors=${errors.length}`);
      expect(tally.summary()).toEqual({ published: 30, receivedUnique: 30, missing: 0, duplicates: 0 });
      expect(errors).toHaveLength(3);
      // One relay: per-key order is the commit order.
      for (const key of ['k0', 'k1', 'k2']) {
        const ns = received
          .filter((message) => message.key === key)
          .map((message) => (message.data as { n: number }).n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
      expect(received[0]?.headers).toMatchObject({ n: '0', 'correlation-id': ids[0] });
      expect((await harness.store.get(ids[0]!))?.attempts).toBe(4);
    });

    it('relay: wakes on a commit notification instead of waiting for the next poll', async () => {
      await drainPending();
      const topic = uniqueTopic('notify');
      const { adapter, tally } = await sink(topic);
      const relay = new OutboxRelay({ store: harness.store, adapter, pollIntervalMs: 300_000, logger: silentLogger });
      relay.start();
      await sleep(300);
      const id = await harness.transaction((tx) => harness.store.add(tx, { topic, data: 'wake up' }));
      tally.expect([id]);
      expect(await tally.waitForAll(10_000)).toBe(true);
      await relay.stop();
    });

    it('relay: cleans up published events past their retention', async () => {
      await drainPending();
      const topic = uniqueTopic('retention');
      const { adapter, tally } = await sink(topic);
      const id = await harness.transaction((tx) => harness.store.add(tx, { topic, data: 1 }));
      tally.expect([id]);
      const relay = new OutboxRelay({
        store: harness.store,
        adapter,
        pollIntervalMs: 20,
        cleanup: { retainMs: 0, intervalMs: 10 },
        logger: silentLogger,
      });
      relay.start();
      expect(await tally.waitForAll(10_000)).toBe(true);
      const deadline = Date.now() + 10_000;
      while ((await harness.store.get(id)) && Date.now() < deadline) await sleep(20);
      await relay.stop();
      expect(await harness.store.get(id)).toBeUndefined();
    });

    it('3 concurrent relays publish 10,000 committed events exactly once', async () => {
      await drainPending();
      const topic = uniqueTopic('ten-thousand');
      const { adapter, tally } = await sink(topic);
      const relays = [harness.store, harness.anotherStore(), harness.anotherStore()].map(
        (store) => new OutboxRelay({ store, adapter, batchSize: 100, pollIntervalMs: 50, logger: silentLogger }),
      );
      for (const relay of relays) relay.start();
      for (let batch = 0; batch < 20; batch++) {
        const ids = await harness.transaction(async (tx) => {
          const added: string[] = [];
          for (let n = 0; n < 500; n++) added.push(await harness.store.add(tx, { topic, data: { batch, n } }));
          return added;
        });
        tally.expect(ids);
      }
      expect(await tally.waitForAll(120_000)).toBe(true);
      await sleep(200);
      await Promise.all(relays.map((relay) => relay.stop()));
      const summary = tally.summary();
      console.log(
        `[outbox ${name}] 3 relays: ${JSON.stringify(summary)}; per relay ${relays.map((relay) => relay.published).join('/')}`,
      );
      expect(summary).toEqual({ published: 10_000, receivedUnique: 10_000, missing: 0, duplicates: 0 });
      expect(relays.reduce((sum, relay) => sum + relay.published, 0)).toBe(10_000);
      expect(await harness.store.countPending()).toBe(0);
    }, 180_000);
  });
}
