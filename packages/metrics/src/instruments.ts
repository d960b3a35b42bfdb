import type { ConsumerLag, HealthStatus } from '@eventport/core';
import { Counter, Gauge, Histogram, type Registry, register } from 'prom-client';

export const METRIC_NAMES = {
  published: 'eventport_published_total',
  publishErrors: 'eventport_publish_errors_total',
  consumed: 'eventport_consumed_total',
  publishDuration: 'eventport_publish_duration_seconds',
  handlerDuration: 'eventport_handler_duration_seconds',
  inFlight: 'eventport_handlers_in_flight',
  deadLettered: 'eventport_dead_lettered_total',
  subscriptionState: 'eventport_subscription_state',
  lagMessages: 'eventport_consumer_lag_messages',
  lagSeconds: 'eventport_consumer_lag_seconds',
  connected: 'eventport_broker_connected',
} as const;

/** Seconds; from a fast in-process publish to a slow broker round trip under load. */
export const DEFAULT_PUBLISH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
export const DEFAULT_HANDLER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type BaseLabel = 'topic' | 'backend';
type ConsumerLabel = BaseLabel | 'group';

export interface Instruments {
  published: Counter<BaseLabel>;
  publishErrors: Counter<BaseLabel | 'code'>;
  consumed: Counter<ConsumerLabel | 'outcome'>;
  publishDuration: Histogram<BaseLabel>;
  handlerDuration: Histogram<ConsumerLabel>;
  inFlight: Gauge<ConsumerLabel>;
  deadLettered: Counter<BaseLabel>;
  subscriptionState: Gauge<ConsumerLabel | 'state'>;
  lagMessages: Gauge<ConsumerLabel>;
  lagSeconds: Gauge<ConsumerLabel>;
  connected: Gauge<'backend'>;
}

/** What the scrape-time gauges read from one decorated adapter. */
export interface ScrapeSource {
  backend: string;
  subscriptions(): Array<{
    topic: string;
    group: string;
    backend: string;
    state: string;
    lag: () => Promise<ConsumerLag | undefined>;
  }>;
  /** The adapter's health(), which answers within its deadline (a disconnected adapter may reject). */
  health(): Promise<HealthStatus>;
  /** Adds the per-message counts kept since the last read to the counters and the in-flight gauge. */
  flush(): void;
}

const STATES = ['running', 'reconnecting', 'closed'] as const;
/** Every registry's state gauge reads the subscriptions of every adapter decorated against it. */
const scrapeSources = new WeakMap<Registry, Set<ScrapeSource>>();

export interface InstrumentOptions {
  registry?: Registry;
  publishDurationBuckets?: number[];
  handlerDurationBuckets?: number[];
}

/**
 * The metrics in `registry`, created on first use. Every adapter decorated against the same registry
 * shares them (labels tell backends and topics apart), so decorating several adapters never trips
 * prom-client's duplicate-name check.
 */
