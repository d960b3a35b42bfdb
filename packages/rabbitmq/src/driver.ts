import {
  aborted,
  abortion,
  type Capabilities,
  type Driver,
  describeError,
  type ErrorClassification,
  EventportError,
  type Logger,
  type OutgoingRecord,
  RESERVED_HEADERS,
  type Receiver,
  type ReceiverOptions,
  SENT,
  type SendResult,
} from '@eventport/core';
import { type ChannelModel, type ConfirmChannel, connect, type Options } from 'amqplib';
import { classifyAmqpError } from './errors.js';
import type { QueueType, RabbitMqConfig } from './options.js';
import { type AmqpRecord, RabbitMqReceiver } from './receiver.js';
import { declareExchange, declareGroupQueue, queueName, SHORT_STRING_BYTES } from './topology.js';

export function rabbitMqCapabilities(queueType: QueueType = 'quorum'): Capabilities {
  return {
    // A queue is FIFO, but group members consume in parallel and a requeued message is overtaken by later ones.
    orderingKeys: false,
    consumerGroups: true,
    // An exchange drops what no queue is bound to: a group gets messages from the moment its queue exists.
    replayFromStart: false,
    persistent: true,
    // AMQP cannot list exchanges (that needs the management HTTP API).
    topicAdmin: false,
    nativeDeadLetter: false,
    deliveryCount: queueType === 'quorum',
    // RabbitMQ's default max_message_size (3.8+): 128 MiB.
    maxPayloadBytes: 128 * 1024 * 1024,
  };
}

export const RABBITMQ_CAPABILITIES: Capabilities = rabbitMqCapabilities('quorum');

/** What `adapter.native()` returns: the current amqplib connection (opened if there is none). */
export interface RabbitMqNative {
  connection(): Promise<ChannelModel>;
}

/** The one confirm channel every send shares, and the exchanges declared on it. */
interface Publisher {
  channel: ConfirmChannel;
  exchanges: Set<string>;
  /** The broker's reason when it closed the channel (403, 404...). */
  closedBy?: unknown;
  drained?: Promise<void>;
}

const ignore = () => undefined;
const race = <T>(promise: Promise<T>, signal: AbortSignal): Promise<T> => Promise.race([promise, abortion(signal)]);

/**
 * One AMQP connection, opened when first needed and again by the first call after it is gone:
 * amqplib does not reconnect, and core retries sends and reopens receivers with its own backoff.
 * Sends share one confirm channel; each receiver has its own channel.
 */
export class RabbitMqDriver implements Driver {
  readonly backend = 'rabbitmq';
  readonly capabilities: Capabilities;
  private model: ChannelModel | undefined;
  private dialing: Promise<ChannelModel> | undefined;
  private publisher: Promise<Publisher> | undefined;
  /** Group queues being declared: a second receiver of the same queue waits instead of declaring it concurrently. */
  private readonly declaring = new Map<string, Promise<void>>();
  /** Bumped by disconnect(): a connection that opens afterwards is closed instead of used. */
  private epoch = 0;
  /** A closure, so the URL (and its password) is no field that util.inspect or a serialiser could print. */
  private readonly open: () => Promise<ChannelModel>;

  private readonly queueOptions: Pick<RabbitMqConfig, 'queueType' | 'deliveryLimit'>;

  constructor(
    config: RabbitMqConfig,
    private readonly logger: Logger,
  ) {
    const { url, queueType, deliveryLimit, socketOptions, connectTimeoutMs, connectionName } = config;
    this.capabilities = rabbitMqCapabilities(queueType);
    this.queueOptions = { queueType, deliveryLimit };
    const target = new URL(url);
    if (!target.searchParams.has('heartbeat')) target.searchParams.set('heartbeat', String(config.heartbeatSeconds));
    // `timeout` bounds the TCP connect and the AMQP handshake (a server that accepts and never answers).
    const options = {
      ...socketOptions,
      timeout: connectTimeoutMs,
      clientProperties: { ...(socketOptions.clientProperties as object), connection_name: connectionName },
    };
    this.open = () => connect(target.toString(), options);
  }

  async connect(signal: AbortSignal): Promise<void> {
    await race(this.connection(), signal);
  }

  async disconnect(): Promise<void> {
    this.epoch += 1;
    const model = this.model;
    this.model = undefined;
    this.dialing = undefined;
    this.publisher = undefined;
    await model?.close().catch(ignore);
  }

