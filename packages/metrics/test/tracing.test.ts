import {
  type EventAdapter,
  type EventMessage,
  InvalidMessageError,
  type ReceivedMessage,
  silentLogger,
} from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { withMetrics } from '@eventport/metrics';
import { FaultyAdapter } from '@eventport/testkit';
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { installTestOpenTelemetry, type RecordedSpan, type RecordingTracerProvider } from './otel';

let otel: RecordingTracerProvider;
beforeAll(() => {
  otel = installTestOpenTelemetry();
});

const opened: EventAdapter[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((adapter) => adapter.disconnect()));
});

function traced(broker = new MemoryBroker()) {
  const inner = createMemoryAdapter({ broker, logger: silentLogger });
  const adapter = withMetrics(inner, { registry: new Registry() });
  opened.push(adapter);
  return adapter;
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const traceparentOf = (span: RecordedSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
const spanFor = (kind: SpanKind, messageId: string) =>
  otel.spans.find((span) => span.kind === kind && span.attributes['messaging.message.id'] === messageId);

describe('withMetrics: OpenTelemetry tracing', () => {
  test('publish → consume round trip: traceparent in the headers, consumer span parented by the producer span', async () => {
    const adapter = traced();
    const tracer = trace.getTracer('app');
    let activeInHandler: Span | undefined;
    let received: ReceivedMessage | undefined;
    const subscription = await adapter.subscribe(
      'orders',
      (message) => {
        activeInHandler = trace.getActiveSpan();
        received = message;
      },
      { group: 'billing' },
    );
    const published = await tracer.startActiveSpan('http POST /orders', async (request) => {
      try {
        return await adapter.publish({ topic: 'orders', data: { total: 5 } });
      } finally {
        request.end();
      }
    });
    await until(() => received !== undefined);
    await subscription.close();

    const request = otel.named('http POST')[0] as RecordedSpan;
    const producer = spanFor(SpanKind.PRODUCER, published.id) as RecordedSpan;
    const consumer = spanFor(SpanKind.CONSUMER, published.id) as RecordedSpan;
    expect(producer.name).toBe('send orders');
    expect(producer.parent?.spanId).toBe(request.spanContext().spanId);
    expect(producer.attributes).toMatchObject({
      'messaging.system': 'memory',
      'messaging.destination.name': 'orders',
      'messaging.operation.type': 'send',
      'messaging.message.id': published.id,
    });
    expect(producer.ended).toBe(true);
    expect(published.headers.traceparent).toBe(traceparentOf(producer));
    expect(received?.headers.traceparent).toBe(traceparentOf(producer));

    expect(consumer.name).toBe('process orders');
    expect(consumer.parent?.traceId).toBe(request.spanContext().traceId);
    expect(consumer.parent?.spanId).toBe(producer.spanContext().spanId);
    expect(consumer.parent?.isRemote).toBe(true);
    expect(consumer.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'billing',
      'messaging.message.conversation_id': published.headers['correlation-id'],
      'eventport.outcome': 'ack',
    });
    expect(consumer.ended).toBe(true);
    expect(activeInHandler).toBe(consumer);
  });

  test('a publish inside a handler continues the trace (producer span child of the consumer span)', async () => {
    const adapter = traced();
    const followUps: EventMessage[] = [];
    const done: ReceivedMessage[] = [];
    const first = await adapter.subscribe('step-1', async () => {
      followUps.push(await adapter.publish({ topic: 'step-2', data: 'next' }));
    });
    const second = await adapter.subscribe('step-2', (message) => {
      done.push(message);
    });
    const origin = await adapter.publish({ topic: 'step-1', data: 'start' });
    await until(() => done.length === 1);
    await Promise.all([first.close(), second.close()]);

    const firstConsumer = spanFor(SpanKind.CONSUMER, origin.id) as RecordedSpan;
    const secondProducer = spanFor(SpanKind.PRODUCER, followUps[0]?.id as string) as RecordedSpan;
    const secondConsumer = spanFor(SpanKind.CONSUMER, done[0]?.id as string) as RecordedSpan;
    const traceId = (spanFor(SpanKind.PRODUCER, origin.id) as RecordedSpan).spanContext().traceId;
    expect(secondProducer.parent?.spanId).toBe(firstConsumer.spanContext().spanId);
    expect(secondConsumer.parent?.spanId).toBe(secondProducer.spanContext().spanId);
    expect([firstConsumer, secondProducer, secondConsumer].map((span) => span.spanContext().traceId)).toEqual([
      traceId,
      traceId,
      traceId,
    ]);
  });

  test('a forwarded message keeps its trace: without an active span, its traceparent/tracestate are the parent', async () => {
    const adapter = traced();
    const upstream = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe('forwarded', (message) => {
      received.push(message);
    });
    const published = await adapter.publish({
      topic: 'forwarded',
      data: 1,
      headers: { traceparent: upstream, tracestate: 'vendor=abc' },
    });
    await until(() => received.length === 1);
    await subscription.close();
    const producer = spanFor(SpanKind.PRODUCER, published.id) as RecordedSpan;
    expect(producer.parent?.spanId).toBe('b7ad6b7169203331');
    expect(producer.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(received[0]?.headers.traceparent).toBe(traceparentOf(producer));
    expect(received[0]?.headers.tracestate).toBe('vendor=abc');
  });

  test('failures mark spans: publish errors, throwing handlers (nack) and invalid messages', async () => {
    const broker = new MemoryBroker();
    const faulty = new FaultyAdapter(createMemoryAdapter({ broker, logger: silentLogger }));
    const adapter = withMetrics(faulty, { registry: new Registry() });
    opened.push(adapter);
    faulty.failWith = 'CONNECTION';
    await expect(adapter.publish({ topic: 'bad', id: 'failed-publish', data: 1 })).rejects.toMatchObject({
      code: 'CONNECTION',
    });
    const failedProducer = spanFor(SpanKind.PRODUCER, 'failed-publish') as RecordedSpan;
    expect(failedProducer.status.code).toBe(SpanStatusCode.ERROR);
    expect(failedProducer.attributes['error.type']).toBe('CONNECTION');
    expect(failedProducer.ended).toBe(true);

    faulty.failWith = undefined;
    const attempts = new Map<string, number>();
    const subscription = await adapter.subscribe(
      'bad',
      (message) => {
        attempts.set(message.id, message.attempt);
        if (message.data === 'throw' && message.attempt === 1) throw new Error('boom password=hunter2');
        if (message.data === 'invalid') throw new InvalidMessageError('not a valid order');
      },
      { redeliveryDelayMs: () => 5, onInvalid: () => undefined },
    );
    const throwing = await adapter.publish({ topic: 'bad', data: 'throw' });
    const invalid = await adapter.publish({ topic: 'bad', data: 'invalid' });
    await until(() => attempts.get(throwing.id) === 2 && attempts.has(invalid.id));
    await subscription.close();
    const throwingSpans = otel.spans.filter(
      (span) => span.kind === SpanKind.CONSUMER && span.attributes['messaging.message.id'] === throwing.id,
    );
    expect(throwingSpans.map((span) => span.attributes['eventport.outcome'])).toEqual(['nack', 'ack']);
    expect(throwingSpans[0]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(throwingSpans[0]?.exceptions[0]?.toString()).not.toContain('hunter2');
    expect(JSON.stringify(throwingSpans[0]?.exceptions)).not.toContain('hunter2');
    expect(throwingSpans[1]?.attributes['eventport.delivery.attempt']).toBe(2);
    const invalidSpan = spanFor(SpanKind.CONSUMER, invalid.id) as RecordedSpan;
    expect(invalidSpan.attributes).toMatchObject({ 'eventport.outcome': 'invalid', 'error.type': 'INVALID_MESSAGE' });
  });

  test('consume() gets a consumer span per message, parented by the producer', async () => {
    const adapter = traced();
    const stream = adapter.consume('pulled', { fromBeginning: true });
    const published = await adapter.publish({ topic: 'pulled', data: 1 });
    for await (const message of stream) {
      await message.ack();
      break;
    }
    const producer = spanFor(SpanKind.PRODUCER, published.id) as RecordedSpan;
    const consumer = spanFor(SpanKind.CONSUMER, published.id) as RecordedSpan;
    expect(consumer.parent?.spanId).toBe(producer.spanContext().spanId);
    expect(consumer.attributes['eventport.outcome']).toBe('ack');
  });

  test('publishBatch: one producer span and one traceparent per message', async () => {
    const adapter = traced();
    const sent = await adapter.publishBatch([1, 2, 3].map((n) => ({ topic: 'batch', data: n })));
    const producers = sent.map((message) => spanFor(SpanKind.PRODUCER, message.id) as RecordedSpan);
    expect(new Set(producers.map((span) => span.spanContext().spanId)).size).toBe(3);
    sent.forEach((message, index) => {
      expect(message.headers.traceparent).toBe(traceparentOf(producers[index] as RecordedSpan));
    });
    expect(producers[0]?.attributes['messaging.batch.message_count']).toBe(3);
  });
});
