import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  ConsumeOptions,
  EventAdapter,
  HealthStatus,
  MessageHandler,
  MessageStream,
  SubscribeOptions,
  Subscription,
} from '../adapter.js';
import type { Capabilities } from '../capabilities.js';
import { type Codec, jsonCodec } from '../codec.js';
import { correlationHeaders } from '../context.js';
import { abortable, DEFAULT_DEADLINES, type Deadlines, withDeadline } from '../deadline.js';
import type {
  CreateTopicOptions,
  Driver,
  ErrorClassification,
  IncomingRecord,
  OutgoingRecord,
  SendResult,
} from '../driver.js';
import { describeError, EventportError, toEventportError } from '../errors.js';
import { consoleLogger, type Logger } from '../logger.js';
import {
  CLOUDEVENTS_SPEC_VERSION,
  type EventMessage,
  isValidPublishInput,
  type PublishInput,
  PublishInputSchema,
  RESERVED_HEADERS,
  TopicSchema,
} from '../message.js';
import { backoffDelay, pause } from '../timing.js';
import { formatZodError } from '../validation.js';
import { Consumer, type DecodedMessage } from './consumer.js';
import { EphemeralGroups } from './ephemeral-groups.js';
import { PublishQueue } from './publish-queue.js';
import { messageStream } from './stream.js';
import { resolveSubscribeOptions } from './subscribe-options.js';

/** Options of the portable layer, the same for every backend. */
export interface AdapterOptions {
  logger?: Logger;
  codec?: Codec;
  /** Rejects larger encoded bodies on publish; capped by the backend's own limit. */
  maxPayloadBytes?: number;
  /**
   * Attempts for a record whose send fails with a retryable error (connection, timeout, throttling).
   * Default: as many as fit in `deadlines.publishMs`, so an outage shorter than that rejects nothing,
   * and a longer one rejects with the broker's code before the deadline.
   */
  publishAttempts?: number;
  /** Deadlines per kind of call; see DEFAULT_DEADLINES. */
  deadlines?: Partial<Deadlines>;
  /** CloudEvents attributes eventport writes on every message. */
  cloudEvents?: {
    /** `source` (a URI-reference naming the producer). Default EVENTPORT_SOURCE, else `urn:eventport:<host name>`. */
    source?: string;
    /** `type` of a message published without one. Default: its topic. */
    type?: (topic: string) => string;
  };
}

/** The keys of AdapterOptions: what createAdapter and backend factories hand to core rather than the driver. */
export const PORTABLE_OPTION_KEYS = [
  'logger',
  'codec',
  'maxPayloadBytes',
  'publishAttempts',
  'deadlines',
  'cloudEvents',
] as const satisfies readonly (keyof AdapterOptions)[];

/** Splits a backend factory's options into core's AdapterOptions and the driver's own. */
export function splitAdapterOptions<O extends object>(
  options: O & AdapterOptions,
): { adapterOptions: AdapterOptions; driverOptions: Omit<O, keyof AdapterOptions> } {
  const adapterOptions: Record<string, unknown> = {};
  const driverOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if ((PORTABLE_OPTION_KEYS as readonly string[]).includes(key)) adapterOptions[key] = value;
    else driverOptions[key] = value;
  }
  return {
    adapterOptions: adapterOptions as AdapterOptions,
    driverOptions: driverOptions as Omit<O, keyof AdapterOptions>,
  };
}

type State = 'idle' | 'connecting' | 'open' | 'closing' | 'closed';

/** Time left for one more send before the publish deadline, below which a publish gives up instead. */
const SEND_GRACE_MS = 1_000;
/** Most single publishes that go out in one send; the rest wait for the next. */
const MAX_QUEUED_BATCH = 256;

/** `convert`, remembering its last argument: consecutive messages mostly carry the same time. */
function rememberLast<A, R>(convert: (argument: A) => R): (argument: A) => R {
  let lastArgument: A | undefined;
  let lastResult: R | undefined;
  return (argument) => {
    if (argument !== lastArgument || lastResult === undefined) {
      lastResult = convert(argument);
      lastArgument = argument;
    }
    return lastResult;
  };
}

/** toISOString once per millisecond: messages published in the same one share the string (it was a sixth of publish CPU). */
const isoTime = rememberLast((timestamp: number) => new Date(timestamp).toISOString());
/** Date.parse once per string: messages published in the same millisecond arrive together. */
const parseIsoTime = rememberLast(Date.parse);