  /** Publishes the batch on the confirm channel and waits for the confirms: one result per record. */
  async send(topic: string, records: readonly OutgoingRecord[], signal: AbortSignal): Promise<SendResult[]> {
    const publisher = await race(this.publishChannel(), signal);
    const { channel } = publisher;
    if (!publisher.exchanges.has(topic)) {
      await race(declareExchange(channel, topic), signal);
      publisher.exchanges.add(topic);
    }
    const stopped = aborted(signal).then((): SendResult => ({ ok: false, error: signal.reason }));
    const results: Promise<SendResult>[] = [];
    for (const record of records) {
      let writable = true;
      const confirmed = new Promise<SendResult>((resolve) => {
        try {
          const { routingKey, properties } = toPublication(record);
          // The callback reports the broker's ack or nack, or the channel's loss.
          writable = channel.publish(topic, routingKey, record.body, properties, (error: unknown) =>
            resolve(error ? { ok: false, error: explain(error, publisher, topic) } : SENT),
          );
        } catch (error) {
          resolve({ ok: false, error });
        }
      });
      results.push(Promise.race([confirmed, stopped]));
      if (!writable) await race(drained(publisher), signal).catch(ignore);
    }
    return Promise.all(results);
  }

  /** Resolves once `<topic>.<group>` is declared and bound and a consumer runs on it. */
  async openReceiver(topic: string, options: ReceiverOptions, signal: AbortSignal): Promise<Receiver<AmqpRecord>> {
    if (options.fromBeginning) {
      throw new EventportError(
        'UNSUPPORTED',
        `rabbitmq cannot replay "${topic}" from the beginning (capabilities.replayFromStart is false): ` +
          'a group receives what is published once its queue exists; subscribe without fromBeginning',
      );
    }
    const opening = this.attach(topic, queueName(topic, options.group), options.maxUnsettled);
    // Given up on by the caller: the receiver, if it still opens, must not keep its channel.
    opening.then((receiver) => {
      if (signal.aborted) void receiver.close();
    }, ignore);
    return race(opening, signal);
  }

  async createTopic(): Promise<void> {
    throw noTopicAdmin();
  }

  async deleteTopic(): Promise<void> {
    throw noTopicAdmin();
  }

  async listTopics(): Promise<string[]> {
    throw noTopicAdmin();
  }

  /** A round trip on the publishing channel: `amq.topic` exists in every vhost. */
  async ping(signal: AbortSignal): Promise<void> {
    const { channel } = await race(this.publishChannel(), signal);
    await race(channel.checkExchange('amq.topic'), signal);
  }

  classify(error: unknown): ErrorClassification {
    return classifyAmqpError(error);
  }

  native(): RabbitMqNative {
    return { connection: () => this.connection() };
  }

  private connection(): Promise<ChannelModel> {
    if (this.model) return Promise.resolve(this.model);
    if (!this.dialing) {
      const dialing = this.dial().finally(() => {
        if (this.dialing === dialing) this.dialing = undefined;
      });
      this.dialing = dialing;
    }
    return this.dialing;
  }

  private async dial(): Promise<ChannelModel> {
    const epoch = this.epoch;
    const model = await this.open();
    if (epoch !== this.epoch) {
      void model.close().catch(ignore);
      throw new EventportError('CLOSED', 'the rabbitmq driver was disconnected');
    }
    // 'close' follows every 'error' with the same cause; an unheard 'error' would crash the process.
    model.on('error', ignore);
    model.on('blocked', (reason: unknown) =>
      this.logger.warn('RabbitMQ blocked the connection (memory or disk alarm): publishes and acks wait', {
        reason: String(reason),
      }),
    );
    model.once('close', (error: unknown) => {
      if (this.model !== model) return;
      this.model = undefined;
      this.publisher = undefined;
      this.logger.warn('RabbitMQ connection lost; the next call opens a new one', { error: describeError(error) });
    });
    this.model = model;
    return model;
  }

