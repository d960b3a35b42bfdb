import {
  configFields,
  type EventAdapter,
  type EventMessage,
  ForwardingAdapter,
  findDecorator,
  InvalidMessageError,
  type InvalidMessageHook,
  isEventportError,
  type MessageHandler,
  type PublishInput,
  parseOptions,
  RESERVED_HEADERS,
  type SubscribeOptions,
  type Subscription,
  subscriptionWithClose,
} from '@eventport/core';
import { z } from 'zod';
import { type InstrumentOptions, type Instruments, instrumentsFor } from './instruments.js';
import { Tracing, type TracingOptions } from './tracing.js';

export interface MetricsOptions extends InstrumentOptions, TracingOptions {
  /**
   * The `topic` label of a topic. Default: the topic itself. Map topics that embed ids (per tenant,
   * per user) to a pattern here, so the number of series stays bounded.
   */
  topicLabel?: (topic: string) => string;
}

/** Totals of this adapter since it was decorated, for users without Prometheus. */
export interface MetricsSnapshot {
  /** Messages the broker accepted. */
  published: number;
  /** Messages whose publish failed (a failed batch counts each of its messages). */
  publishErrors: number;
  /** Deliveries handled, whatever the outcome: acked + nacked + invalid. */
  consumed: number;
  acked: number;
  /** Handler threw (or nacked): the message goes back to the broker for redelivery. */
  nacked: number;
  /** Undecodable or schema-invalid deliveries. */
  invalid: number;
  /** publishErrors + nacked + invalid. */
  errors: number;
  /** Handlers running right now. */
  inFlight: number;
  /** Mean time of a successful publish or publishBatch call. 0 before the first. */
  averagePublishLatencyMs: number;
  /** Mean time from handing a delivery to the handler until it was settled. 0 before the first. */
  averageHandlerDurationMs: number;
}

export interface Metrics {
  getMetrics(): MetricsSnapshot;
}

export type MetricsAdapter = EventAdapter & Metrics;

type Outcome = 'ack' | 'nack' | 'invalid';

/** Counted per message since the last read of the registry; `flush` hands them to prom-client. */
interface Unflushed {
  published: number;
  inFlight: number;
  ack: number;
  nack: number;
  invalid: number;
}

interface TopicLabels {
  base: { topic: string; backend: string };
  unflushed: Unflushed;
}

interface ConsumerLabels extends TopicLabels {
  base: { topic: string; backend: string; group: string };
  outcome: Record<Outcome, { topic: string; backend: string; group: string; outcome: Outcome }>;
}

const OUTCOMES: readonly Outcome[] = ['ack', 'nack', 'invalid'];

/** Set by @eventport/dlq on every dead letter: the topic the message was dead-lettered from. */
const DEAD_LETTER_ORIGIN_HEADER = 'dlq-original-topic';

/** Label objects are cached per topic (prom-client hashes them on every call anyway; this saves the allocations). */
const LABEL_CACHE_LIMIT = 1_000;

/**
 * Wraps `adapter` with Prometheus metrics (prom-client) and OpenTelemetry spans (@opentelemetry/api;
 * without an SDK they cost next to nothing and add no headers). Applying it again to a chain that is
 * already instrumented returns a view of the existing instrumentation, so nothing is counted twice.
 */
export function withMetrics(adapter: EventAdapter, options: MetricsOptions = {}): MetricsAdapter {
  validateOptions(options);
  if (adapter instanceof InstrumentedAdapter) return adapter;
  const existing = findDecorator(adapter, InstrumentedAdapter);
  if (existing) return new MetricsView(adapter, existing);
  return new InstrumentedAdapter(adapter, options);
}

