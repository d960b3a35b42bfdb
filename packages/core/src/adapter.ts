import type { Capabilities } from './capabilities.js';
import type { CreateTopicOptions } from './driver.js';
import type { InvalidMessageError } from './errors.js';
import type { EventMessage, Headers, PublishInput, ReceivedMessage } from './message.js';

export type MessageHandler<T = unknown> = (message: ReceivedMessage<T>) => Promise<void> | void;

/** The undecodable (or schema-rejected) delivery, raw, so nothing about it is lost. */
export interface InvalidDelivery {
  topic: string;
  group: string;
  key?: string;
  headers: Headers;
  body: Buffer;
  attempt: number;
}

/**
 * Called for a delivery that can never be handled. Resolving acks the delivery (you took care of it,
 * e.g. stored it in a dead-letter topic); throwing leaves it with the broker for redelivery.
 */
export type InvalidMessageHook = (error: InvalidMessageError, delivery: InvalidDelivery) => Promise<void> | void;

export interface SubscribeOptions {
  /** Consumer group: subscribers sharing it compete; each group gets every message. Default "default". */
  group?: string;
  /** Max handlers running at once (and the prefetch/flow-control window). Default 16. */
  concurrency?: number;
  /** A new group starts at the oldest retained message instead of new ones (capability replayFromStart). */
  fromBeginning?: boolean;
  /** How long close() waits for running handlers. Default 30 s. */
  drainTimeoutMs?: number;
  /** Redelivery delay after a handler throws, by attempt. Default exponential from 100 ms to 10 s. */
  redeliveryDelayMs?: (attempt: number) => number;
  /** Where undecodable/schema-invalid deliveries go. Default: log and leave them with the broker. */
  onInvalid?: InvalidMessageHook;
  /** Errors that do not stop the subscription (failed acks, reconnects); default logs them. */
  onError?: (error: unknown) => void;
  /**
   * Observes every outcome core decides for a delivery, including those that never reach a handler
   * (undecodable ones): for metrics and audits. Called synchronously; must not throw.
   */
  onSettled?: (settlement: Settlement) => void;
  /**
   * A throwaway group for looking at a topic (what `eventport tail` uses): it exists only while this
   * subscription runs, and close() removes every trace of it from the broker (queue, consumer-group
   * offsets, subscription, checkpoints). Messages published while it is not running are not kept for
   * it, nor while the subscription replaces a failed receiver. A process that dies without closing
   * leaves it where the broker has no expiry of its own (Redis; Pub/Sub and NATS expire theirs,
   * RabbitMQ drops the queue with the connection). Needs `capabilities.ephemeralGroups`. Default false.
   */
  ephemeral?: boolean;
}

/** How far a group is behind the head of its topic, in whichever units the broker reports. */
export interface ConsumerLag {
  /** Records the group has not yet been given (and, where the broker counts so, not yet acked). */
  messages?: number;
  /** How old the next record to read is, against the newest one (Kinesis' MillisBehindLatest). */
  millisBehind?: number;
}

export interface Settlement {
  topic: string;
  group: string;
  /** The broker's identity of the record (offset, entry id, message id). */
  recordId: string;
  attempt: number;
  /** ack: handled (or taken by onInvalid); nack: given back for redelivery; invalid: could never be handled. */
  outcome: 'ack' | 'nack' | 'invalid';
  error?: unknown;
}

export interface Subscription {
  readonly topic: string;
  readonly group: string;
  /** Handlers running right now. */
  readonly inFlight: number;
  /** Running, reconnecting after a failure (with the last error), or closed; reported by health(). */
  readonly state: SubscriptionHealth;
  /** The group's lag as the broker reports it; undefined where the broker reports none (or it is not connected). */
  lag(): Promise<ConsumerLag | undefined>;
  /** Stops fetching, waits for running handlers (up to drainTimeoutMs), settles them, releases. Safe to call twice. */
  close(): Promise<void>;
}

export interface ConsumeOptions extends Omit<SubscribeOptions, 'concurrency'> {
  /** Messages handed out and not yet acked/nacked. Default 16. */
  prefetch?: number;
}

/** An async-iterable stream of messages that the caller settles with ack() / nack(). */
export interface MessageStream<T = unknown> extends AsyncIterable<ReceivedMessage<T>> {
  /** Stops the stream; messages handed out and not yet settled are released for redelivery. */
  close(): Promise<void>;
}

export interface SubscriptionHealth {
  topic: string;
  group: string;
  state: 'running' | 'reconnecting' | 'closed';
  /** Handlers running. */
  inFlight: number;
  /** Records received and not yet acked or nacked. */
  unsettled: number;
  /** Why the subscription is reconnecting (redacted). */
  lastError?: string;
}

export interface HealthStatus {
  /** The broker answered a ping within the health deadline (liveness of the connection). */
  ok: boolean;
  /** ok, and every subscription is running (readiness: nothing is reconnecting). */
  ready: boolean;
  backend: string;
  latencyMs?: number;
  error?: string;
  subscriptions: SubscriptionHealth[];
}

export interface EventAdapter {
  /** The backend name (EVENT_TYPE value). */
  readonly backend: string;
  readonly capabilities: Capabilities;
  /** Optional: the first publish or subscribe connects. */
  connect(): Promise<void>;
  /** Closes every subscription (draining them), then the connection. Safe to call twice. */
  disconnect(): Promise<void>;
  publish<T>(message: PublishInput<T>): Promise<EventMessage<T>>;
  /** Publishes several messages (any topics), grouped per topic into the broker's batch call. */
  publishBatch<T>(messages: readonly PublishInput<T>[]): Promise<EventMessage<T>[]>;
  subscribe<T = unknown>(topic: string, handler: MessageHandler<T>, options?: SubscribeOptions): Promise<Subscription>;
  consume<T = unknown>(topic: string, options?: ConsumeOptions): MessageStream<T>;
  createTopic(topic: string, options?: CreateTopicOptions): Promise<void>;
  deleteTopic(topic: string): Promise<void>;
  listTopics(): Promise<string[]>;
  /** The consumer groups holding a position on `topic` (UNSUPPORTED where the backend cannot list them). */
  listGroups(topic: string): Promise<string[]>;
  health(): Promise<HealthStatus>;
  /** The broker client underneath, for what eventport does not cover. Its type is the backend's. */
  native(): unknown;
}
