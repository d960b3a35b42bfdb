import { CircuitOpenError, withCircuitBreaker } from '@eventport/circuit-breaker';
import {
  type Codec,
  type EventAdapter,
  InvalidMessageError,
  jsonCodec,
  type ReceivedMessage,
  silentLogger,
} from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { METRIC_NAMES, withMetrics } from '@eventport/metrics';
import { FaultyAdapter } from '@eventport/testkit';
import { afterEach, describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import { sampleValue } from './read-metrics';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

const opened: EventAdapter[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((adapter) => adapter.disconnect()));
});

function memory(broker: MemoryBroker, codec?: Codec): EventAdapter {
  const adapter = createMemoryAdapter({ broker, logger: silentLogger, ...(codec ? { codec } : {}) });
  opened.push(adapter);
  return adapter;
}

describe('withMetrics: Prometheus metrics', () => {
  test('publish and publishBatch move the published counter and the duration histogram, per topic', async () => {
    const registry = new Registry();
    const adapter = withMetrics(memory(new MemoryBroker()), { registry });
    await adapter.publish({ topic: 'orders', data: 1 });
    await adapter.publishBatch([
      { topic: 'orders', data: 2 },
      { topic: 'orders', data: 3 },
      { topic: 'refunds', data: 4 },
    ]);
    const orders = { topic: 'orders', backend: 'memory' };
    expect(await sampleValue(registry, METRIC_NAMES.published, orders)).toBe(3);
    expect(await sampleValue(registry, METRIC_NAMES.published, { topic: 'refunds' })).toBe(1);
    // One observation per call and topic: the single publish and the batch's share of "orders".
    expect(
      await sampleValue(registry, METRIC_NAMES.publishDuration, orders, `${METRIC_NAMES.publishDuration}_count`),
    ).toBe(2);
    expect(
      await sampleValue(registry, METRIC_NAMES.publishDuration, orders, `${METRIC_NAMES.publishDuration}_sum`),
    ).toBeGreaterThan(0);
    expect(await sampleValue(registry, METRIC_NAMES.publishErrors)).toBe(0);
    const snapshot = adapter.getMetrics();
    expect(snapshot).toMatchObject({ published: 4, publishErrors: 0, consumed: 0, errors: 0, inFlight: 0 });
    expect(snapshot.averagePublishLatencyMs).toBeGreaterThan(0);
  });

  test('counts kept between reads reach the registry once: every read sees the running total', async () => {
    const registry = new Registry();
    const broker = new MemoryBroker();
    const first = withMetrics(memory(broker), { registry });
    const second = withMetrics(memory(broker), { registry });
    await first.publish({ topic: 'orders', data: 1 });
    await second.publish({ topic: 'orders', data: 2 });
    const orders = { topic: 'orders', backend: 'memory' };
    expect(await sampleValue(registry, METRIC_NAMES.published, orders)).toBe(2);
    expect(await sampleValue(registry, METRIC_NAMES.published, orders)).toBe(2);
    await first.publishBatch([
      { topic: 'orders', data: 3 },
      { topic: 'orders', data: 4 },
    ]);
    expect(await registry.getSingleMetric(METRIC_NAMES.published)?.get()).toMatchObject({
      values: [{ labels: orders, value: 4 }],
    });
    expect(await sampleValue(registry, METRIC_NAMES.published, orders)).toBe(4);
  });

  test('failed publishes count per message, labelled with the error code', async () => {
    const registry = new Registry();
    const faulty = new FaultyAdapter(memory(new MemoryBroker()));
    const adapter = withMetrics(faulty, { registry });
    faulty.failWith = 'CONNECTION';
    await expect(adapter.publish({ topic: 'orders', data: 1 })).rejects.toMatchObject({ code: 'CONNECTION' });
    await expect(
      adapter.publishBatch([
        { topic: 'orders', data: 2 },
        { topic: 'orders', data: 3 },
      ]),
    ).rejects.toMatchObject({ code: 'CONNECTION' });
    faulty.failWith = undefined;
    await expect(
      adapter.publish({ topic: 'orders', data: 1, headers: { bad: 7 as unknown as string } }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await sampleValue(registry, METRIC_NAMES.publishErrors, { topic: 'orders', code: 'CONNECTION' })).toBe(3);
    expect(await sampleValue(registry, METRIC_NAMES.publishErrors, { topic: 'orders', code: 'INVALID_ARGUMENT' })).toBe(
      1,
    );
    expect(await sampleValue(registry, METRIC_NAMES.published)).toBe(0);
    expect(await sampleValue(registry, METRIC_NAMES.publishDuration, {}, `${METRIC_NAMES.publishDuration}_count`)).toBe(
      0,
    );
    expect(adapter.getMetrics()).toMatchObject({ published: 0, publishErrors: 4, errors: 4 });
  });

  test('over a circuit breaker, fail-fast rejections show up as CIRCUIT_OPEN errors', async () => {
    const registry = new Registry();
    const faulty = new FaultyAdapter(memory(new MemoryBroker()));
    const adapter = withMetrics(withCircuitBreaker(faulty, { consecutiveFailures: 2, logger: silentLogger }), {
      registry,
    });
    faulty.failWith = 'TIMEOUT';
    for (let i = 0; i < 5; i++) await adapter.publish({ topic: 't', data: i }).catch(() => undefined);
    await expect(adapter.publish({ topic: 't', data: 'x' })).rejects.toBeInstanceOf(CircuitOpenError);
    expect(await sampleValue(registry, METRIC_NAMES.publishErrors, { code: 'TIMEOUT' })).toBe(2);
    expect(await sampleValue(registry, METRIC_NAMES.publishErrors, { code: 'CIRCUIT_OPEN' })).toBe(4);
    expect(faulty.publishCalls).toBe(2);
  });

  test('without an onInvalid hook an undecodable delivery is still counted, with the group label', async () => {
    const registry = new Registry();
    const broker = new MemoryBroker();
    const adapter = withMetrics(memory(broker), { registry });
    const garbage: Codec = {
      encode: () => ({ body: Buffer.from('{nope'), contentType: 'application/json' }),
      decode: jsonCodec.decode,
    };
    const handled: number[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(
      'raw',
      (message) => {
        handled.push(message.data.n);
      },
      { group: 'audit', redeliveryDelayMs: () => 60_000, onError: () => undefined },
    );
    await memory(broker, garbage).publish({ topic: 'raw', data: 'whatever' });
    await adapter.publish({ topic: 'raw', data: { n: 1 } });
    await until(() => handled.length === 1);
    for (
      let tries = 0;
      tries < 100 && (await sampleValue(registry, METRIC_NAMES.consumed, { outcome: 'invalid' })) < 1;
      tries++
    ) {
      await sleep(10);
    }
    const labels = { topic: 'raw', backend: 'memory', group: 'audit' };
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { ...labels, outcome: 'invalid' })).toBe(1);
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { ...labels, outcome: 'ack' })).toBe(1);
    expect(await sampleValue(registry, METRIC_NAMES.subscriptionState, { ...labels, state: 'running' })).toBe(1);
    expect(await sampleValue(registry, METRIC_NAMES.subscriptionState, { ...labels, state: 'reconnecting' })).toBe(0);
    await subscription.close();
    expect(await sampleValue(registry, METRIC_NAMES.subscriptionState, { ...labels, state: 'running' })).toBe(0);
  });

  test('consumer lag is read from the broker at scrape time, per group, down to 0 once caught up', async () => {
    const registry = new Registry();
    const adapter = withMetrics(memory(new MemoryBroker()), { registry });
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const subscription = await adapter.subscribe('backlog', () => released, { group: 'slow', concurrency: 1 });
    await adapter.publishBatch(Array.from({ length: 10 }, (_, n) => ({ topic: 'backlog', data: n })));
    const labels = { topic: 'backlog', backend: 'memory', group: 'slow' };
    // One handler runs and core holds at most 2 per handler: at least 8 are still with the broker.
    await until(async () => (await sampleValue(registry, METRIC_NAMES.lagMessages, labels)) >= 8);
    expect(await sampleValue(registry, METRIC_NAMES.lagMessages, labels)).toBeLessThanOrEqual(10);
    release();
    // A sample of 0, not a missing one (sampleValue reads a missing sample as 0 too).
    const lagSample = async () =>
      (await registry.getSingleMetric(METRIC_NAMES.lagMessages)?.get())?.values.find(
        (entry) => entry.labels.group === 'slow',
      )?.value;
    await until(async () => (await lagSample()) === 0);
    expect(await lagSample()).toBe(0);
    await subscription.close();
    await adapter.disconnect();
  });

  test('broker connection: 1 while the broker answers health pings, 0 once it does not', async () => {
    const registry = new Registry();
    const adapter = withMetrics(memory(new MemoryBroker()), { registry });
    expect(await sampleValue(registry, METRIC_NAMES.connected, { backend: 'memory' })).toBe(1);
    await adapter.disconnect();
    const sample = (await registry.getSingleMetric(METRIC_NAMES.connected)?.get())?.values[0];
    expect(sample).toMatchObject({ labels: { backend: 'memory' }, value: 0 });
  });

  test('dead letters are counted by the topic they came from', async () => {
    const registry = new Registry();
    const adapter = withMetrics(memory(new MemoryBroker()), { registry });
    await adapter.publish({ topic: 'orders.dlq', data: 1, headers: { 'dlq-original-topic': 'orders' } });
    await adapter.publish({ topic: 'orders', data: 2 });
    expect(await sampleValue(registry, METRIC_NAMES.deadLettered, { topic: 'orders', backend: 'memory' })).toBe(1);
  });

  test('consumed outcomes: ack when the handler resolves, nack when it throws, invalid for bad payloads', async () => {
    const registry = new Registry();
    const broker = new MemoryBroker();
    const adapter = withMetrics(memory(broker), { registry });
    const garbage: Codec = {
      encode: () => ({ body: Buffer.from('{nope'), contentType: 'application/json' }),
      decode: jsonCodec.decode,
    };
    const rogue = memory(broker, garbage);
    const failedOnce = new Set<number>();
    const handled: number[] = [];
    const invalidSeen: string[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(
      'payments',
      (message) => {
        if (message.data.n === 2 && !failedOnce.has(2)) {
          failedOnce.add(2);
          throw new Error('transient');
        }
        if (message.data.n === 3) throw new InvalidMessageError('n=3 is not a payment');
        handled.push(message.data.n);
      },
      {
        redeliveryDelayMs: () => 5,
        onInvalid: (error) => {
          invalidSeen.push(error.message);
        },
      },
    );
    await adapter.publishBatch([1, 2, 3, 4].map((n) => ({ topic: 'payments', data: { n } })));
    await rogue.publish({ topic: 'payments', data: 'whatever' });
    await until(() => handled.length === 3 && invalidSeen.length === 2);
    await subscription.close();

    const labels = { topic: 'payments', backend: 'memory' };
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { ...labels, outcome: 'ack' })).toBe(3);
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { ...labels, outcome: 'nack' })).toBe(1);
    // One schema-invalid (handler threw InvalidMessageError) and one undecodable; neither counted twice.
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { ...labels, outcome: 'invalid' })).toBe(2);
    // Handler runs: 4 first deliveries + 1 redelivery (the undecodable one never reaches the handler).
    expect(
      await sampleValue(registry, METRIC_NAMES.handlerDuration, labels, `${METRIC_NAMES.handlerDuration}_count`),
    ).toBe(5);
    expect(adapter.getMetrics()).toMatchObject({
      consumed: 6,
      acked: 3,
      nacked: 1,
      invalid: 2,
      errors: 3,
      inFlight: 0,
    });
  });

  test('the in-flight gauge follows running handlers', async () => {
    const registry = new Registry();
    const adapter = withMetrics(memory(new MemoryBroker()), { registry });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = 0;
    const subscription = await adapter.subscribe(
      'slow',
      async () => {
        started++;
        await gate;
      },
      { concurrency: 2 },
    );
    await adapter.publishBatch([1, 2, 3].map((n) => ({ topic: 'slow', data: n })));
    await until(() => started === 2);
    expect(await sampleValue(registry, METRIC_NAMES.inFlight, { topic: 'slow' })).toBe(2);
    expect(adapter.getMetrics().inFlight).toBe(2);
    release();
    await until(() => adapter.getMetrics().acked === 3);
    expect(await sampleValue(registry, METRIC_NAMES.inFlight, { topic: 'slow' })).toBe(0);
    await subscription.close();
  });

  test('consume(): the explicit ack()/nack() decides the outcome', async () => {
    const registry = new Registry();
    const adapter = withMetrics(memory(new MemoryBroker()), { registry });
    const stream = adapter.consume<number>('stream', { fromBeginning: true });
    await adapter.publishBatch([1, 2].map((n) => ({ topic: 'stream', data: n })));
    const seen: ReceivedMessage<number>[] = [];
    for await (const message of stream) {
      seen.push(message);
      if (message.data === 2 && message.attempt === 1) await message.nack({ delayMs: 5 });
      else await message.ack();
      if (seen.length === 3) break;
    }
    expect(seen.map((message) => message.data)).toEqual([1, 2, 2]);
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { topic: 'stream', outcome: 'ack' })).toBe(2);
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { topic: 'stream', outcome: 'nack' })).toBe(1);
  });

  test('applying it twice (directly or under another decorator) never counts twice', async () => {
    const registry = new Registry();
    const once = withMetrics(memory(new MemoryBroker()), { registry });
    expect(withMetrics(once, { registry })).toBe(once);
    const stacked = withMetrics(withCircuitBreaker(once, { logger: silentLogger }), { registry });
    const received: unknown[] = [];
    const subscription = await stacked.subscribe('twice', (message) => {
      received.push(message.data);
    });
    await stacked.publish({ topic: 'twice', data: 1 });
    await until(() => received.length === 1);
    await subscription.close();
    expect(await sampleValue(registry, METRIC_NAMES.published)).toBe(1);
    expect(await sampleValue(registry, METRIC_NAMES.consumed)).toBe(1);
    expect(stacked.getMetrics()).toEqual(once.getMetrics());
  });

  test('several adapters share one registry; the backend label tells them apart', async () => {
    const registry = new Registry();
    const first = withMetrics(memory(new MemoryBroker()), { registry });
    const second = withMetrics(memory(new MemoryBroker()), { registry });
    await first.publish({ topic: 'shared', data: 1 });
    await second.publish({ topic: 'shared', data: 2 });
    expect(await sampleValue(registry, METRIC_NAMES.published, { topic: 'shared', backend: 'memory' })).toBe(2);
    const exposition = await registry.metrics();
    for (const name of Object.values(METRIC_NAMES)) expect(exposition).toContain(`# TYPE ${name}`);
  });

  test('topicLabel bounds cardinality; a throwing one does not break publishing', async () => {
    const registry = new Registry();
    const adapter = withMetrics(memory(new MemoryBroker()), {
      registry,
      topicLabel: (topic) => topic.replace(/\.tenant-\d+$/, '.tenant-*'),
    });
    await adapter.publish({ topic: 'invoices.tenant-1', data: 1 });
    await adapter.publish({ topic: 'invoices.tenant-2', data: 1 });
    expect(await sampleValue(registry, METRIC_NAMES.published, { topic: 'invoices.tenant-*' })).toBe(2);
    const broken = withMetrics(memory(new MemoryBroker()), {
      registry: new Registry(),
      topicLabel: () => {
        throw new Error('label bug');
      },
    });
    await expect(broken.publish({ topic: 'x', data: 1 })).resolves.toMatchObject({ topic: 'x' });
  });

  test('options are validated when decorating', () => {
    const adapter = memory(new MemoryBroker());
    expect(() => withMetrics(adapter, { publishDurationBuckets: [] })).toThrow(/publishDurationBuckets/);
    expect(() => withMetrics(adapter, { handlerDurationBuckets: [1, 0.5] })).toThrow(/handlerDurationBuckets/);
    expect(() => withMetrics(adapter, { topicLabel: 'x' as unknown as () => string })).toThrow(/topicLabel/);
  });
});