class InstrumentedAdapter extends ForwardingAdapter implements Metrics {
  private readonly instruments: Instruments;
  private readonly tracing: Tracing;
  private readonly topicLabel: (topic: string) => string;
  private readonly totals = {
    published: 0,
    publishErrors: 0,
    publishCalls: 0,
    publishSeconds: 0,
    acked: 0,
    nacked: 0,
    invalid: 0,
    handlerRuns: 0,
    handlerSeconds: 0,
    inFlight: 0,
  };
  /** Errors the handler wrapper already counted as invalid; the onInvalid hook they reach next skips them. */
  private readonly countedInvalid = new WeakSet<object>();
  private readonly labelCache = new Map<string, TopicLabels | ConsumerLabels>();
  /** Label sets with counts prom-client has not been given yet. */
  private readonly unflushed = new Set<TopicLabels | ConsumerLabels>();
  private readonly subscriptions = new Set<Subscription>();

  constructor(inner: EventAdapter, options: MetricsOptions) {
    super(inner);
    this.instruments = instrumentsFor(options, {
      backend: inner.backend,
      subscriptions: () => this.subscriptionStates(),
      health: () => this.health(),
      flush: () => this.flush(),
    });
    this.tracing = new Tracing(inner.backend, options);
    this.topicLabel = options.topicLabel ?? ((topic) => topic);
  }

  private subscriptionStates() {
    return [...this.subscriptions].map((subscription) => ({
      ...subscription.state,
      backend: this.backend,
      lag: () => subscription.lag(),
    }));
  }

  getMetrics(): MetricsSnapshot {
    const { published, publishErrors, acked, nacked, invalid, inFlight } = this.totals;
    const { publishCalls, publishSeconds, handlerRuns, handlerSeconds } = this.totals;
    return {
      published,
      publishErrors,
      consumed: acked + nacked + invalid,
      acked,
      nacked,
      invalid,
      errors: publishErrors + nacked + invalid,
      inFlight,
      averagePublishLatencyMs: publishCalls === 0 ? 0 : (publishSeconds * 1000) / publishCalls,
      averageHandlerDurationMs: handlerRuns === 0 ? 0 : (handlerSeconds * 1000) / handlerRuns,
    };
  }

  override async publish<T>(message: PublishInput<T>): Promise<EventMessage<T>> {
    const [published] = await this.instrumentPublish([message], async ([input]) => [
      await this.inner.publish(input as PublishInput<T>),
    ]);
    return published as EventMessage<T>;
  }

  override publishBatch<T>(messages: readonly PublishInput<T>[]): Promise<EventMessage<T>[]> {
    return this.instrumentPublish(messages, (inputs) => this.inner.publishBatch(inputs));
  }

  override subscribe<T = unknown>(
    topic: string,
    handler: MessageHandler<T>,
    options?: SubscribeOptions,
  ): Promise<Subscription> {
    const hook = options?.onInvalid;
    const group = options?.group ?? 'default';
    const observer = options?.onSettled;
    const instrumentedOptions: SubscribeOptions = {
      ...options,
      ...(hook ? { onInvalid: this.instrumentInvalidHook(topic, group, hook) } : {}),
      // Undecodable deliveries never reach a handler or, without a hook, any callback but this one.
      onSettled: (settlement) => {
        if (settlement.outcome === 'invalid' && !this.countedInvalid.has(settlement.error as object)) {
          if (settlement.error instanceof Object) this.countedInvalid.add(settlement.error);
          this.countConsumed(this.labelsFor(topic, settlement.group), 'invalid');
        }
        observer?.(settlement);
      },
    };
    return this.inner
      .subscribe(topic, this.instrumentHandler(topic, group, handler), instrumentedOptions)
      .then((subscription) => this.watch(subscription));
  }

  /** Subscriptions whose state the state gauge reports on every scrape. */
  private watch(subscription: Subscription): Subscription {
    this.subscriptions.add(subscription);
    const subscriptions = this.subscriptions;
    return subscriptionWithClose(subscription, () =>
      subscription.close().finally(() => subscriptions.delete(subscription)),
    );
  }

