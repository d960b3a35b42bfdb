import { randomUUID } from 'node:crypto';
import { createAdapter, type EventAdapter, type ReceivedMessage } from '@eventport/core';
import { METRIC_NAMES, withMetrics } from '@eventport/metrics';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SpanKind, trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { installTestOpenTelemetry, type RecordedSpan, type RecordingTracerProvider } from './otel';
import { sampleValue } from './read-metrics';

// Against the real Redis on this machine: an unreachable broker fails the test, it is never skipped.
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = randomUUID().slice(0, 8);

let otel: RecordingTracerProvider;
let adapter: EventAdapter & { getMetrics(): { published: number; acked: number } };
const registry = new Registry();

beforeAll(async () => {
  otel = installTestOpenTelemetry();
  adapter = withMetrics(await createAdapter('redis-streams', { url }), { registry });
  await adapter.connect();
});

afterAll(async () => {
  await adapter?.disconnect();
});

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('withMetrics on redis-streams', () => {
  test('trace context survives a publish → consume round trip through Redis', async () => {
    const topic = `ep-metrics-trace-${run}`;
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        received.push(message);
      },
      { group: 'traced' },
    );
    const tracer = trace.getTracer('app');
    const published = await tracer.startActiveSpan('job', async (job) => {
      try {
        return await adapter.publishBatch([1, 2, 3].map((n) => ({ topic, data: { n }, key: `k${n}` })));
      } finally {
        job.end();
      }
    });
    await until(() => received.length >= 3);
    await subscription.close();

    const job = otel.named('job')[0] as RecordedSpan;
    for (const message of published) {
      const producer = otel.spans.find(
        (span) => span.kind === SpanKind.PRODUCER && span.attributes['messaging.message.id'] === message.id,
      ) as RecordedSpan;
      const consumer = otel.spans.find(
        (span) => span.kind === SpanKind.CONSUMER && span.attributes['messaging.message.id'] === message.id,
      ) as RecordedSpan;
      const delivered = received.find((each) => each.id === message.id);
      expect(producer.parent?.spanId).toBe(job.spanContext().spanId);
      expect(delivered?.headers.traceparent).toBe(
        `00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01`,
      );
      expect(consumer.parent?.spanId).toBe(producer.spanContext().spanId);
      expect(consumer.spanContext().traceId).toBe(job.spanContext().traceId);
      expect(consumer.attributes).toMatchObject({
        'messaging.system': 'redis-streams',
        'messaging.destination.name': topic,
        'messaging.consumer.group.name': 'traced',
        'eventport.outcome': 'ack',
      });
    }
    expect(await sampleValue(registry, METRIC_NAMES.published, { topic, backend: 'redis-streams' })).toBe(3);
    expect(await sampleValue(registry, METRIC_NAMES.consumed, { topic, outcome: 'ack' })).toBe(3);
    await adapter.deleteTopic(topic).catch(() => undefined);
  });
});