/** Turns a broker driver into the EventAdapter users see. */
export function createPortableAdapter(driver: Driver, options: AdapterOptions = {}): EventAdapter {
  return new PortableAdapter(driver, options);
}

class PortableAdapter implements EventAdapter {
  private state: State = 'idle';
  private connecting: Promise<void> | undefined;
  private disconnecting: Promise<void> | undefined;
  private readonly subscriptions = new Set<Consumer<unknown>>();
  /** Sends not yet confirmed: disconnect() waits for them so a publish in flight is never cut off. */
  private readonly sending = new Set<Promise<unknown>>();
  private readonly queue = new PublishQueue(
    (topic, records, signal) => abortable(this.driver.send(topic, records, signal), signal),
    MAX_QUEUED_BATCH,
  );
  private readonly logger: Logger;
  private readonly codec: Codec;
  private readonly maxPayloadBytes: number;
  private readonly publishAttempts: number;
  private readonly deadlines: Deadlines;
  private readonly source: string;
  /** Cheaper than a uuid per message: unique per adapter instance and call. */
  private readonly dedupePrefix = randomUUID();
  private dedupeSequence = 0;
  private readonly typeOf: (topic: string) => string;
  private readonly ephemeralGroups: EphemeralGroups;

  constructor(
    private readonly driver: Driver,
    options: AdapterOptions,
  ) {
    this.logger = options.logger ?? consoleLogger();
    this.codec = options.codec ?? jsonCodec;
    this.maxPayloadBytes = Math.min(
      options.maxPayloadBytes ?? Number.POSITIVE_INFINITY,
      driver.capabilities.maxPayloadBytes,
    );
    this.publishAttempts = Math.max(1, options.publishAttempts ?? Number.POSITIVE_INFINITY);
    this.deadlines = { ...DEFAULT_DEADLINES, ...options.deadlines };
    this.source = options.cloudEvents?.source ?? process.env.EVENTPORT_SOURCE ?? `urn:eventport:${hostname()}`;
    this.typeOf = options.cloudEvents?.type ?? ((topic) => topic);
    this.ephemeralGroups = new EphemeralGroups(driver, this.deadlines.adminMs);
  }

  get backend(): string {
    return this.driver.backend;
  }

  get capabilities(): Capabilities {
    return this.driver.capabilities;
  }

