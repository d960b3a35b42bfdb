import { randomUUID } from 'node:crypto';
import { type EventAdapter, type ReceivedMessage, silentLogger } from '@eventport/core';
import { Inbox, type InboxDuplicate, inboxTransaction, MemoryInboxStore, withInbox } from '@eventport/inbox';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually, sleep } from '@eventport/testkit';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';

const opened: EventAdapter[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((adapter) => adapter.disconnect()));
});

function memory(broker = new MemoryBroker()): EventAdapter {
  const adapter = createMemoryAdapter({ broker, logger: silentLogger });
  opened.push(adapter);
  return adapter;
}
const uniqueTopic = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

describe('Inbox.handler on the memory store', () => {
  it('runs the handler once per id and group, acks the duplicates, counts them per topic and group', async () => {
    const adapter = memory();
    const topic = uniqueTopic('dupes');
    const duplicates: InboxDuplicate[] = [];
    const inbox = new Inbox({
      store: new MemoryInboxStore(),
      onDuplicate: (duplicate) => duplicates.push(duplicate),
      logger: silentLogger,
    });
    const runs = new Map<string, number>();
    let deliveries = 0;
    const handler = inbox.handler(async (message) => {
      runs.set(`${message.group}/${message.id}`, (runs.get(`${message.group}/${message.id}`) ?? 0) + 1);
    });
    for (const group of ['billing', 'shipping']) {
      await adapter.subscribe(
        topic,
        async (message) => {
          deliveries++;
          await handler(message);
        },
        { group, fromBeginning: true },
      );
    }
    // The same ids published twice, as an outbox relay does after a crash between publish and mark.
    const ids = Array.from({ length: 50 }, (_, n) => `order-${n}`);
    for (let round = 0; round < 2; round++) {
      await adapter.publishBatch(ids.map((id) => ({ topic, id, data: { id } })));
    }
    expect(await eventually(() => deliveries === 200, 5_000)).toBe(true);
    await sleep(50);
    expect(runs.size).toBe(100);
    expect([...runs.values()].every((count) => count === 1)).toBe(true);
    expect(duplicates).toHaveLength(100);
    expect(duplicates[0]).toMatchObject({ topic, store: 'memory', attempt: 1 });
    const stats = inbox.stats();
    expect(stats).toMatchObject({ handled: 100, duplicates: 100, raced: 0 });
    expect(stats.byTopicGroup.sort((a, b) => a.group.localeCompare(b.group))).toEqual([
      { topic, group: 'billing', handled: 50, duplicates: 50, raced: 0 },
      { topic, group: 'shipping', handled: 50, duplicates: 50, raced: 0 },
    ]);
  });

  it('a failing handler leaves no record: the redelivery runs it again', async () => {
    const adapter = memory();
    const topic = uniqueTopic('retry');
    const store = new MemoryInboxStore();
    const inbox = new Inbox({ store, logger: silentLogger });
    const attempts: number[] = [];
    await adapter.subscribe(
      topic,
      inbox.handler(async (message) => {
        attempts.push(message.attempt);
        if (attempts.length < 3) throw new Error('transient');
      }),
      { redeliveryDelayMs: () => 1, group: 'g' },
    );
    const { id } = await adapter.publish({ topic, data: 1 });
    expect(await eventually(() => store.has('g', id), 5_000)).toBe(true);
    expect(attempts).toEqual([1, 2, 3]);
    expect(inbox.stats()).toMatchObject({ handled: 1, duplicates: 0 });
  });

  it('a second delivery of a key waits for the first, then drops it (no concurrent double run)', async () => {
    const store = new MemoryInboxStore();
    const inbox = new Inbox({ store, logger: silentLogger });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const handler = inbox.handler(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(30);
      runs++;
      running--;
    });
    const delivery = () => fakeDelivery({ id: 'same', group: 'g' });
    await Promise.all([handler(delivery()), handler(delivery()), handler(delivery())]);
    expect(runs).toBe(1);
    expect(maxRunning).toBe(1);
    expect(inbox.stats().duplicates).toBe(2);
  });

  it('ack() inside the handler waits for the record; nack() rolls back and hands the message back', async () => {
    const store = new MemoryInboxStore();
    const inbox = new Inbox({ store, logger: silentLogger });
    const settled: string[] = [];
    const early = fakeDelivery({ id: 'early-ack', group: 'g', settled });
    await inbox.handler(async (message) => {
      await message.ack();
      expect(settled).toEqual([]);
    })(early);
    expect(store.has('g', 'early-ack')).toBe(true);

    const nacked = fakeDelivery({ id: 'nacked', group: 'g', settled });
    await inbox.handler(async (message) => {
      await message.nack({ delayMs: 5 });
    })(nacked);
    expect(settled).toEqual(['nack nacked 5']);
    expect(store.has('g', 'nacked')).toBe(false);
  });

  it('a key function dedupes foreign messages; a message without a key is invalid, never deduplicated silently', async () => {
    const store = new MemoryInboxStore();
    const inbox = new Inbox<undefined>({
      store,
      key: (message) => (message.data as { orderId?: string }).orderId ?? '',
      logger: silentLogger,
    });
    let runs = 0;
    const handler = inbox.handler(() => {
      runs++;
    });
    await handler(fakeDelivery({ id: 'broker-id-1', group: 'g', data: { orderId: 'o-1' } }));
    await handler(fakeDelivery({ id: 'broker-id-2', group: 'g', data: { orderId: 'o-1' } }));
    expect(runs).toBe(1);
    expect(store.has('g', 'o-1')).toBe(true);
    await expect(handler(fakeDelivery({ id: 'broker-id-3', group: 'g', data: {} }))).rejects.toMatchObject({
      code: 'INVALID_MESSAGE',
    });
    expect(runs).toBe(1);
  });

  it('registers eventport_inbox_duplicates_total{topic,group,store} in a passed registry', async () => {
    const registry = new Registry();
    const store = new MemoryInboxStore();
    const inbox = new Inbox({ store, registry, logger: silentLogger });
    // A second inbox on the same registry shares the counter instead of tripping the duplicate-name check.
    const other = new Inbox({ store: new MemoryInboxStore(), registry, logger: silentLogger });
    const handler = inbox.handler(() => undefined);
    for (let n = 0; n < 3; n++) await handler(fakeDelivery({ id: 'x', group: 'g', topic: 'orders' }));
    await other.handler(() => undefined)(fakeDelivery({ id: 'y', group: 'h', topic: 'orders' }));
    const metric = await registry.getSingleMetric('eventport_inbox_duplicates_total')?.get();
    expect(metric?.values).toEqual([{ value: 2, labels: { topic: 'orders', group: 'g', store: 'memory' } }]);
  });

  it('refuses bad options, naming them', () => {
    expect(() => new Inbox({ store: {} as never })).toThrow(/invalid inbox options: store: must be an inbox store/);
    expect(() => new Inbox({ store: new MemoryInboxStore(), key: 'id' as never })).toThrow(/key: must be a function/);
    expect(() => new Inbox({ store: new MemoryInboxStore(), registry: {} as never })).toThrow(
      /registry: must be a prom-client Registry/,
    );
  });

  it('inboxTransaction() outside a handler says where to call it', () => {
    expect(() => inboxTransaction()).toThrow(/outside an inbox handler/);
  });
});

