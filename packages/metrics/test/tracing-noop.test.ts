import { type ReceivedMessage, silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { withMetrics } from '@eventport/metrics';
import { describe, expect, test } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { RecordingTracerProvider, W3CTestPropagator } from './otel';

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// No OpenTelemetry SDK in this file: the global API is the no-op one.
describe('withMetrics without an OpenTelemetry SDK', () => {
  test('publishes and handles as usual, adds no headers, hands the caller input through untouched', async () => {
    const adapter = withMetrics(createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger }), {
      registry: new Registry(),
    });
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe('plain', (message) => {
      received.push(message);
    });
    const input = { topic: 'plain', data: 1, headers: { 'x-a': '1' } };
    const published = await adapter.publish(input);
    await until(() => received.length === 1);
    await subscription.close();
    await adapter.disconnect();
    expect(input.headers).toEqual({ 'x-a': '1' });
    expect(published.headers.traceparent).toBeUndefined();
    expect(received[0]?.headers).toEqual(published.headers);
    expect(adapter.getMetrics()).toMatchObject({ published: 1, acked: 1 });
  });

  test('a tracer provider and propagator can be injected instead of registered globally', async () => {
    const provider = new RecordingTracerProvider();
    const adapter = withMetrics(createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger }), {
      registry: new Registry(),
      tracerProvider: provider,
      propagator: new W3CTestPropagator(),
    });
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe('injected', (message) => {
      received.push(message);
    });
    const published = await adapter.publish({ topic: 'injected', data: 1 });
    await until(() => received.length === 1);
    await subscription.close();
    await adapter.disconnect();
    const producer = provider.spans.find((span) => span.kind === SpanKind.PRODUCER);
    const consumer = provider.spans.find((span) => span.kind === SpanKind.CONSUMER);
    expect(received[0]?.headers.traceparent).toBe(
      `00-${producer?.spanContext().traceId}-${producer?.spanContext().spanId}-01`,
    );
    expect(consumer?.parent?.spanId).toBe(producer?.spanContext().spanId);
    expect(producer?.attributes['messaging.message.id']).toBe(published.id);
  });
});
