import type { ConsumerLag } from './adapter.js';
import type { Capabilities } from './capabilities.js';
import type { ErrorCode } from './errors.js';
import type { BackendMeta, Headers } from './message.js';

/**
 * The broker-specific minimum a backend implements, shaped like Go CDK's `pubsub/driver`: every call
 * is one round of broker work that returns. Everything users touch lives once in core
 * (`createPortableAdapter`): ids, encoding, validation, publish retries, deadlines, the receive loop,
 * backpressure, settle batching, redelivery delays, per-key order, reconnects and drain.
 *
 * Every call receives an AbortSignal that core aborts at the call's deadline (or when the
 * subscription stops); a driver passes it to its client where the client takes one and otherwise
 * returns promptly once it fires. Core also stops waiting for a call at its deadline, so a driver
 * that hangs cannot hang the user.
 */
export interface Driver {
  /** The EVENT_TYPE name, used in metrics labels and error messages. */
  readonly backend: string;
  readonly capabilities: Capabilities;
  connect(signal: AbortSignal): Promise<void>;
  /** Called once, after every receiver is closed and every send settled. */
  disconnect(): Promise<void>;
  /**
   * Sends records to one topic. Returns one result per record, in order: a rejected record carries
   * the broker's error, which core classifies and retries only when retryable. Throwing means every
   * record failed with that error.
   */
  send(topic: string, records: readonly OutgoingRecord[], signal: AbortSignal): Promise<SendResult[]>;
  /**
   * True where `send` makes one broker call for all its records (one per partition or chunk at most), so
   * many records cost about what one does: core then gathers the single publishes to a topic that arrive
   * while a send to it is in flight into its next send. Leave it out where `send` makes a call per record
   * (`sendEach`, or per-message confirms): gathering would only make records wait for each other.
   */
  readonly batchedSend?: boolean;
  /**
   * True where publishing or subscribing makes a topic that does not exist yet (or any more), as
   * Pub/Sub and JetStream users expect: a record `send` fails, or `openReceiver` throws, with an error
   * `classify` calls NOT_FOUND, then core calls `createTopic` (ALREADY_EXISTS counts as done) and sends
   * or opens again. Without it, NOT_FOUND fails the publish or subscribe.
   */
  readonly autoCreateTopics?: boolean;
  /**
   * Makes sure the group's position exists on the broker (a queue, subscription, consumer-group
   * offset or checkpoint created on demand: a record sent after this resolves reaches the group even
   * if no member is running) and returns a receiver for one member of the group.
   */
  openReceiver(topic: string, options: ReceiverOptions, signal: AbortSignal): Promise<Receiver>;
  createTopic(topic: string, options: CreateTopicOptions, signal: AbortSignal): Promise<void>;
  deleteTopic(topic: string, signal: AbortSignal): Promise<void>;
  listTopics(signal: AbortSignal): Promise<string[]>;
  /**
   * Optional: the groups (named as given to openReceiver) that hold a position on `topic` (a queue,
   * consumer group, subscription or checkpoint on the broker), for `eventport` and for tests that
   * check an ephemeral group left nothing behind.
   */
  listGroups?(topic: string, signal: AbortSignal): Promise<string[]>;
  /**
   * Optional: removes an ephemeral group's position from the broker (its consumer, consumer-group
   * offsets), resolving as well when it is already gone. Core calls it once the last subscription of
   * this adapter to that group has closed its receivers. Leave it out where closing the receiver
   * removes the group already (an auto-delete queue, a subscription per receiver).
   */
  deleteGroup?(topic: string, group: string, signal: AbortSignal): Promise<void>;
  /** Cheap round trip to the broker; throws when it is unreachable. */
  ping(signal: AbortSignal): Promise<void>;
  /**
   * Maps a broker error (look through wrappers and causes) to a portable code. `retryable` is true
   * for failures that can succeed unchanged later: connection loss, timeouts, throttling, leader moves.
   */
  classify(error: unknown): ErrorClassification;
  /**
   * Client error objects can carry what they sent (ioredis keeps the AUTH arguments, AWS errors the
   * request). Core never exposes a driver error as-is: it keeps this sanitised copy as the `cause`.
   * Default: name, message, code and the sanitised cause chain.
   */
  sanitize?(error: unknown): unknown;
  /** Escape hatch to the native client (see EventAdapter.native). */
  native?(): unknown;
}

export interface ErrorClassification {
  code: ErrorCode;
  retryable: boolean;
}