  connect(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(this.closedError('connect'));
    }
    this.connecting ??= (async () => {
      this.state = 'connecting';
      try {
        await withDeadline(this.deadlines.connectMs, `connecting to ${this.backend}`, (signal) =>
          this.driver.connect(signal),
        );
        this.state = 'open';
      } catch (error) {
        this.connecting = undefined;
        this.state = 'idle';
        // The client may still be trying: drop it so nothing keeps reconnecting in the background.
        void this.driver.disconnect().catch(() => undefined);
        throw this.wrap(error, `cannot connect to ${this.backend}`, 'CONNECTION');
      }
    })();
    return this.connecting;
  }

  disconnect(): Promise<void> {
    this.disconnecting ??= (async () => {
      const wasUsed = this.state !== 'idle';
      this.state = 'closing';
      await Promise.allSettled([...this.subscriptions].map((subscription) => subscription.close()));
      await Promise.allSettled([...this.sending]);
      try {
        if (wasUsed) {
          await this.connecting?.catch(() => undefined);
          await withDeadline(this.deadlines.closeMs, `disconnecting from ${this.backend}`, () =>
            this.driver.disconnect(),
          ).catch((error: unknown) =>
            this.logger.warn('disconnect did not finish cleanly', { error: describeError(error) }),
          );
        }
      } finally {
        this.state = 'closed';
      }
    })();
    return this.disconnecting;
  }

  async publish<T>(input: PublishInput<T>): Promise<EventMessage<T>> {
    this.assertUsable('publish');
    const { message, record } = this.prepare(input, undefined);
    await this.publishing(1, async (signal) => {
      await this.connect();
      const giveUpAt = Date.now() + this.deadlines.publishMs;
      const { topic } = message;
      // Each attempt joins the single publishes to the topic that are waiting to go out together.
      const gathered = this.driver.batchedSend
        ? () => this.queue.add(topic, record, signal).then((result) => (result ? [result] : []))
        : undefined;
      await this.sendAll(topic, [record], signal, giveUpAt, gathered);
    });
    return message;
  }

  async publishBatch<T>(inputs: readonly PublishInput<T>[]): Promise<EventMessage<T>[]> {
    this.assertUsable('publish');
    const messages = inputs.map((input, index) => this.prepare(input, inputs.length > 1 ? index : undefined));
    const byTopic = new Map<string, OutgoingRecord[]>();
    for (const { message, record } of messages) {
      const records = byTopic.get(message.topic) ?? [];
      records.push(record);
      byTopic.set(message.topic, records);
    }
    await this.publishing(messages.length, async (signal) => {
      await this.connect();
      const giveUpAt = Date.now() + this.deadlines.publishMs;
      await Promise.all([...byTopic].map(([topic, records]) => this.sendAll(topic, records, signal, giveUpAt)));
    });
    return messages.map(({ message }) => message);
  }

  /** Runs a publish within its deadline; disconnect() waits for it. */
  private async publishing(count: number, publish: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const sent = withDeadline(this.deadlines.publishMs, `publishing to ${this.backend}`, publish).catch(
      (error: unknown) => {
        throw this.wrap(error, `publish of ${count} message(s) failed`);
      },
    );
    this.sending.add(sent);
    try {
      await sent;
    } finally {
      this.sending.delete(sent);
    }
  }

  /**
   * Sends `records`, then again only those that failed retryably, with backoff, until all are
   * accepted, one fails for good, the attempts are used up, or the publish deadline aborts `signal`.
   */
  private async sendAll(
    topic: string,
    records: readonly OutgoingRecord[],
    signal: AbortSignal,
    giveUpAt: number,
    send: (remaining: readonly OutgoingRecord[]) => Promise<SendResult[]> = (remaining) =>
      this.driver.send(topic, remaining, signal),
  ): Promise<void> {
    let remaining = records;
    let justCreated = false;
    for (let attempt = 1; ; attempt++) {
      let failed: Array<{ record: OutgoingRecord; error: unknown }>;
      try {
        const results = await send(remaining);
        failed = remaining.flatMap((record, index) => {
          const result = results[index];
          if (result?.ok) return [];
          return [
            { record, error: result ? result.error : new Error('the driver returned no result for this record') },
          ];
        });
      } catch (error) {
        failed = remaining.map((record) => ({ record, error }));
      }
      if (failed.length === 0) return;
      const missing = failed.some(({ error }) => this.classify(error).code === 'NOT_FOUND');
      if (missing && this.driver.autoCreateTopics && !justCreated) {
        const created = await this.createMissingTopic(topic, signal);
        justCreated = created === true;
        if (justCreated) {
          remaining = failed.map(({ record }) => record);
          continue;
        }
        failed = failed.map(({ record }) => ({ record, error: created }));
      }
      justCreated = false;
      const first = failed[0]?.error;
      const retryable = failed.every(({ error }) => this.classify(error).retryable);
      const delay = backoffDelay(attempt, 100, 2_000);
      // Give up with the broker's own error rather than run into the deadline's bare TIMEOUT.
      const outOfTime = Date.now() + delay + SEND_GRACE_MS >= giveUpAt;
      if (!retryable || attempt >= this.publishAttempts || signal.aborted || outOfTime) {
        throw this.wrap(
          first,
          `${failed.length} of ${records.length} record(s) to "${topic}" failed after ${attempt} attempt(s)`,
        );
      }
      remaining = failed.map(({ record }) => record);
      await pause(delay, signal);
    }
  }

  /** True once the topic exists (made now, or by someone else meanwhile); else why it could not be made. */
  private createMissingTopic(topic: string, signal: AbortSignal): Promise<true | unknown> {
    return abortable(this.driver.createTopic(topic, {}, signal), signal).then(
      () => true,
      (error: unknown) => this.classify(error).code === 'ALREADY_EXISTS' || error,
    );
  }

  async subscribe<T>(topic: string, handler: MessageHandler<T>, options: SubscribeOptions = {}): Promise<Subscription> {
    this.assertUsable('subscribe');
    this.validateTopic(topic);
    const resolved = resolveSubscribeOptions(options, this.logger);
    if (resolved.ephemeral && !this.capabilities.ephemeralGroups) {
      throw new EventportError(
        'UNSUPPORTED',
        `${this.backend} cannot remove a group from the broker (capabilities.ephemeralGroups is false): subscribe with a named group and ephemeral: false`,
      );
    }
    await this.connect();
    const leaveGroup = resolved.ephemeral ? this.ephemeralGroups.join(topic, resolved.group) : undefined;
    const consumer: Consumer<T> = new Consumer<T>(
      topic,
      handler,
      resolved,
      {
        driver: this.driver,
        deadlines: this.deadlines,
        logger: this.logger,
        wrap: (error, context) => this.wrap(error, context),
        classify: (error) => this.classify(error),
        decode: <M>(record: IncomingRecord, attempt: number) => this.decode<M>(topic, record, attempt),
        leaveGroup,
        createMissingTopic: this.driver.autoCreateTopics
          ? (signal) => this.createMissingTopic(topic, signal)
          : undefined,
      },
      () => this.subscriptions.delete(consumer as Consumer<unknown>),
    );
    try {
      await consumer.start();
    } catch (error) {
      void leaveGroup?.().catch(() => undefined);
      throw this.wrap(error, `subscribe to "${topic}" failed`);
    }
    this.subscriptions.add(consumer as Consumer<unknown>);
    return consumer;
  }

  consume<T>(topic: string, options: ConsumeOptions = {}): MessageStream<T> {
    return messageStream<T>(
      (handler, subscribeOptions) => this.subscribe<T>(topic, handler, subscribeOptions),
      options,
    );
  }

  createTopic(topic: string, options: CreateTopicOptions = {}): Promise<void> {
    this.validateTopic(topic);
    return this.admin('createTopic', (signal) => this.driver.createTopic(topic, options, signal), topic);
  }

  deleteTopic(topic: string): Promise<void> {
    this.validateTopic(topic);
    return this.admin('deleteTopic', (signal) => this.driver.deleteTopic(topic, signal), topic);
  }

  listTopics(): Promise<string[]> {
    return this.admin('listTopics', (signal) => this.driver.listTopics(signal));
  }

  listGroups(topic: string): Promise<string[]> {
    this.validateTopic(topic);
    const { listGroups } = this.driver;
    if (listGroups === undefined) {
      return Promise.reject(
        new EventportError('UNSUPPORTED', `${this.backend} cannot list the consumer groups of a topic`),
      );
    }
    // Not topic administration: RabbitMQ lists its queues through the management API without it.
    return this.brokerCall('listGroups', (signal) => listGroups.call(this.driver, topic, signal), topic);
  }

  async health(): Promise<HealthStatus> {
    const started = performance.now();
    const subscriptions = [...this.subscriptions].map((subscription) => subscription.state);
    const ready = subscriptions.every((subscription) => subscription.state === 'running');
    try {
      await withDeadline(this.deadlines.healthMs, `health check of ${this.backend}`, async (signal) => {
        await this.connect();
        await this.driver.ping(signal);
      });
      const latencyMs = Math.round((performance.now() - started) * 100) / 100;
      return { ok: true, ready, backend: this.backend, latencyMs, subscriptions };
    } catch (error) {
      const reason = this.wrap(error, `${this.backend} is not reachable`);
      return { ok: false, ready: false, backend: this.backend, error: reason.message, subscriptions };
    }
  }

  native(): unknown {
    if (!this.driver.native) throw new EventportError('UNSUPPORTED', `${this.backend} exposes no native client`);
    return this.driver.native();
  }

  private admin<R>(operation: string, run: (signal: AbortSignal) => Promise<R>, topic?: string): Promise<R> {
    if (!this.capabilities.topicAdmin) {
      this.assertUsable(operation);
      return Promise.reject(
        new EventportError(
          'UNSUPPORTED',
          `${this.backend} does not support ${operation} (capabilities.topicAdmin is false)`,
        ),
      );
    }
    return this.brokerCall(operation, run, topic);
  }

  /** A one-off broker call (not a publish or a subscription) within the admin deadline. */
  private async brokerCall<R>(operation: string, run: (signal: AbortSignal) => Promise<R>, topic?: string): Promise<R> {
    this.assertUsable(operation);
    try {
      return await withDeadline(this.deadlines.adminMs, `${operation} on ${this.backend}`, async (signal) => {
        await this.connect();
        return run(signal);
      });
    } catch (error) {
      throw this.wrap(error, `${operation}${topic ? ` "${topic}"` : ''} failed`);
    }
  }

  private prepare<T>(
    input: PublishInput<T>,
    index: number | undefined,
  ): { message: EventMessage<T>; record: OutgoingRecord } {
    const at = index === undefined ? '' : ` (message ${index})`;
    if (!isValidPublishInput(input)) {
      const parsed = PublishInputSchema.safeParse(input);
      if (!parsed.success) {
        throw new EventportError('INVALID_ARGUMENT', `invalid message${at}: ${formatZodError(parsed.error)}`);
      }
    }
    const id = input.id ?? randomUUID();
    const timestamp = input.timestamp ?? Date.now();
    const type = input.type ?? this.typeOf(input.topic);
    const headers = correlationHeaders(id, input.headers);
    let encoded: ReturnType<Codec['encode']>;
    try {
      encoded = this.codec.encode(input.data);
    } catch (error) {
      throw new EventportError('INVALID_ARGUMENT', `cannot encode data${at}: ${describeError(error)}`, {
        cause: error,
      });
    }
    if (encoded.body.length > this.maxPayloadBytes) {
      throw new EventportError(
        'PAYLOAD_TOO_LARGE',
        `payload of ${encoded.body.length} bytes${at} exceeds the ${this.maxPayloadBytes}-byte limit of ${this.backend}; store large data elsewhere and publish a reference`,
      );
    }
    const message: EventMessage<T> = { id, topic: input.topic, data: input.data, type, headers, timestamp };
    if (input.key !== undefined) message.key = input.key;
    const wire: Record<string, string> = { ...headers };
    wire[RESERVED_HEADERS.specversion] = CLOUDEVENTS_SPEC_VERSION;
    wire[RESERVED_HEADERS.id] = id;
    wire[RESERVED_HEADERS.source] = this.source;
    wire[RESERVED_HEADERS.type] = type;
    wire[RESERVED_HEADERS.time] = isoTime(timestamp);
    wire[RESERVED_HEADERS.contentType] = encoded.contentType;
    const record: OutgoingRecord = { headers: wire, body: encoded.body, dedupeId: this.nextDedupeId() };
    if (input.key !== undefined) record.key = input.key;
    return { message, record };
  }

  private nextDedupeId(): string {
    this.dedupeSequence += 1;
    return `${this.dedupePrefix}-${this.dedupeSequence}`;
  }

  private decode<T>(topic: string, record: IncomingRecord, attempt: number): DecodedMessage<T> {
    const headers: Record<string, string> = {};
    let id: string | undefined;
    let time: string | undefined;
    let type: string | undefined;
    let source: string | undefined;
    let contentType: string | undefined;
    for (const name in record.headers) {
      const value = record.headers[name] as string;
      switch (name) {
        case RESERVED_HEADERS.id:
          id = value;
          break;
        case RESERVED_HEADERS.time:
          time = value;
          break;
        case RESERVED_HEADERS.type:
          type = value;
          break;
        case RESERVED_HEADERS.source:
          source = value;
          break;
        case RESERVED_HEADERS.contentType:
          contentType = value;
          break;
        case RESERVED_HEADERS.specversion:
          break;
        default:
          headers[name] = value;
      }
    }
    const data = this.codec.decode(record.body, contentType) as T;
    const parsedTime = time === undefined ? Number.NaN : parseIsoTime(time);
    const message: DecodedMessage<T> = {
      // A record from a producer that is not eventport (nor CloudEvents) has no ce-id: the broker's own id stands in.
      id: id ?? record.id,
      topic,
      data,
      headers,
      timestamp: Number.isNaN(parsedTime) ? Date.now() : parsedTime,
      attempt,
      meta: record.meta,
    };
    if (record.key !== undefined) message.key = record.key;
    if (type !== undefined) message.type = type;
    if (source !== undefined) message.source = source;
    return message;
  }

  private validateTopic(topic: string): void {
    const parsed = TopicSchema.safeParse(topic);
    if (!parsed.success) throw new EventportError('INVALID_ARGUMENT', `invalid topic: ${formatZodError(parsed.error)}`);
  }

  private assertUsable(operation: string): void {
    if (this.state === 'closing' || this.state === 'closed') throw this.closedError(operation);
  }

  private closedError(operation: string): EventportError {
    return new EventportError(
      'CLOSED',
      `cannot ${operation}: the ${this.backend} adapter was disconnected; create a new one`,
    );
  }

  private classify(error: unknown): ErrorClassification {
    if (error instanceof EventportError) return { code: error.code, retryable: error.retryable };
    return this.driver.classify(error);
  }

  /** Wraps a driver error once: classified by the driver, its cause sanitised by the driver (or core). */
  private wrap(error: unknown, context: string, fallback: ErrorClassification['code'] = 'INTERNAL'): EventportError {
    if (error instanceof EventportError) return error;
    const classified = this.driver.classify(error);
    const code = classified.code === 'INTERNAL' ? fallback : classified.code;
    const cause = this.driver.sanitize ? this.driver.sanitize(error) : error;
    return toEventportError(cause, code, `${context} (${this.backend})`, classified.retryable);
  }
}
