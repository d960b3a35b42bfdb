import { createHash } from 'node:crypto';
import {
  abortable,
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
  withAbortion,
} from '@eventport/core';
import { type Channel, type ChannelModel, type ConfirmChannel, connect, type Options } from 'amqplib';
import { classifyAmqpError } from './errors.js';
import { managementGroupLister } from './management.js';
import type { QueueType, RabbitMqConfig } from './options.js';
import { AMQP_CLOUDEVENTS, type AmqpRecord, RabbitMqReceiver } from './receiver.js';

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
    // An exclusive auto-delete queue, which needs no plugin (listing groups does: managementUrl).
    ephemeralGroups: true,
    deliveryCount: queueType === 'quorum',
    maxPayloadBytes: 128 * 1024 * 1024, // RabbitMQ's default max_message_size (3.8+)
  };
}

export const RABBITMQ_CAPABILITIES: Capabilities = rabbitMqCapabilities('quorum');

/** AMQP short strings (exchange, queue, routing key, header names) hold at most 255 bytes. */
const SHORT_STRING = 255;

/** A group's queue: `<topic>.<group>`, shortened with a digest beyond 255 bytes (topic 200 + group 100 can exceed it). */
export function queueName(topic: string, group: string): string {
  const name = `${topic}.${group}`;
  if (Buffer.byteLength(name) <= SHORT_STRING) return name;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return `${name.slice(0, SHORT_STRING - digest.length - 1)}~${digest}`;
}

/** What `adapter.native()` returns: the current amqplib connection (opened if there is none). */
export interface RabbitMqNative {
  connection(): Promise<ChannelModel>;
}

/** The confirm channel every send shares, and the exchanges declared on it. */
interface Publisher {
  channel: ConfirmChannel;
  exchanges: Set<string>;
  /** The broker's reason when it closed the channel (403, 404...). */
  closedBy?: unknown;
  drained?: Promise<void>;
}

const ignore = () => undefined;
/** Group queues being declared, by broker, vhost and queue: other receivers of the queue wait instead of declaring it too. */
const declaring = new Map<string, Promise<void>>();

/**
 * One AMQP connection, opened when first needed and again by the first call after it is gone
 * (amqplib does not reconnect; core retries sends and reopens receivers with its backoff). Sends
 * share one confirm channel; each receiver has its own channel.
 */
export class RabbitMqDriver implements Driver {
  readonly backend = 'rabbitmq';
  readonly capabilities: Capabilities;
  private model: Promise<ChannelModel> | undefined;
  private live: ChannelModel | undefined;
  private publisher: Promise<Publisher> | undefined;
  /** Broker and vhost (no credentials), so adapters of one process on one broker share `declaring`. */
  private readonly broker: string;
  /** Bumped by disconnect(): a connection that opens afterwards is closed instead of used. */
  private epoch = 0;
  /** A closure, so the URL and its password are no field that util.inspect or a serialiser could print. */
  private readonly open: () => Promise<ChannelModel>;
  private readonly queueArguments: Record<string, unknown>;
  /** Only with `managementUrl`: AMQP cannot list queues, so without it core answers UNSUPPORTED. */
  readonly listGroups?: (topic: string, signal: AbortSignal) => Promise<string[]>;

  constructor(
    config: RabbitMqConfig,
    private readonly logger: Logger,
  ) {
    const { url, queueType, deliveryLimit, socketOptions, connectTimeoutMs, connectionName, managementUrl } = config;
    this.capabilities = rabbitMqCapabilities(queueType);
    // A classic queue is declared without x-queue-type, so it matches queues other tools declared the default way.
    this.queueArguments = queueType === 'classic' ? {} : { 'x-queue-type': 'quorum' };
    if (deliveryLimit !== undefined) this.queueArguments['x-delivery-limit'] = deliveryLimit;
    const target = new URL(url);
    if (managementUrl !== undefined) this.listGroups = managementGroupLister(managementUrl, target);
    this.broker = `${target.host}${target.pathname}`;
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
    await abortable(this.connection(), signal);
  }

