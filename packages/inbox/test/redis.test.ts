import { randomUUID } from 'node:crypto';
import { type EventAdapter, silentLogger } from '@eventport/core';
import { Inbox, RedisInboxStore } from '@eventport/inbox';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually, sleep } from '@eventport/testkit';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { REDIS_URL } from './support/env';

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
const keyPrefix = `eventport-test:inbox:${randomUUID().slice(0, 8)}`;
const adapters: EventAdapter[] = [];
afterAll(async () => {
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const entry = (key: string, group = 'g') => ({ group, key, topic: 't' });

describe('RedisInboxStore', () => {
  it('marks only after the effect resolved, with the TTL; a marked key is a duplicate', async () => {
    const store = new RedisInboxStore({ client: redis, ttlMs: 60_000, keyPrefix });
    let markDuringEffect: number | undefined;
    expect(
      await store.process(entry('a'), async () => {
        markDuringEffect = await redis.exists(store.markKey('g', 'a'));
      }),
    ).toBe('handled');
    expect(markDuringEffect).toBe(0);
    const ttl = await redis.pttl(store.markKey('g', 'a'));
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    let ran = false;
    expect(
      await store.process(entry('a'), async () => {
        ran = true;
      }),
    ).toBe('duplicate');
    expect(ran).toBe(false);
    expect(await store.process(entry('a', 'other group'), async () => {})).toBe('handled');
    expect(store.markKey('a:b', 'k:1')).toBe(`${keyPrefix}:a%3Ab:k:1`);
  });

  it('a failing effect leaves no mark, so the redelivery runs it', async () => {
    const store = new RedisInboxStore({ client: redis, ttlMs: 60_000, keyPrefix });
    await expect(
      store.process(entry('b'), async () => {
        throw new Error('external call failed');
      }),
    ).rejects.toThrow('external call failed');
    expect(await redis.exists(store.markKey('g', 'b'))).toBe(0);
    expect(await store.process(entry('b'), async () => {})).toBe('handled');
  });

  it('does NOT stop two deliveries running at once: both run, the second reports "raced"', async () => {
    const store = new RedisInboxStore({ client: redis, ttlMs: 60_000, keyPrefix });
    const inbox = new Inbox({ store, logger: silentLogger });
    let runs = 0;
    const handler = inbox.handler(async () => {
      runs++;
      await sleep(50);
    });
    const delivery = () => ({
      id: 'c',
      topic: 't',
      data: {},
      headers: {},
      timestamp: Date.now(),
      attempt: 1,
      group: 'g',
      meta: {},
      ack: async () => {},
      nack: async () => {},
    });
    await Promise.all([handler(delivery()), handler(delivery())]);
    expect(runs).toBe(2);
    expect(inbox.stats()).toMatchObject({ handled: 1, raced: 1, duplicates: 0 });
  });

  it('a mark expires after ttlMs: a copy arriving later runs again (the retention is the TTL)', async () => {
    const store = new RedisInboxStore({ client: redis, ttlMs: 50, keyPrefix });
    expect(await store.process(entry('d'), async () => {})).toBe('handled');
    expect(await store.process(entry('d'), async () => {})).toBe('duplicate');
    await sleep(120);
    expect(await store.process(entry('d'), async () => {})).toBe('handled');
  });

  it('drops duplicates of a subscription and counts them', async () => {
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    adapters.push(adapter);
    const store = new RedisInboxStore({ client: redis, ttlMs: 60_000, keyPrefix });
    const inbox = new Inbox({ store, logger: silentLogger });
    const topic = `redis-${randomUUID().slice(0, 8)}`;
    const seen: string[] = [];
    await adapter.subscribe(
      topic,
      inbox.handler((message) => {
        seen.push(message.id);
      }),
      { concurrency: 1 },
    );
    for (const id of ['x', 'y', 'x', 'x', 'y', 'z']) await adapter.publish({ topic, id, data: id });
    expect(await eventually(() => inbox.stats().handled + inbox.stats().duplicates === 6, 5_000)).toBe(true);
    expect(seen).toEqual(['x', 'y', 'z']);
    expect(inbox.stats().duplicates).toBe(3);
  });

  it('a Redis error fails the delivery as retryable CONNECTION (it is nacked, not acked)', async () => {
    const broken = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    const store = new RedisInboxStore({ client: broken, ttlMs: 1_000, keyPrefix });
    await expect(store.process(entry('e'), async () => {})).rejects.toMatchObject({
      code: 'CONNECTION',
      retryable: true,
    });
    broken.disconnect();
  });

  it('validates its options', () => {
    expect(() => new RedisInboxStore({ client: redis } as never)).toThrow(/ttlMs: is required/);
    expect(() => new RedisInboxStore({ client: {} as never, ttlMs: 1 })).toThrow(/client: must be an ioredis client/);
    expect(() => new RedisInboxStore({ client: redis, ttlMs: 1, ttl: 5 } as never)).toThrow(/"ttl"/);
  });
});