  private async instrumentPublish<T>(
    inputs: readonly PublishInput<T>[],
    send: (inputs: PublishInput<T>[]) => Promise<EventMessage<T>[]>,
  ): Promise<EventMessage<T>[]> {
    const started = inputs.map((input) => this.tracing.startPublish(input, inputs.length));
    const startedAt = performance.now();
    let published: EventMessage<T>[];
    try {
      published = await send(started.map(({ input }) => input));
    } catch (error) {
      const code = isEventportError(error) ? error.code : 'INTERNAL';
      for (const [labels, count] of this.countByTopic(inputs)) {
        this.instruments.publishErrors.inc({ ...labels.base, code }, count);
      }
      this.totals.publishErrors += inputs.length;
      for (const { span } of started) this.tracing.failPublish(span, error);
      throw error;
    }
    const seconds = (performance.now() - startedAt) / 1000;
    for (const [labels, count] of this.countByTopic(inputs)) {
      this.count(labels, 'published', count);
      this.instruments.publishDuration.observe(labels.base, seconds);
    }
    for (const input of inputs) {
      const original = input.headers?.[DEAD_LETTER_ORIGIN_HEADER];
      if (original !== undefined) this.instruments.deadLettered.inc(this.labelsFor(original).base);
    }
    if (inputs.length > 0) {
      this.totals.published += inputs.length;
      this.totals.publishCalls++;
      this.totals.publishSeconds += seconds;
    }
    started.forEach(({ span }, index) => {
      this.tracing.endPublish(span, published[index]?.id ?? '');
    });
    return published;
  }

  private instrumentHandler<T>(topic: string, group: string, handler: MessageHandler<T>): MessageHandler<T> {
    const labels = this.labelsFor(topic, group);
    return async (message) => {
      // An explicit ack()/nack() decides the outcome (consume() settles that way; the handler then resolves).
      let settledAs: 'ack' | 'nack' | undefined;
      const { ack, nack } = message;
      message.ack = () => {
        settledAs ??= 'ack';
        return ack();
      };
      message.nack = (nackOptions) => {
        settledAs ??= 'nack';
        return nack(nackOptions);
      };
      const consumer = this.tracing.startConsume({
        topic,
        group: message.group,
        headers: message.headers,
        id: message.id,
        attempt: message.attempt,
      });
      this.count(labels, 'inFlight', 1);
      this.totals.inFlight++;
      const startedAt = performance.now();
      let thrown: Outcome | undefined;
      let failure: unknown;
      try {
        await this.tracing.runInConsume(consumer, () => handler(message));
      } catch (error) {
        failure = error;
        thrown = error instanceof InvalidMessageError ? 'invalid' : 'nack';
        if (thrown === 'invalid') this.countedInvalid.add(error as InvalidMessageError);
        throw error;
      } finally {
        const outcome = settledAs ?? thrown ?? 'ack';
        const seconds = (performance.now() - startedAt) / 1000;
        this.count(labels, 'inFlight', -1);
        this.totals.inFlight--;
        this.instruments.handlerDuration.observe(labels.base, seconds);
        this.totals.handlerRuns++;
        this.totals.handlerSeconds += seconds;
        this.countConsumed(labels, outcome);
        this.tracing.endConsume(consumer.span, outcome, failure);
      }
    };
  }

  /** Deliveries that never reached the handler (undecodable) are seen only here. */
  private instrumentInvalidHook(topic: string, group: string, hook: InvalidMessageHook): InvalidMessageHook {
    const labels = this.labelsFor(topic, group);
    return (error, delivery) => {
      if (!this.countedInvalid.has(error)) {
        this.countedInvalid.add(error);
        this.countConsumed(labels, 'invalid');
        const consumer = this.tracing.startConsume({
          topic,
          group: delivery.group,
          headers: delivery.headers,
          id: delivery.headers[RESERVED_HEADERS.id],
          attempt: delivery.attempt,
        });
        this.tracing.endConsume(consumer.span, 'invalid', error);
      }
      return hook(error, delivery);
    };
  }

