import type { Capabilities } from './capabilities.js';
import type { ErrorCode } from './errors.js';
import type { BackendMeta, Headers } from './message.js';

/**
 * The broker-specific minimum a backend implements. Everything users touch (ids, encoding,
 * validation, retries, ack bookkeeping, concurrency, per-key order, draining) lives once in the
 * portable layer, which turns a Driver into an EventAdapter via `createPortableAdapter`.
 */
export interface Driver {
  /** The EVENT_TYPE name, used in metrics labels and error messages. */
  readonly backend: string;
  readonly capabilities: Capabilities;
  connect(): Promise<void>;
  /** Called once, after every subscription is closed. */
  disconnect(): Promise<void>;
  /** Sends records to one topic; resolves only when the broker has accepted all of them. */
  send(topic: string, records: readonly OutgoingRecord[]): Promise<void>;
  /**
   * Starts delivering records of `topic` to `sink`. Resolves once the group's position exists on the
   * broker: a record sent after that is delivered to the group even if no member is running then
   * (a queue, subscription, consumer-group offset or checkpoint created on demand). The driver
   * awaits `sink` before fetching more than it already holds: its promise resolves when the
   * portable layer has room for another record.
   */
  subscribe(topic: string, options: DriverSubscribeOptions, sink: RecordSink): Promise<DriverSubscription>;
  createTopic(topic: string, options: CreateTopicOptions): Promise<void>;
  deleteTopic(topic: string): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Cheap round trip to the broker; throws when it is unreachable. */
  ping(): Promise<void>;
  /** Maps a broker error to a portable code; `retryable` tells the portable layer whether to retry a send. */
  classifyError?(error: unknown): { code: ErrorCode; retryable: boolean } | undefined;
  /** Escape hatch to the native client (see EventAdapter.native). */
  native?(): unknown;
}

/** What goes over the wire: reserved headers (ce-id, ce-time, content-type) already set by the portable layer. */
export interface OutgoingRecord {
  key?: string;
  headers: Headers;
  body: Buffer;
}

export interface IncomingRecord {
  key?: string;
  headers: Headers;
  body: Buffer;
  /** Delivery count where the broker keeps one, otherwise the driver's best local count (from 1). */
  attempt: number;
  meta: BackendMeta;
  /** Called at most once per delivery, after the handler resolved. */
  ack(): Promise<void>;
  /** Called at most once per delivery: give the record back for redelivery, after `delayMs` if the broker can wait. */
  nack(delayMs: number): Promise<void>;
}

export type RecordSink = (record: IncomingRecord) => Promise<void>;

export interface DriverSubscribeOptions {
  group: string;
  fromBeginning: boolean;
  /** Upper bound of unsettled records the portable layer will hold; use it as prefetch / flow control. */
  maxInFlight: number;
  /** Background trouble the driver recovers from on its own (reconnects, rebalances), for logs. */
  onError(error: unknown): void;
}

export interface DriverSubscription {
  /** Stop fetching: once this resolves the sink is not called again. Records already delivered can still be settled. */
  stop(): Promise<void>;
  /** Release the subscription after every delivered record was settled (or the drain timed out). */
  close(): Promise<void>;
}

export interface CreateTopicOptions {
  /** Partitions (Kafka) or shards (Kinesis); ignored where the broker has neither. */
  partitions?: number;
}