  private publishChannel(): Promise<Publisher> {
    if (this.publisher) return this.publisher;
    const opening = (async () => {
      const channel = await (await this.connection()).createConfirmChannel();
      const publisher: Publisher = { channel, exchanges: new Set() };
      channel.on('error', (error: unknown) => {
        publisher.closedBy = error;
      });
      channel.once('close', () => {
        if (this.publisher === opening) this.publisher = undefined;
      });
      return publisher;
    })();
    opening.catch(() => {
      if (this.publisher === opening) this.publisher = undefined;
    });
    this.publisher = opening;
    return opening;
  }

  private async attach(topic: string, queue: string, maxUnsettled: number): Promise<RabbitMqReceiver> {
    const channel = await (await this.connection()).createChannel();
    const receiver = new RabbitMqReceiver(channel, queue, this.capabilities.deliveryCount);
    try {
      await this.declareOnce(queue, () => declareGroupQueue(channel, topic, queue, this.queueOptions));
      await receiver.consume(maxUnsettled);
      return receiver;
    } catch (error) {
      await receiver.close();
      throw receiver.closeReason ?? error;
    }
  }

  /**
   * RabbitMQ (seen on 3.10) answers a concurrent declare of a new quorum queue before the queue's Raft
   * member runs; a basic.consume then crashes the channel and the broker closes the whole connection
   * with 541 INTERNAL_ERROR. So a queue is declared by one receiver at a time and the others wait for it.
   */
  private declareOnce(queue: string, declare: () => Promise<void>): Promise<void> {
    let declaring = this.declaring.get(queue);
    if (!declaring) {
      declaring = declare().finally(() => this.declaring.delete(queue));
      this.declaring.set(queue, declaring);
    }
    return declaring;
  }
}

function noTopicAdmin(): EventportError {
  return new EventportError(
    'UNSUPPORTED',
    'rabbitmq offers no topic admin over AMQP (capabilities.topicAdmin is false)',
  );
}

/**
 * A confirm lost with the channel. Sends to several topics share it, so a broker error that names
 * another topic's exchange fails this record as a retryable channel loss (retried on a new channel);
 * a 404 for our own exchange means someone deleted it since we declared it: a retry declares it again.
 */
function explain(error: unknown, { closedBy }: Publisher, topic: string): unknown {
  if (closedBy === undefined || /^message nacked/.test(String((error as Error).message))) return error;
  if (!String((closedBy as Error).message).includes(`'${topic}'`)) {
    return new EventportError('CONNECTION', `the publishing channel closed while sending to "${topic}"`, {
      cause: closedBy,
    });
  }
  if ((closedBy as { code?: unknown }).code !== 404) return closedBy;
  return new EventportError('NOT_FOUND', `exchange "${topic}" was deleted while publishing`, {
    cause: closedBy,
    retryable: true,
  });
}

function toPublication(record: OutgoingRecord): { routingKey: string; properties: Options.Publish } {
  const routingKey = record.key ?? '';
  const tooLong = [routingKey, ...Object.keys(record.headers)].find(
    (name) => Buffer.byteLength(name) > SHORT_STRING_BYTES,
  );
  if (tooLong !== undefined) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `RabbitMQ carries the key as routing key and header names as short strings: at most ${SHORT_STRING_BYTES} bytes (got ${Buffer.byteLength(tooLong)})`,
    );
  }
  const properties: Options.Publish = { persistent: true, headers: { ...record.headers } };
  // The reserved headers stay authoritative; the AMQP properties repeat them for tools that read only those.
  const id = record.headers[RESERVED_HEADERS.id];
  if (id !== undefined && Buffer.byteLength(id) <= SHORT_STRING_BYTES) properties.messageId = id;
  const contentType = record.headers[RESERVED_HEADERS.contentType];
  if (contentType !== undefined && Buffer.byteLength(contentType) <= SHORT_STRING_BYTES) {
    properties.contentType = contentType;
  }
  const time = Date.parse(record.headers[RESERVED_HEADERS.time] ?? '');
  if (!Number.isNaN(time)) properties.timestamp = Math.floor(time / 1000);
  return { routingKey, properties };
}

/** One wait per channel for its socket buffer to drain, shared by concurrent sends. */
function drained(publisher: Publisher): Promise<void> {
  const { channel } = publisher;
  publisher.drained ??= new Promise<void>((resolve) => {
    const done = () => {
      channel.off('drain', done);
      channel.off('close', done);
      publisher.drained = undefined;
      resolve();
    };
    channel.on('drain', done);
    channel.on('close', done);
  });
  return publisher.drained;
}