  async disconnect(): Promise<void> {
    this.epoch += 1;
    const live = this.live;
    this.model = this.live = this.publisher = undefined;
    // A connection still being opened is closed when it opens (epoch); disconnect does not wait for it.
    await live?.close().catch(ignore);
  }

  /** Publishes the batch on the confirm channel and waits for the confirms: one result per record. */
  async send(topic: string, records: readonly OutgoingRecord[], signal: AbortSignal): Promise<SendResult[]> {
    const publisher = await abortable(this.publishChannel(), signal);
    const { channel } = publisher;
    if (!publisher.exchanges.has(topic)) {
      await abortable(channel.assertExchange(topic, 'topic', { durable: true }), signal);
      publisher.exchanges.add(topic);
    }
    return withAbortion(signal, async (abortion) => {
      const stopped = abortion.catch((): SendResult => ({ ok: false, error: signal.reason }));
      const results: Promise<SendResult>[] = [];
      for (const record of records) {
        if (signal.aborted) {
          results.push(stopped);
          continue;
        }
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
        if (!writable) await Promise.race([drained(publisher), abortion]).catch(ignore);
      }
      return Promise.all(results);
    });
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
    const opening = this.attach(topic, queueName(topic, options.group), options);
    // Given up on by the caller: the receiver, if it still opens, must not keep its channel.
    opening.then((receiver) => signal.aborted && void receiver.close(), ignore);
    return abortable(opening, signal);
  }

  readonly createTopic = noTopicAdmin;
  readonly deleteTopic = noTopicAdmin;
  readonly listTopics = noTopicAdmin;

  /** A round trip on the publishing channel: `amq.topic` exists in every vhost. */
  async ping(signal: AbortSignal): Promise<void> {
    const { channel } = await abortable(this.publishChannel(), signal);
    await abortable(channel.checkExchange('amq.topic'), signal);
  }

  classify(error: unknown): ErrorClassification {
    return classifyAmqpError(error);
  }

  native(): RabbitMqNative {
    return { connection: () => this.connection() };
  }