  private countConsumed(labels: ConsumerLabels, outcome: Outcome): void {
    this.count(labels, outcome, 1);
    if (outcome === 'ack') this.totals.acked++;
    else if (outcome === 'nack') this.totals.nacked++;
    else this.totals.invalid++;
  }

  private count(labels: TopicLabels, what: keyof Unflushed, count: number): void {
    labels.unflushed[what] += count;
    this.unflushed.add(labels);
  }

  private flush(): void {
    const { published, consumed, inFlight } = this.instruments;
    for (const labels of this.unflushed) {
      const counts = labels.unflushed;
      if (counts.published > 0) published.inc(labels.base, counts.published);
      if ('outcome' in labels) {
        for (const outcome of OUTCOMES) if (counts[outcome] > 0) consumed.inc(labels.outcome[outcome], counts[outcome]);
        // Also at 0: a group that handled anything has an in-flight series.
        inFlight.inc(labels.base, counts.inFlight);
      }
      Object.assign(counts, { published: 0, inFlight: 0, ack: 0, nack: 0, invalid: 0 });
    }
    this.unflushed.clear();
  }

  private countByTopic(inputs: readonly PublishInput<unknown>[]): Array<[TopicLabels, number]> {
    const topicOf = (input: PublishInput<unknown> | undefined) =>
      typeof input?.topic === 'string' ? input.topic : 'invalid';
    if (inputs.length === 1) return [[this.labelsFor(topicOf(inputs[0])), 1]];
    const counts = new Map<string, number>();
    for (const input of inputs) counts.set(topicOf(input), (counts.get(topicOf(input)) ?? 0) + 1);
    return [...counts].map(([topic, count]) => [this.labelsFor(topic), count]);
  }

  private labelsFor(topic: string): TopicLabels;
  private labelsFor(topic: string, group: string): ConsumerLabels;
  private labelsFor(topic: string, group?: string): TopicLabels | ConsumerLabels {
    const cacheKey = group === undefined ? topic : `${topic}\n${group}`;
    const cached = this.labelCache.get(cacheKey);
    if (cached) return cached;
    const base = { topic: this.label(topic), backend: this.backend };
    const unflushed = { published: 0, inFlight: 0, ack: 0, nack: 0, invalid: 0 };
    const labels =
      group === undefined
        ? { base, unflushed }
        : {
            base: { ...base, group },
            unflushed,
            outcome: {
              ack: { ...base, group, outcome: 'ack' as const },
              nack: { ...base, group, outcome: 'nack' as const },
              invalid: { ...base, group, outcome: 'invalid' as const },
            },
          };
    if (this.labelCache.size < LABEL_CACHE_LIMIT) this.labelCache.set(cacheKey, labels);
    return labels;
  }

  /** A throwing topicLabel must not fail the publish or the delivery it is measuring. */
  private label(topic: string): string {
    try {
      return this.topicLabel(topic);
    } catch {
      return 'unlabeled';
    }
  }
}

/** A second withMetrics over an instrumented chain: forwards everything, reports the first one's totals. */
class MetricsView extends ForwardingAdapter implements Metrics {
  constructor(
    inner: EventAdapter,
    private readonly instrumented: InstrumentedAdapter,
  ) {
    super(inner);
  }

  getMetrics(): MetricsSnapshot {
    return this.instrumented.getMetrics();
  }
}

const Buckets = z
  .array(z.number().positive())
  .nonempty()
  .refine((buckets) => buckets.every((bound, index) => index === 0 || bound > (buckets[index - 1] as number)), {
    message: 'must be increasing',
  });

const MetricsOptionsSchema = z.object({
  publishDurationBuckets: Buckets.optional(),
  handlerDurationBuckets: Buckets.optional(),
  topicLabel: configFields.callback().optional(),
});

/** Only validates: the defaults are applied where each option is used. */
function validateOptions(options: MetricsOptions): void {
  parseOptions(MetricsOptionsSchema, options, 'metrics', 'INVALID_ARGUMENT');
}
