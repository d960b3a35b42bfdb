import {
  CircuitOpenError,
  type CircuitStateChange,
  isBrokerFailure,
  withCircuitBreaker,
} from '@eventport/circuit-breaker';
import { EventportError, type ReceivedMessage, silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { FaultyAdapter } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup(options: Parameters<typeof withCircuitBreaker>[1] = {}) {
  const faulty = new FaultyAdapter(createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger }));
  const changes: CircuitStateChange[] = [];
  const adapter = withCircuitBreaker(faulty, {
    consecutiveFailures: 3,
    halfOpenAfterMs: 200,
    logger: silentLogger,
    onStateChange: (change) => changes.push(change),
    ...options,
  });
  return { faulty, adapter, changes };
}

async function failTimes(adapter: { publish: (m: { topic: string; data: unknown }) => Promise<unknown> }, n: number) {
  for (let i = 0; i < n; i++)
    await expect(adapter.publish({ topic: 't', data: i })).rejects.toBeInstanceOf(EventportError);
}

describe('withCircuitBreaker', () => {
  test('opens after N consecutive broker failures and then fails fast without calling the adapter below', async () => {
    const { faulty, adapter, changes } = setup();
    faulty.failWith = 'CONNECTION';
    await failTimes(adapter, 3);
    expect(adapter.circuitState).toBe('open');
    expect(faulty.publishCalls).toBe(3);

    const callsWhenOpened = faulty.publishCalls;
    for (let i = 0; i < 50; i++) {
      const attempt = adapter.publish({ topic: 't', data: i });
      await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
      await expect(attempt).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    }
    await expect(adapter.publishBatch([{ topic: 't', data: 1 }])).rejects.toBeInstanceOf(CircuitOpenError);
    expect(faulty.publishCalls).toBe(callsWhenOpened);

    const error = await adapter.publish({ topic: 't', data: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EventportError);
    expect((error as CircuitOpenError).retryAfterMs).toBeGreaterThan(0);
    expect((error as CircuitOpenError).retryAfterMs).toBeLessThanOrEqual(200);
    expect((error as CircuitOpenError).cause).toMatchObject({ code: 'CONNECTION' });
    expect(changes.map(({ from, to }) => `${from}->${to}`)).toEqual(['closed->open']);
    expect(changes[0]?.retryAfterMs).toBe(200);
    await adapter.disconnect();
  });

  test('half-opens after the cool-down: one probe reaches the adapter, success closes the circuit', async () => {
    const { faulty, adapter, changes } = setup();
    faulty.failWith = 'TIMEOUT';
    await failTimes(adapter, 3);
    faulty.failWith = undefined;
    await sleep(adapter.retryAfterMs() + 20);
    expect(adapter.retryAfterMs()).toBe(0);

    const callsBeforeProbe = faulty.publishCalls;
    const probe = await adapter.publish({ topic: 't', data: 'probe' });
    expect(probe.id).toBeDefined();
    expect(faulty.publishCalls).toBe(callsBeforeProbe + 1);
    expect(adapter.circuitState).toBe('closed');
    expect(changes.map(({ from, to }) => `${from}->${to}`)).toEqual([
      'closed->open',
      'open->half-open',
      'half-open->closed',
    ]);
    await adapter.publish({ topic: 't', data: 'after' });
    await adapter.disconnect();
  });

  test('a failed probe opens the circuit again for another cool-down', async () => {
    const { faulty, adapter, changes } = setup();
    faulty.failWith = 'CONNECTION';
    await failTimes(adapter, 3);
    await sleep(adapter.retryAfterMs() + 20);
    await expect(adapter.publish({ topic: 't', data: 'probe' })).rejects.toMatchObject({ code: 'CONNECTION' });
    expect(adapter.circuitState).toBe('open');
    await expect(adapter.publish({ topic: 't', data: 'fast' })).rejects.toBeInstanceOf(CircuitOpenError);
    expect(faulty.publishCalls).toBe(4);
    expect(changes.map(({ to }) => to)).toEqual(['open', 'half-open', 'open']);
    await adapter.disconnect();
  });

  test('caller mistakes never count against the broker', async () => {
    const { faulty, adapter } = setup();
    for (const code of ['INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE', 'NOT_FOUND'] as const) {
      faulty.failWith = code;
      await failTimes(adapter, 5);
    }
    faulty.failWith = undefined;
    await expect(adapter.publish({ topic: 'not a valid topic!', data: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(adapter.circuitState).toBe('closed');
    expect(isBrokerFailure(new EventportError('CONNECTION', 'x'))).toBe(true);
    expect(isBrokerFailure(new Error('raw driver error'))).toBe(true);
    expect(isBrokerFailure(new CircuitOpenError('memory', 10))).toBe(false);
    await adapter.disconnect();
  });

  test('failure-ratio policy opens when the share of failures in the window passes the threshold', async () => {
    const { faulty, adapter } = setup({
      consecutiveFailures: undefined,
      failureRatio: { threshold: 0.5, windowMs: 5_000, minimumRps: 1 },
    });
    for (let i = 0; i < 10; i++) {
      faulty.failWith = i % 3 === 0 ? 'CONNECTION' : undefined;
      await adapter.publish({ topic: 't', data: i }).catch(() => undefined);
    }
    expect(adapter.circuitState).toBe('closed');
    faulty.failWith = 'CONNECTION';
    for (let i = 0; i < 20 && adapter.circuitState === 'closed'; i++) {
      await adapter.publish({ topic: 't', data: i }).catch(() => undefined);
    }
    expect(adapter.circuitState).toBe('open');
    await expect(adapter.publish({ topic: 't', data: 'x' })).rejects.toBeInstanceOf(CircuitOpenError);
    await adapter.disconnect();
  });

  test('connect() retries with backoff through the breaker, so a dead broker gets a bounded number of attempts', async () => {
    const { faulty, adapter } = setup({ connectRetry: { attempts: 10, initialDelayMs: 5, maxDelayMs: 20 } });
    faulty.failWith = 'CONNECTION';
    await expect(adapter.connect()).rejects.toBeInstanceOf(CircuitOpenError);
    // The third failure opens the circuit; the retry stops there instead of using all 10 attempts.
    expect(faulty.connectCalls).toBe(3);
    await expect(adapter.connect()).rejects.toBeInstanceOf(CircuitOpenError);
    expect(faulty.connectCalls).toBe(3);

    faulty.failWith = undefined;
    await sleep(adapter.retryAfterMs() + 20);
    await adapter.connect();
    expect(faulty.connectCalls).toBe(4);
    expect(adapter.circuitState).toBe('closed');
    await adapter.disconnect();
  });

  test('connect() recovers from a transient failure by retrying', async () => {
    const { faulty, adapter } = setup({ connectRetry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 } });
    faulty.failWith = 'CONNECTION';
    faulty.failuresLeft = 2;
    await adapter.connect();
    expect(faulty.connectCalls).toBe(3);
    expect(adapter.circuitState).toBe('closed');
    await adapter.disconnect();
  });

  test('subscriptions keep flowing while the publish circuit is open', async () => {
    const broker = new MemoryBroker();
    const faulty = new FaultyAdapter(createMemoryAdapter({ broker, logger: silentLogger }));
    const adapter = withCircuitBreaker(faulty, { consecutiveFailures: 1, logger: silentLogger });
    const producer = createMemoryAdapter({ broker, logger: silentLogger });
    const received: unknown[] = [];
    const subscription = await adapter.subscribe('flow', (message: ReceivedMessage) => {
      received.push(message.data);
    });
    faulty.failWith = 'CONNECTION';
    await expect(adapter.publish({ topic: 'flow', data: 0 })).rejects.toMatchObject({ code: 'CONNECTION' });
    expect(adapter.circuitState).toBe('open');
    await producer.publish({ topic: 'flow', data: 1 });
    for (let i = 0; i < 100 && received.length < 1; i++) await sleep(10);
    expect(received).toEqual([1]);
    await subscription.close();
    await Promise.all([producer.disconnect(), adapter.disconnect()]);
  });

  test('bufferWhileOpen holds publishes (bounded) and sends them in order once the probe succeeds', async () => {
    const broker = new MemoryBroker();
    const faulty = new FaultyAdapter(createMemoryAdapter({ broker, logger: silentLogger }));
    const adapter = withCircuitBreaker(faulty, {
      consecutiveFailures: 2,
      halfOpenAfterMs: 150,
      bufferWhileOpen: { maxMessages: 3 },
      logger: silentLogger,
    });
    faulty.failWith = 'CONNECTION';
    await failTimes(adapter, 2);
    const held = [0, 1, 2].map((n) => adapter.publish({ topic: 'held', data: n }));
    await expect(adapter.publish({ topic: 'held', data: 'overflow' })).rejects.toBeInstanceOf(CircuitOpenError);
    expect(faulty.publishCalls).toBe(2);
    faulty.failWith = undefined;
    const sent = await Promise.all(held);
    expect(adapter.circuitState).toBe('closed');

    const order: unknown[] = [];
    const consumer = createMemoryAdapter({ broker, logger: silentLogger });
    const subscription = await consumer.subscribe(
      'held',
      (message) => {
        order.push(message.data);
      },
      { fromBeginning: true, concurrency: 1 },
    );
    for (let i = 0; i < 100 && order.length < 3; i++) await sleep(10);
    expect(order).toEqual([0, 1, 2]);
    expect(sent).toHaveLength(3);
    await subscription.close();
    await Promise.all([consumer.disconnect(), adapter.disconnect()]);
  });

  test('disconnect() rejects publishes still held by the open circuit with CLOSED', async () => {
    const { faulty, adapter } = setup({ bufferWhileOpen: { maxMessages: 10 }, halfOpenAfterMs: 60_000 });
    faulty.failWith = 'CONNECTION';
    await failTimes(adapter, 3);
    const held = adapter.publish({ topic: 't', data: 'held' });
    await adapter.disconnect();
    await expect(held).rejects.toMatchObject({ code: 'CLOSED' });
  });

  test('applying it twice is harmless: one breaker, one set of retries', async () => {
    const faulty = new FaultyAdapter(createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger }));
    const once = withCircuitBreaker(faulty, { consecutiveFailures: 2, logger: silentLogger });
    expect(withCircuitBreaker(once)).toBe(once);
    const twice = withCircuitBreaker(new FaultyAdapter(once), { consecutiveFailures: 50, logger: silentLogger });
    faulty.failWith = 'CONNECTION';
    await failTimes(twice, 2);
    expect(twice.circuitState).toBe('open');
    expect(once.circuitState).toBe('open');
    await expect(twice.publish({ topic: 't', data: 1 })).rejects.toBeInstanceOf(CircuitOpenError);
    expect(faulty.publishCalls).toBe(2);
    await twice.disconnect();
  });

  test('options are validated before anything is wrapped', () => {
    const adapter = createMemoryAdapter({ broker: new MemoryBroker() });
    expect(() => withCircuitBreaker(adapter, { consecutiveFailures: 0 })).toThrow(EventportError);
    expect(() => withCircuitBreaker(adapter, { halfOpenAfterMs: -1 })).toThrow(/halfOpenAfterMs/);
    expect(() => withCircuitBreaker(adapter, { failureRatio: { threshold: 1.5 } })).toThrow(/threshold/);
    expect(() => withCircuitBreaker(adapter, { consecutiveFailures: 3, failureRatio: { threshold: 0.5 } })).toThrow(
      /either/,
    );
  });

  test('a throwing state-change listener does not break publishing', async () => {
    const { faulty, adapter } = setup({
      onStateChange: () => {
        throw new Error('listener bug');
      },
    });
    const seen: string[] = [];
    const stop = adapter.onStateChange(({ to }) => seen.push(to));
    faulty.failWith = 'CONNECTION';
    await failTimes(adapter, 3);
    expect(seen).toEqual(['open']);
    stop();
    await adapter.disconnect();
  });
});
