import { type EventAdapter, isEventportError, type ReceivedMessage } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually, sleep } from '@eventport/testkit';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';

let adapter: EventAdapter;
beforeEach(() => {
  adapter = createMemoryAdapter({ broker: new MemoryBroker() });
});
afterEach(() => adapter.disconnect());

describe('portable delivery semantics (on the memory driver)', () => {
  test('a handler that throws gets the message again, with attempt counting up', async () => {
    const attempts: number[] = [];
    const subscription = await adapter.subscribe(
      'orders',
      (message) => {
        attempts.push(message.attempt);
        if (message.attempt < 3) throw new Error('transient');
      },
      { redeliveryDelayMs: () => 5 },
    );
    await adapter.publish({ topic: 'orders', data: { id: 1 } });
    expect(await eventually(() => attempts.length === 3, 2_000)).toBe(true);
    await sleep(50);
    await subscription.close();
    expect(attempts).toEqual([1, 2, 3]);
  });

  test('nothing is acknowledged on receipt: a message whose handler never finished is redelivered', async () => {
    const seen: string[] = [];
    const stuck = await adapter.subscribe('jobs', () => new Promise<void>(() => undefined), {
      group: 'workers',
      drainTimeoutMs: 100,
    });
    const published = await adapter.publish({ topic: 'jobs', data: 'work' });
    await sleep(50);
    await stuck.close();
    const next = await adapter.subscribe(
      'jobs',
      (message) => {
        seen.push(message.id);
      },
      { group: 'workers' },
    );
    expect(await eventually(() => seen.length === 1, 2_000)).toBe(true);
    await next.close();
    expect(seen).toEqual([published.id]);
  });

  test('close() waits for in-flight handlers and acks them', async () => {
    const finished: number[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(
      'slow',
      async (message) => {
        await sleep(300);
        finished.push(message.data.n);
      },
      { concurrency: 5 },
    );
    await adapter.publishBatch([1, 2, 3, 4, 5].map((n) => ({ topic: 'slow', data: { n } })));
    expect(await eventually(() => subscription.inFlight === 5, 2_000)).toBe(true);
    await subscription.close();
    expect(finished.sort()).toEqual([1, 2, 3, 4, 5]);
    const redelivered: unknown[] = [];
    const again = await adapter.subscribe('slow', (message) => {
      redelivered.push(message.data);
    });
    await sleep(100);
    await again.close();
    expect(redelivered).toEqual([]);
  });

  test('concurrency bounds the handlers running at once', async () => {
    let running = 0;
    let peak = 0;
    const subscription = await adapter.subscribe(
      'bounded',
      async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(10);
        running--;
      },
      { concurrency: 3 },
    );
    await adapter.publishBatch(Array.from({ length: 30 }, (_, n) => ({ topic: 'bounded', data: n })));
    expect(await eventually(() => running === 0 && peak > 0, 2_000)).toBe(true);
    await sleep(400);
    await subscription.close();
    expect(peak).toBe(3);
  });

  test('messages of one key run one after another, other keys in parallel', async () => {
    const log: string[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(
      'keyed',
      async (message) => {
        log.push(`start ${message.key}${message.data.n}`);
        await sleep(20);
        log.push(`end ${message.key}${message.data.n}`);
      },
      { concurrency: 4 },
    );
    await adapter.publishBatch([
      { topic: 'keyed', key: 'a', data: { n: 1 } },
      { topic: 'keyed', key: 'b', data: { n: 1 } },
      { topic: 'keyed', key: 'a', data: { n: 2 } },
    ]);
    expect(await eventually(() => log.length === 6, 2_000)).toBe(true);
    await subscription.close();
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
  });

  test('consume() hands out messages that the caller acks or nacks explicitly', async () => {
    await adapter.publishBatch([1, 2].map((n) => ({ topic: 'stream', data: n })));
    const stream = adapter.consume<number>('stream', { fromBeginning: true });
    const got: ReceivedMessage<number>[] = [];
    for await (const message of stream) {
      got.push(message);
      if (message.data === 1 && message.attempt === 1) await message.nack();
      else await message.ack();
      if (got.filter((m) => m.data === 2).length === 1 && got.filter((m) => m.data === 1).length === 2) break;
    }
    expect(got.map((m) => [m.data, m.attempt])).toEqual(
      expect.arrayContaining([
        [1, 1],
        [1, 2],
        [2, 1],
      ]),
    );
  });

  test('publish after disconnect fails with a typed CLOSED error', async () => {
    await adapter.disconnect();
    const error = await adapter.publish({ topic: 'x', data: 1 }).catch((caught: unknown) => caught);
    expect(isEventportError(error, 'CLOSED')).toBe(true);
  });

  test('a payload over the limit is rejected before it reaches the broker', async () => {
    const small = createMemoryAdapter({ broker: new MemoryBroker(), maxPayloadBytes: 10 });
    await expect(small.publish({ topic: 'x', data: 'x'.repeat(20) })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    await small.disconnect();
  });
});