export function instrumentsFor(options: InstrumentOptions, source?: ScrapeSource): Instruments {
  const registry = options.registry ?? register;
  const sources = scrapeSources.get(registry) ?? new Set<ScrapeSource>();
  scrapeSources.set(registry, sources);
  if (source) sources.add(source);
  const existing = <M>(name: string, create: () => M): M =>
    (registry.getSingleMetric(name) as M | undefined) ?? create();
  const subscriptions = () => [...sources].flatMap((each) => each.subscriptions());
  // Per-message counts reach prom-client when it is read (every read runs collect), not one hashed label set per message.
  const flushAll = () => {
    for (const each of sources) each.flush();
  };
  // Read at scrape time from the broker (one call per subscription, within the health deadline); a
  // subscription whose broker reports no lag, or did not answer, has no sample rather than a made-up one.
  const lagGauge = (name: string, help: string, pick: (lag: ConsumerLag) => number | undefined) =>
    existing(
      name,
      () =>
        new Gauge({
          name,
          help,
          labelNames: ['topic', 'backend', 'group'],
          registers: [registry],
          async collect() {
            this.reset();
            await Promise.all(
              subscriptions().map(async ({ topic, group, backend, state, lag }) => {
                if (state !== 'running') return;
                const value = await lag().then(
                  (read) => (read === undefined ? undefined : pick(read)),
                  () => undefined,
                );
                if (value !== undefined) this.set({ topic, group, backend }, value);
              }),
            );
          },
        }),
    );
  const durationHistogram = (name: string, help: string, buckets: number[], labelNames: string[]) =>
    existing(name, () => new Histogram({ name, help, labelNames, buckets, registers: [registry] }));
  return {
    published: existing(
      METRIC_NAMES.published,
      () =>
        new Counter({
          name: METRIC_NAMES.published,
          help: 'Messages the broker accepted',
          labelNames: ['topic', 'backend'],
          registers: [registry],
          collect: flushAll,
        }),
    ),
    publishErrors: existing(
      METRIC_NAMES.publishErrors,
      () =>
        new Counter({
          name: METRIC_NAMES.publishErrors,
          help: 'Messages whose publish failed, by eventport error code',
          labelNames: ['topic', 'backend', 'code'],
          registers: [registry],
        }),
    ),
    consumed: existing(
      METRIC_NAMES.consumed,
      () =>
        new Counter({
          name: METRIC_NAMES.consumed,
          help: 'Deliveries handled: ack (handler resolved), nack (handler threw; redelivered), invalid (undecodable or schema-invalid)',
          labelNames: ['topic', 'backend', 'group', 'outcome'],
          registers: [registry],
          collect: flushAll,
        }),
    ),
    publishDuration: durationHistogram(
      METRIC_NAMES.publishDuration,
      'Time until the broker accepted a publish or publishBatch call, retries included',
      options.publishDurationBuckets ?? DEFAULT_PUBLISH_BUCKETS,
      ['topic', 'backend'],
    ),
    handlerDuration: durationHistogram(
      METRIC_NAMES.handlerDuration,
      'Time from handing a delivery to the handler until it was settled',
      options.handlerDurationBuckets ?? DEFAULT_HANDLER_BUCKETS,
      ['topic', 'backend', 'group'],
    ),
    inFlight: existing(
      METRIC_NAMES.inFlight,
      () =>
        new Gauge({
          name: METRIC_NAMES.inFlight,
          help: 'Deliveries being handled right now',
          labelNames: ['topic', 'backend', 'group'],
          registers: [registry],
          collect: flushAll,
        }),
    ),
    deadLettered: existing(
      METRIC_NAMES.deadLettered,
      () =>
        new Counter({
          name: METRIC_NAMES.deadLettered,
          help: 'Messages published to a dead-letter topic, by the topic they came from',
          labelNames: ['topic', 'backend'],
          registers: [registry],
        }),
    ),
    subscriptionState: existing(
      METRIC_NAMES.subscriptionState,
      () =>
        new Gauge({
          name: METRIC_NAMES.subscriptionState,
          help: 'Subscriptions by state (1 for the state each is in): running, reconnecting after a broker failure, closed',
          labelNames: ['topic', 'backend', 'group', 'state'],
          registers: [registry],
          collect() {
            this.reset();
            for (const { topic, group, backend, state } of subscriptions()) {
              for (const candidate of STATES)
                this.set({ topic, group, backend, state: candidate }, candidate === state ? 1 : 0);
            }
          },
        }),
    ),
    lagMessages: lagGauge(
      METRIC_NAMES.lagMessages,
      'Records the group has not been given yet (and, where the broker counts so, not acked), as the broker reports it: Kafka offsets, Redis XINFO, RabbitMQ queue depth, JetStream num_pending',
      (lag) => lag.messages,
    ),
    lagSeconds: lagGauge(
      METRIC_NAMES.lagSeconds,
      'How far behind the newest record the group reads, where the broker reports it (Kinesis MillisBehindLatest)',
      (lag) => (lag.millisBehind === undefined ? undefined : lag.millisBehind / 1000),
    ),
    connected: existing(
      METRIC_NAMES.connected,
      () =>
        new Gauge({
          name: METRIC_NAMES.connected,
          help: 'Whether the broker answered a health ping at scrape time (1) or not (0), within the health deadline',
          labelNames: ['backend'],
          registers: [registry],
          async collect() {
            this.reset();
            const answers = await Promise.all(
              [...sources].map(async (each) => ({
                backend: each.backend,
                ok: await each.health().then(
                  (health) => health.ok,
                  () => false,
                ),
              })),
            );
            // Several adapters of one backend: connected only when every one of them is.
            const byBackend = new Map<string, boolean>();
            for (const { backend, ok } of answers) byBackend.set(backend, (byBackend.get(backend) ?? true) && ok);
            for (const [backend, ok] of byBackend) this.set({ backend }, ok ? 1 : 0);
          },
        }),
    ),
  };
}