export type SendResult = { ok: true } | { ok: false; error: unknown };

export const SENT: SendResult = Object.freeze({ ok: true });

/** For clients that send one record per call: all at once, each call's outcome its record's result. */
export async function sendEach<R>(
  records: readonly R[],
  sendOne: (record: R) => Promise<unknown>,
): Promise<SendResult[]> {
  const outcomes = await Promise.allSettled(records.map(sendOne));
  return outcomes.map((outcome) => (outcome.status === 'fulfilled' ? SENT : { ok: false, error: outcome.reason }));
}

/** What goes over the wire: reserved headers (the CloudEvents attributes, content-type) already set by core. */
export interface OutgoingRecord {
  key?: string;
  headers: Headers;
  body: Buffer;
  /**
   * The same on every retry of one publish call, different on the next call, even with the same
   * message id (a dead-letter replay). For brokers that drop re-sent duplicates (JetStream's
   * Nats-Msg-Id): de-duplicate on this, never on the message id, or a replay would vanish.
   */
  dedupeId: string;
}

/**
 * A record as a driver hands it out. Drivers may return their own subtype (carrying a delivery tag,
 * an entry id, a message handle): core gives the same objects back to `settle`.
 */
export interface IncomingRecord {
  /** Stable identity on the broker (offset, entry id, message id), the same on every redelivery. */
  id: string;
  key?: string;
  headers: Headers;
  body: Buffer;
  /** The broker's delivery count (1 on first delivery). Leave it out where the broker keeps none: core counts. */
  deliveryCount?: number;
  meta: BackendMeta;
}

export interface ReceiverOptions {
  group: string;
  fromBeginning: boolean;
  /**
   * Most records core will hold unsettled at once (running, waiting for their key, or waiting out a
   * redelivery delay). Use it as the broker-side prefetch / flow-control window where there is one.
   */
  maxUnsettled: number;
  /**
   * A throwaway member (`SubscribeOptions.ephemeral`): once its receiver is closed (and `deleteGroup`
   * called, where the driver has it), nothing of the group is left on the broker, and records
   * published while none is open are not kept for it.
   */
  ephemeral?: boolean;
}

/**
 * One member of a group. Core calls `receive` from one loop (never two at once) and `settle` for
 * records it holds; each record is settled exactly once, unless the receiver is closed first.
 */
export interface Receiver<R extends IncomingRecord = IncomingRecord> {
  /**
   * Up to `max` records. Waits while none is available; when `signal` aborts, returns promptly with
   * what it has (possibly none). Throws when this receiver cannot go on (its channel, stream or
   * connection is gone for good): core then closes it and opens a new one with backoff.
   */
  receive(max: number, signal: AbortSignal): Promise<R[]>;
  /**
   * Acks and nacks, in one broker call where the broker allows it. A nack gives the record back for
   * immediate redelivery (core has already waited out any delay); on a log, it redelivers that record
   * only, never records already acked. Records of a receiver that was replaced may fail here with a
   * classified error: the broker redelivers them.
   */
  settle(acks: readonly R[], nacks: readonly R[], signal: AbortSignal): Promise<void>;
  /**
   * Optional, for brokers that can redeliver later on their own (a delayed requeue, NATS `nak(delay)`):
   * give records back now, to be redelivered no sooner than `delayMs`, holding neither a prefetch slot
   * nor their key meanwhile. Without it, core keeps such a record until the delay is over and nacks it
   * then, which on a broker that holds a key while its record is out keeps that key blocked.
   */
  defer?(records: readonly R[], delayMs: number, signal: AbortSignal): Promise<void>;
  /**
   * Optional: tell the broker records are still being worked on (extend their ack deadline). Core
   * calls it every `extendEveryMs` for the records whose handlers are running.
   */
  extend?(records: readonly R[], signal: AbortSignal): Promise<void>;
  /** How often `extend` is called; required with `extend`. Below the broker's ack deadline, with margin. */
  readonly extendEveryMs?: number;
  /**
   * Optional: how far this group is behind, as the broker counts it (consumer-group offsets, XINFO,
   * queue depth, num_pending, MillisBehindLatest). Read by `Subscription.lag()` and the metrics gauge.
   */
  lag?(signal: AbortSignal): Promise<ConsumerLag>;
  /** Stop receiving and release the member. Records still unsettled go back to the broker. */
  close(): Promise<void>;
}

export interface CreateTopicOptions {
  /** Partitions (Kafka) or shards (Kinesis); ignored where the broker has neither. */
  partitions?: number;
}