describe('withInbox', () => {
  it('wraps every subscription; refuses a second withInbox and inbox.handler() under it', async () => {
    const store = new MemoryInboxStore();
    const adapter = withInbox(memory(), { store, logger: silentLogger });
    expect(() => withInbox(adapter, { store, logger: silentLogger })).toThrow(/withInbox applied twice/);
    const topic = uniqueTopic('decorated');
    const seen: string[] = [];
    await adapter.subscribe(topic, (message) => {
      seen.push(message.id);
    });
    await adapter.publish({ topic, id: 'a', data: 1 });
    await adapter.publish({ topic, id: 'a', data: 1 });
    await adapter.publish({ topic, id: 'b', data: 2 });
    expect(await eventually(() => adapter.inbox.stats().handled === 2, 5_000)).toBe(true);
    expect(await eventually(() => adapter.inbox.stats().duplicates === 1, 5_000)).toBe(true);
    expect(seen).toEqual(['a', 'b']);

    const nested = new Inbox({ store, logger: silentLogger });
    const errors: unknown[] = [];
    const otherTopic = uniqueTopic('nested');
    await adapter.subscribe(
      otherTopic,
      async (message, tx) => {
        try {
          await nested.handler(() => undefined)(message as ReceivedMessage);
        } catch (error) {
          errors.push(error);
        }
        expect(tx).toBeUndefined();
      },
      { group: 'n' },
    );
    await adapter.publish({ topic: otherTopic, data: 1 });
    expect(await eventually(() => errors.length === 1, 5_000)).toBe(true);
    expect(String(errors[0])).toMatch(/two inboxes wrap the same handler/);
  });

  it('refuses to publish a dead letter of the message it is handling (withDeadLetters above it), so it stays unrecorded', async () => {
    const store = new MemoryInboxStore();
    const adapter = withInbox(memory(), { store, logger: silentLogger });
    const topic = uniqueTopic('backstop');
    const errors: unknown[] = [];
    await adapter.subscribe(
      topic,
      async (message) => {
        // What withDeadLetters above withInbox does once its retries are exhausted.
        await adapter
          .publish({
            topic: `${topic}.dlq`,
            id: message.id,
            headers: { 'dlq-reason': 'exhausted' },
            data: message.data,
          })
          .catch((error: unknown) => errors.push(error));
        throw new Error('handler failed');
      },
      { group: 'g', redeliveryDelayMs: () => 1_000 },
    );
    const { id } = await adapter.publish({ topic, data: 1 });
    expect(await eventually(() => errors.length === 1, 5_000)).toBe(true);
    expect(String(errors[0])).toMatch(/withDeadLetters is stacked above withInbox/);
    expect(store.has('g', id)).toBe(false);
    // Other publishes from a handler are untouched.
    await expect(adapter.publish({ topic: `${topic}.next`, data: 2 })).resolves.toMatchObject({ data: 2 });
  });

  it('consume() is refused: the stream settles outside any inbox transaction', () => {
    const adapter = withInbox(memory(), { store: new MemoryInboxStore(), logger: silentLogger });
    expect(() => adapter.consume('anything')).toThrow(/use subscribe\(\)/);
  });
});

/** A delivery as the portable layer hands it to a handler, recording how it was settled. */
function fakeDelivery(options: {
  id: string;
  group: string;
  topic?: string;
  data?: unknown;
  settled?: string[];
}): ReceivedMessage {
  const settled = options.settled ?? [];
  return {
    id: options.id,
    topic: options.topic ?? 't',
    data: options.data ?? {},
    headers: {},
    timestamp: Date.now(),
    attempt: 1,
    group: options.group,
    meta: {},
    ack: async () => {
      settled.push(`ack ${options.id}`);
    },
    nack: async (nackOptions) => {
      settled.push(`nack ${options.id} ${nackOptions?.delayMs ?? ''}`.trim());
    },
  };
}
