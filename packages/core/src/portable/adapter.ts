import { randomUUID } from 'node:crypto';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
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
import type { CreateTopicOptions, Driver, IncomingRecord, OutgoingRecord } from '../driver.js';
import { describeError, type ErrorCode, EventportError, toEventportError } from '../errors.js';
import { consoleLogger, type Logger } from '../logger.js';
import {
  type EventMessage,
  type PublishInput,
  PublishInputSchema,
  RESERVED_HEADERS,
  type ReceivedMessage,
  TopicSchema,
} from '../message.js';
import { formatZodError } from '../validation.js';
import { Dispatcher, resolveSubscribeOptions } from './dispatcher.js';
import { messageStream } from './stream.js';

/** Options of the portable layer, the same for every backend. */
export interface AdapterOptions {
  logger?: Logger;
  codec?: Codec;
  /** Rejects larger encoded bodies on publish; capped by the backend's own limit. */
  maxPayloadBytes?: number;
  /** Attempts for a publish that fails with a retryable error (connection, timeout, throttling). Default 3. */
  publishAttempts?: number;
}

type State = 'idle' | 'connecting' | 'open' | 'closing' | 'closed';

/** Turns a broker driver into the EventAdapter users see. */
export function createPortableAdapter(driver: Driver, options: AdapterOptions = {}): EventAdapter {
  return new PortableAdapter(driver, options);
}