  private connection(): Promise<ChannelModel> {
    if (this.model) return this.model;
    const epoch = this.epoch;
    const dialing: Promise<ChannelModel> = this.open().then((model) => {
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
        if (this.model !== dialing) return;
        this.model = this.live = this.publisher = undefined;
        this.logger.warn('RabbitMQ connection lost; the next call opens a new one', { error: describeError(error) });
      });
      this.live = model;
      return model;
    });
    this.model = dialing;
    dialing.catch(() => {
      if (this.model === dialing) this.model = undefined;
    });
    return dialing;
  }

  private publishChannel(): Promise<Publisher> {
    if (this.publisher) return this.publisher;
    const opening = this.connection().then(async (model): Promise<Publisher> => {
      const publisher: Publisher = { channel: await model.createConfirmChannel(), exchanges: new Set() };
      publisher.channel.on('error', (error: unknown) => {
        publisher.closedBy = error;
      });
      publisher.channel.once('close', () => {
        if (this.publisher === opening) this.publisher = undefined;
      });
      return publisher;
    });
    this.publisher = opening;
    opening.catch(() => {
      if (this.publisher === opening) this.publisher = undefined;
    });
    return opening;
  }

  private async attach(topic: string, queue: string, options: ReceiverOptions): Promise<RabbitMqReceiver> {
    const ephemeral = options.ephemeral === true;
    const model = await this.connection();
    const channel = await model.createChannel();
    // An ephemeral queue is classic: the broker keeps no delivery count, core counts.
    const receiver = new RabbitMqReceiver(channel, queue, this.capabilities.deliveryCount && !ephemeral, model);
    try {
      const declare = () => this.declare(channel, topic, queue, ephemeral);
      // Not shared: a classic queue has no Raft member to wait for, and a durable queue of the same name must fail it (406).
      await (ephemeral ? declare() : this.declareOnce(queue, declare));
      await receiver.consume(options.maxUnsettled);
      return receiver;
    } catch (error) {
      await receiver.close();
      throw receiver.closedBy ?? error;
    }
  }

  /**
   * RabbitMQ (seen on 3.10) answers a concurrent declare of a new quorum queue before the queue's Raft
   * member runs; a basic.consume then crashes the channel and the broker closes the whole connection
   * with 541 INTERNAL_ERROR. So a queue is declared by one receiver at a time and the others wait for it.
   */
  private declareOnce(queue: string, declare: () => Promise<void>): Promise<void> {
    const key = `${this.broker}|${queue}`;
    let pending = declaring.get(key);
    if (!pending) {
      pending = declare().finally(() => declaring.delete(key));
      declaring.set(key, pending);
    }
    return pending;
  }

  /**
   * A durable topic exchange per topic; the group's durable queue bound with `#`: from then on the broker
   * keeps the group's messages. An ephemeral group's queue is exclusive and auto-delete: the broker
   * deletes it, binding included, when its consumer is cancelled or the connection closes.
   */
  private async declare(channel: Channel, topic: string, queue: string, ephemeral: boolean): Promise<void> {
    await channel.assertExchange(topic, 'topic', { durable: true });
    await channel.assertQueue(
      queue,
      ephemeral
        ? { durable: false, exclusive: true, autoDelete: true }
        : { durable: true, arguments: this.queueArguments },
    );
    await channel.bindQueue(queue, topic, '#');
  }
}

async function noTopicAdmin(): Promise<never> {
  throw new EventportError(
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
  const ours = String((closedBy as Error).message).includes(`'${topic}'`);
  if (ours && (closedBy as { code?: unknown }).code !== 404) return closedBy;
  return ours
    ? new EventportError('NOT_FOUND', `exchange "${topic}" was deleted while publishing`, {
        cause: closedBy,
        retryable: true,
      })
    : new EventportError('CONNECTION', `the publishing channel closed while sending to "${topic}"`, {
        cause: closedBy,
      });
}

function toPublication(record: OutgoingRecord): { routingKey: string; properties: Options.Publish } {
  const routingKey = record.key ?? '';
  const tooLong = [routingKey, ...Object.keys(record.headers)].find((name) => Buffer.byteLength(name) > SHORT_STRING);
  if (tooLong !== undefined) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `RabbitMQ carries the key as routing key and header names as short strings: at most ${SHORT_STRING} bytes (got ${Buffer.byteLength(tooLong)})`,
    );
  }
  // The reserved headers stay authoritative; the AMQP properties repeat them for tools that read only those.
  const short = (value: string | undefined) =>
    value !== undefined && Buffer.byteLength(value) <= SHORT_STRING ? value : undefined;
  const time = Date.parse(record.headers[RESERVED_HEADERS.time] ?? '');
  const properties: Options.Publish = {
    persistent: true,
    headers: AMQP_CLOUDEVENTS.toWire(record.headers),
    messageId: short(record.headers[RESERVED_HEADERS.id]),
    contentType: short(record.headers[RESERVED_HEADERS.contentType]),
    timestamp: Number.isNaN(time) ? undefined : Math.floor(time / 1000),
  };
  return { routingKey, properties };
}

/** One wait per channel for its socket buffer to drain (or the channel to close), shared by concurrent sends. */
function drained(publisher: Publisher): Promise<void> {
  const { channel } = publisher;
  publisher.drained ??= new Promise<void>((resolve) => {
    const done = () => {
      channel.off('drain', done).off('close', done);
      publisher.drained = undefined;
      resolve();
    };
    channel.on('drain', done).on('close', done);
  });
  return publisher.drained;
}
