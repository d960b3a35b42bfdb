import { randomUUID } from 'node:crypto';
import {
  type EventAdapter,
  EventChannel,
  EventportError,
  ForwardingAdapter,
  InvalidMessageError,
  type PublishInput,
  silentLogger,
} from '@eventport/core';
import { DLQ_HEADERS, listDeadLetters, replay, withDeadLetters } from '@eventport/dlq';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually, sleep } from '@eventport/testkit';
import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { runDeadLetterScenario } from './scenario';

const fast = { initialDelayMs: 1, maxDelayMs: 5, logger: silentLogger };
const uniqueTopic = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

function memory(broker = new MemoryBroker()): EventAdapter {
  return createMemoryAdapter({ broker, logger: silentLogger });
}

describe('withDeadLetters on memory', () => {
  it('dead-letters 100 always-failing messages after exactly N attempts, keeps consuming, replays them', async () => {
    await runDeadLetterScenario(memory(), { poison: 100, good: 100, maxAttempts: 4 });
  });

  it('sends non-retryable errors straight to the dead-letter topic', async () => {
    const adapter = withDeadLetters(memory(), {
      ...fast,
      maxAttempts: 5,
      isNonRetryable: (error) => error instanceof RangeError,
    });
    const topic = uniqueTopic('non-retryable');
    let runs = 0;
    await adapter.subscribe(topic, () => {
      runs++;
      throw new RangeError('amount out of range');
    });
    await adapter.publish({ topic, data: { amount: -1 } });
    const [letter] = await listUntil(adapter, topic, 1);
    expect(runs).toBe(1);
    expect(letter?.reason).toBe('non-retryable');
    expect(letter?.attempts).toBe(1);
    expect(letter?.error.class).toBe('RangeError');
    await adapter.disconnect();
  });

  it('a message too large for the dead-letter topic lands truncated, with headers that say so, instead of looping', async () => {
    const broker = new MemoryBroker();
    // The consuming side's broker accepts at most 100 kB, like Kafka's 1 MB limit against a 2 MB record another tool wrote.
    const limited = createMemoryAdapter({ broker, logger: silentLogger, maxPayloadBytes: 100_000 });
    const adapter = withDeadLetters(limited, { ...fast, maxAttempts: 2 });
    const topic = uniqueTopic('too-large');
    let runs = 0;
    await adapter.subscribe(topic, () => {
      runs++;
      throw new Error('cannot process');
    });
    const huge = 'x'.repeat(300_000);
    await memory(broker).publish({ topic, data: { huge } });
    const [letter] = await listUntil(adapter, topic, 1);
    if (!letter) throw new Error('no dead letter arrived');
    const kept = letter.data as Buffer;
    expect(letter.truncatedFrom).toBe(Buffer.byteLength(JSON.stringify({ huge })));
    expect(kept.length).toBe(64 * 1024);
    expect(kept.toString()).toBe(JSON.stringify({ huge }).slice(0, kept.length));
    await sleep(200);
    expect(runs).toBe(2);
    // Replay leaves a cut letter where it is rather than publishing a broken body.
    expect(await replay(adapter, topic, { startTimeoutMs: 500, idleMs: 200 })).toMatchObject({
      replayed: 0,
      skipped: 1,
    });
    await adapter.disconnect();
  });

  it('dead-letters an undecodable payload with its raw bytes and keeps consuming', async () => {
    const broker = new MemoryBroker();
    const adapter = withDeadLetters(memory(broker), fast);
    const topic = uniqueTopic('not-json');
    const seen: unknown[] = [];
    await adapter.subscribe(topic, (message) => {
      seen.push(message.data);
    });
    const rawBody = Buffer.from([0x7b, 0x22, 0xff, 0x00, 0x01]);
    // A foreign producer writing straight to the broker: claims JSON, sends bytes that are not.
    const log = broker.topic(topic);
    log.append('k1', { 'content-type': 'application/json', 'ce-id': 'foreign-1', source: 'legacy' }, rawBody);
    log.notifyAll();
    await adapter.publish({ topic, data: { ok: true } });

    expect(await eventually(() => seen.length === 1, 5_000)).toBe(true);
    const [letter] = await listUntil(adapter, topic, 1);
    expect(letter?.id).toBe('foreign-1');
    expect(letter?.reason).toBe('invalid');
    expect(letter?.error.class).toBe('InvalidMessageError');
    expect(letter?.originalContentType).toBe('application/json');
    expect(letter?.key).toBe('k1');
    expect(letter?.headers).toEqual({ source: 'legacy', 'correlation-id': 'foreign-1' });
    expect(Buffer.compare(letter?.data as Buffer, rawBody)).toBe(0);
    expect(seen).toEqual([{ ok: true }]);
    await adapter.disconnect();
  });

  it('dead-letters a schema failure from an EventChannel with the raw JSON, and replay restores it as JSON', async () => {
    const adapter = withDeadLetters(memory(), fast);
    const prefix = uniqueTopic('orders');
    const strict = new EventChannel({ schema: z.object({ total: z.number() }), topicPrefix: prefix, adapter });
    const topic = strict.topic('created');
    const totals: number[] = [];
    const subscription = await strict.pull('created', (event) => {
      totals.push(event.data.total);
    });
    await adapter.publish({ topic, data: { total: 'twelve' } });
    await strict.push('created', { total: 12 });
    expect(await eventually(() => totals.length === 1, 5_000)).toBe(true);
    const [letter] = await listUntil(adapter, topic, 1);
    expect(letter?.reason).toBe('invalid');
    expect(letter?.originalContentType).toBe('application/json');
    expect(letter?.data).toEqual({ total: 'twelve' });
    await subscription.close();

    const received: unknown[] = [];
    await adapter.subscribe(topic, (message) => {
      received.push(message.data);
    });
    expect(await replay(adapter, topic, { startTimeoutMs: 1_000 })).toEqual({ replayed: 1, skipped: 0 });
    expect(await eventually(() => received.length === 1, 5_000)).toBe(true);
    expect(received).toEqual([{ total: 'twelve' }]);
    await adapter.disconnect();
  });

  it('never acks the original when the dead-letter publish fails: it comes back and lands later', async () => {
    let failuresLeft = 3;
    class FlakyDeadLetterPublishes extends ForwardingAdapter {
      override publish<T>(message: PublishInput<T>) {
        if (message.topic.endsWith('.dlq') && failuresLeft-- > 0) {
          return Promise.reject(new EventportError('CONNECTION', 'broker unavailable'));
        }
        return super.publish(message);
      }
    }
    const adapter = withDeadLetters(new FlakyDeadLetterPublishes(memory()), { ...fast, maxAttempts: 2 });
    const topic = uniqueTopic('flaky-dlq');
    const deliveries: number[] = [];
    await adapter.subscribe(
      topic,
      (message) => {
        deliveries.push(message.attempt);
        throw new Error('always');
      },
      { redeliveryDelayMs: () => 1 },
    );
    const published = await adapter.publish({ topic, data: 'x' });
    const letters = await listUntil(adapter, topic, 1);
    expect(letters.map((letter) => letter.id)).toEqual([published.id]);
    expect(failuresLeft).toBeLessThan(0);
    // Delivery 1 runs attempts 1-2; delivery 2 has one attempt left; later ones are dead-lettered without a run.
    expect(deliveries).toEqual([1, 2, 2]);
    expect(letters[0]?.attempts).toBeGreaterThanOrEqual(2);
    await adapter.disconnect();
  });

  it('dead-letters at once a message redelivered more often than maxAttempts (crash loop)', async () => {
    const broker = new MemoryBroker();
    const plain = memory(broker);
    const topic = uniqueTopic('crash-loop');
    let crashes = 0;
    const crashing = await plain.subscribe(
      topic,
      () => {
        crashes++;
        throw new Error('process died here');
      },
      { group: 'workers', redeliveryDelayMs: () => 1 },
    );
    await plain.publish({ topic, data: 'poison' });
    await eventually(() => crashes >= 3, 5_000);
    await crashing.close();

    const adapter = withDeadLetters(memory(broker), { ...fast, maxAttempts: 3 });
    let runs = 0;
    await adapter.subscribe(
      topic,
      () => {
        runs++;
      },
      { group: 'workers' },
    );
    const [letter] = await listUntil(adapter, topic, 1);
    expect(runs).toBe(0);
    expect(letter?.error.class).toBe('DeliveryLimitError');
    expect(letter?.attempts).toBeGreaterThanOrEqual(3);
    await adapter.disconnect();
    await plain.disconnect();
  });

  it('treats a nack from consume() as a failure and dead-letters after maxAttempts', async () => {
    const adapter = withDeadLetters(memory(), { ...fast, maxAttempts: 3 });
    const topic = uniqueTopic('consume');
    const stream = adapter.consume<string>(topic, { group: 'readers', fromBeginning: true });
    await adapter.publish({ topic, data: 'bad' });
    await adapter.publish({ topic, data: 'good' });
    const attempts: Array<[string, number]> = [];
    for await (const message of stream) {
      attempts.push([message.data, message.attempt]);
      if (message.data === 'bad') await message.nack();
      else await message.ack();
      if (attempts.filter(([data]) => data === 'bad').length === 3 && attempts.some(([data]) => data === 'good')) break;
    }
    const [letter] = await listUntil(adapter, topic, 1);
    expect(letter?.data).toBe('bad');
    expect(letter?.error.class).toBe('ConsumerNackError');
    expect(attempts.filter(([data]) => data === 'bad').map(([, attempt]) => attempt)).toEqual([1, 2, 3]);
    await adapter.disconnect();
  });

  it('replays only what the filter selects, up to the limit, and leaves the rest', async () => {
    const adapter = withDeadLetters(memory(), { ...fast, maxAttempts: 1 });
    const topic = uniqueTopic('filtered');
    let fixed = false;
    const handled: number[] = [];
    await adapter.subscribe<number>(topic, (message) => {
      if (!fixed) throw new Error('down');
      handled.push(message.data);
    });
    await adapter.publishBatch(Array.from({ length: 10 }, (_, n) => ({ topic, data: n })));
    await listUntil(adapter, topic, 10);
    fixed = true;
    const progress: number[] = [];
    const result = await replay(adapter, topic, {
      filter: (letter) => (letter.data as number) % 2 === 0,
      limit: 3,
      idleMs: 300,
      onProgress: ({ replayed }) => progress.push(replayed),
    });
    expect(result.replayed).toBe(3);
    expect(await eventually(() => handled.length === 3, 5_000)).toBe(true);
    expect(handled.every((n) => n % 2 === 0)).toBe(true);
    const left = await listDeadLetters(adapter, topic, { idleMs: 300 });
    expect(left).toHaveLength(7);
    await adapter.disconnect();
  });

  it('closes promptly while a message waits out a long backoff, and gives it back', async () => {
    const broker = new MemoryBroker();
    const adapter = withDeadLetters(memory(broker), { maxAttempts: 5, initialDelayMs: 60_000, maxDelayMs: 60_000 });
    const topic = uniqueTopic('close');
    let runs = 0;
    const subscription = await adapter.subscribe(topic, () => {
      runs++;
      throw new Error('fails');
    });
    await adapter.publish({ topic, data: 1 });
    await eventually(() => runs === 1, 5_000);
    await sleep(20);
    const started = Date.now();
    await subscription.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await listDeadLetters(adapter, topic, { startTimeoutMs: 300 })).toHaveLength(0);
    await adapter.disconnect();
  });

  it('validates its options before any connection', () => {
    expect(() => withDeadLetters(memory(), { maxAttempts: 0 })).toThrow(EventportError);
    expect(() => withDeadLetters(memory(), { initialDelayMs: 10, maxDelayMs: 1 })).toThrow(/initialDelayMs/);
    expect(() => withDeadLetters(memory(), { suffix: '/dlq' })).toThrow(/suffix/);
    expect(() => withDeadLetters(withDeadLetters(memory()))).toThrow(/applied twice/);
  });

  it('passes InvalidMessageError thrown by a handler to a user onInvalid hook when one is given', async () => {
    const adapter = withDeadLetters(memory(), fast);
    const topic = uniqueTopic('own-hook');
    const hooked: string[] = [];
    await adapter.subscribe(
      topic,
      () => {
        throw new InvalidMessageError('bad shape');
      },
      {
        onInvalid: (error) => {
          hooked.push(error.message);
        },
      },
    );
    await adapter.publish({ topic, data: 1 });
    expect(await eventually(() => hooked.length === 1, 5_000)).toBe(true);
    expect(await listDeadLetters(adapter, topic, { startTimeoutMs: 300 })).toHaveLength(0);
    expect(DLQ_HEADERS.originalTopic).toBe('dlq-original-topic');
    await adapter.disconnect();
  });
});

async function listUntil(adapter: EventAdapter, topic: string, count: number) {
  const deadline = Date.now() + 20_000;
  while (true) {
    const letters = await listDeadLetters(adapter, topic, { limit: count, startTimeoutMs: 500, idleMs: 200 });
    if (letters.length >= count || Date.now() > deadline) return letters;
  }
}