class PortableAdapter implements EventAdapter {
  private state: State = 'idle';
  private connecting: Promise<void> | undefined;
  private disconnecting: Promise<void> | undefined;
  private readonly subscriptions = new Set<Subscription>();
  /** Sends not yet confirmed: disconnect() waits for them so a publish in flight is never cut off. */
  private readonly sending = new Set<Promise<unknown>>();
  private readonly logger: Logger;
  private readonly codec: Codec;
  private readonly maxPayloadBytes: number;
  private readonly sendPolicy;

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
    this.sendPolicy = retry(
      handleWhen((error) => this.classify(error).retryable),
      {
        maxAttempts: Math.max(0, (options.publishAttempts ?? 3) - 1),
        backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 5_000 }),
      },
    );
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
        await this.driver.connect();
        this.state = 'open';
      } catch (error) {
        this.connecting = undefined;
        this.state = 'idle';
        throw this.wrap(error, 'CONNECTION', `cannot connect to ${this.backend}`);
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
          await this.driver.disconnect();
        }
      } finally {
        this.state = 'closed';
      }
    })();
    return this.disconnecting;
  }

  async publish<T>(message: PublishInput<T>): Promise<EventMessage<T>> {
    const [published] = await this.publishBatch([message]);
    return published as EventMessage<T>;
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
    const sent = this.connect().then(() =>
      Promise.all(
        [...byTopic].map(([topic, records]) =>
          this.sendPolicy
            .execute(() => this.driver.send(topic, records))
            .catch((error: unknown) => {
              throw this.wrap(error, 'INTERNAL', `publish of ${records.length} message(s) to "${topic}" failed`);
            }),
        ),
      ),
    );
    this.sending.add(sent);
    try {
      await sent;
    } finally {
      this.sending.delete(sent);
    }
    return messages.map(({ message }) => message);
  }

  async subscribe<T>(topic: string, handler: MessageHandler<T>, options: SubscribeOptions = {}): Promise<Subscription> {
    this.assertUsable('subscribe');
    this.validateTopic(topic);
    const resolved = resolveSubscribeOptions(options, this.logger);
    await this.connect();
    const dispatcher: Dispatcher<T> = new Dispatcher<T>(
      topic,
      handler,
      resolved,
      (record) => this.decode<T>(topic, record),
      this.logger,
      () => this.subscriptions.delete(dispatcher),
    );
    try {
      dispatcher.attach(
        await this.driver.subscribe(
          topic,
          {
            group: resolved.group,
            fromBeginning: resolved.fromBeginning,
            maxInFlight: resolved.concurrency,
            onError: resolved.onError,
          },
          dispatcher.sink,
        ),
      );
    } catch (error) {
      throw this.wrap(error, 'INTERNAL', `subscribe to "${topic}" failed`);
    }
    this.subscriptions.add(dispatcher);
    return dispatcher;
  }

  consume<T>(topic: string, options: ConsumeOptions = {}): MessageStream<T> {
    return messageStream<T>(
      (handler, subscribeOptions) => this.subscribe<T>(topic, handler, subscribeOptions),
      options,
    );
  }

  createTopic(topic: string, options: CreateTopicOptions = {}): Promise<void> {
    this.validateTopic(topic);
    return this.admin('createTopic', () => this.driver.createTopic(topic, options), topic);
  }

  deleteTopic(topic: string): Promise<void> {
    this.validateTopic(topic);
    return this.admin('deleteTopic', () => this.driver.deleteTopic(topic), topic);
  }

  listTopics(): Promise<string[]> {
    return this.admin('listTopics', () => this.driver.listTopics());
  }

  async health(): Promise<HealthStatus> {
    const started = performance.now();
    try {
      await this.connect();
      await this.driver.ping();
      return { ok: true, backend: this.backend, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
    } catch (error) {
      return { ok: false, backend: this.backend, error: describeError(error) };
    }
  }

  native(): unknown {
    if (!this.driver.native) throw new EventportError('UNSUPPORTED', `${this.backend} exposes no native client`);
    return this.driver.native();
  }

  private async admin<R>(operation: string, run: () => Promise<R>, topic?: string): Promise<R> {
    this.assertUsable(operation);
    if (!this.capabilities.topicAdmin) {
      throw new EventportError(
        'UNSUPPORTED',
        `${this.backend} does not support ${operation} (capabilities.topicAdmin is false)`,
      );
    }
    await this.connect();
    try {
      return await run();
    } catch (error) {
      throw this.wrap(error, 'INTERNAL', `${operation}${topic ? ` "${topic}"` : ''} failed`);
    }
  }

  private prepare<T>(
    input: PublishInput<T>,
    index: number | undefined,
  ): { message: EventMessage<T>; record: OutgoingRecord } {
    const at = index === undefined ? '' : ` (message ${index})`;
    const parsed = PublishInputSchema.safeParse(input);
    if (!parsed.success) {
      throw new EventportError('INVALID_ARGUMENT', `invalid message${at}: ${formatZodError(parsed.error)}`);
    }
    const id = input.id ?? randomUUID();
    const timestamp = input.timestamp ?? Date.now();
    const headers = correlationHeaders(id, input.headers ?? {});
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
    const message: EventMessage<T> = { id, topic: input.topic, data: input.data, headers, timestamp };
    if (input.key !== undefined) message.key = input.key;
    const record: OutgoingRecord = {
      headers: {
        ...headers,
        [RESERVED_HEADERS.id]: id,
        [RESERVED_HEADERS.time]: new Date(timestamp).toISOString(),
        [RESERVED_HEADERS.contentType]: encoded.contentType,
      },
      body: encoded.body,
    };
    if (input.key !== undefined) record.key = input.key;
    return { message, record };
  }

  private decode<T>(topic: string, record: IncomingRecord): Omit<ReceivedMessage<T>, 'ack' | 'nack' | 'group'> {
    const {
      [RESERVED_HEADERS.id]: id,
      [RESERVED_HEADERS.time]: time,
      [RESERVED_HEADERS.contentType]: contentType,
      ...headers
    } = record.headers;
    const data = this.codec.decode(record.body, contentType) as T;
    const parsedTime = time === undefined ? Number.NaN : Date.parse(time);
    const message: Omit<ReceivedMessage<T>, 'ack' | 'nack' | 'group'> = {
      // A record from a producer that is not eventport has no ce-id: fall back to the broker's own id.
      id: id ?? String(record.meta.id ?? randomUUID()),
      topic,
      data,
      headers,
      timestamp: Number.isNaN(parsedTime) ? Date.now() : parsedTime,
      attempt: record.attempt,
      meta: record.meta,
    };
    if (record.key !== undefined) message.key = record.key;
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

  private classify(error: unknown): { code: ErrorCode; retryable: boolean } {
    if (error instanceof EventportError) return { code: error.code, retryable: error.retryable };
    return this.driver.classifyError?.(error) ?? { code: 'INTERNAL', retryable: false };
  }

  private wrap(error: unknown, fallback: ErrorCode, context: string): EventportError {
    if (error instanceof EventportError) return error;
    const { code, retryable } = this.driver.classifyError?.(error) ?? { code: fallback, retryable: false };
    return toEventportError(error, code, `${context} (${this.backend})`, retryable);
  }
}
