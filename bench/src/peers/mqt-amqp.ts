import { randomUUID } from 'node:crypto';
import { pause } from '@eventport/core';
import {
  AbstractAmqpTopicConsumer,
  AbstractAmqpTopicPublisher,
  type AMQPConsumerDependencies,
  type AMQPDependencies,
  AmqpConnectionManager,
  AmqpConsumerErrorResolver,
} from '@message-queue-toolkit/amqp';
import { MessageHandlerConfigBuilder } from '@message-queue-toolkit/core';
import type { Channel } from 'amqplib';
import { z } from 'zod';
import type { BenchTarget, Consumer, OnMessage, Payload } from '../target.js';

/**
 * The toolkit's messages carry their id, type and time in the body: the bench payload plus those,
 * validated by the loosest schema the toolkit accepts (its routing field and the fields it reads; the
 * SDK does not validate payloads unless asked to either).
 */
const MESSAGE_TYPE = 'bench.message';
const MessageSchema = z.looseObject({ id: z.string(), type: z.literal(MESSAGE_TYPE), timestamp: z.string() });
type ToolkitMessage = z.infer<typeof MessageSchema>;

/** Persistent, as the adapter publishes (the toolkit's default is transient). */
const PUBLISH = { routingKey: '', publishOptions: { persistent: true } };
/** The adapter's queue: durable quorum queue `<topic>.<group>` bound to the topic exchange with `#`. */
const QUEUE_OPTIONS = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
const queueName = (topic: string, group: string) => `${topic}.${group}`;
const STORED_POLL_MS = 5;

const ignore = () => undefined;
/** Only what the toolkit calls: warnings and errors to stderr, the rest dropped. */
const logger = {
  level: 'warn',
  isLevelEnabled: (level: string) => level === 'warn' || level === 'error' || level === 'fatal',
  trace: ignore,
  debug: ignore,
  info: ignore,
  silent: ignore,
  warn: (...args: unknown[]) => process.stderr.write(`[mqt warn] ${args.map(String).join(' ')}\n`),
  error: (...args: unknown[]) => process.stderr.write(`[mqt error] ${args.map((a) => JSON.stringify(a)).join(' ')}\n`),
  fatal: (...args: unknown[]) => process.stderr.write(`[mqt fatal] ${args.map((a) => JSON.stringify(a)).join(' ')}\n`),
  child: () => logger,
} as unknown as AMQPDependencies['logger'];
const noTransactions: AMQPConsumerDependencies['transactionObservabilityManager'] = {
  start: ignore,
  startWithGroup: ignore,
  stop: ignore,
  addCustomAttributes: ignore,
};

class BenchPublisher extends AbstractAmqpTopicPublisher<ToolkitMessage> {
  constructor(dependencies: AMQPDependencies, exchange: string) {
    super(dependencies, {
      exchange,
      messageSchemas: [MessageSchema],
      messageTypeResolver: { messageTypePath: 'type' },
      isLazyInitEnabled: false,
    });
  }
}

/**
 * A topic consumer with the adapter's queue and prefetch = concurrency: the toolkit sets no prefetch
 * (the broker would push the whole queue), so it is set on the consumer's channel before it consumes.
 */
class BenchConsumer extends AbstractAmqpTopicConsumer<ToolkitMessage, undefined> {
  constructor(
    dependencies: AMQPConsumerDependencies,
    exchange: string,
    queue: string,
    private readonly prefetch: number,
    onMessage: OnMessage,
  ) {
    super(
      dependencies,
      {
        creationConfig: { exchange, queueName: queue, topicPattern: '#', queueOptions: QUEUE_OPTIONS },
        messageTypeResolver: { messageTypePath: 'type' },
        handlers: new MessageHandlerConfigBuilder<ToolkitMessage, undefined>()
          .addConfig(MessageSchema, async (message) => {
            // The schema passes the payload's own fields through untouched.
            await onMessage(message as unknown as Payload);
            return { result: 'success' };
          })
          .build(),
      },
      undefined,
    );
  }

  protected override async createMissingEntities(): Promise<void> {
    await this.channel.prefetch(this.prefetch);
    await super.createMissingEntities();
  }
}

/**
 * @message-queue-toolkit/amqp on the adapter's topology: a topic publisher per topic, a topic consumer
 * per subscription. Its publish is synchronous and unconfirmed (channel.publish on a plain channel, not
 * configurable), so a publish-only run ends when the queue holds every message (`stored`).
 */
export class MqtAmqpTarget implements BenchTarget {
  private readonly publishers = new Map<string, Promise<BenchPublisher>>();
  /** Per topic: the group queue publish-only runs fill, and how many messages were published to it. */
  private readonly counted = new Map<string, { queue: string; published: number }>();

  private constructor(
    private readonly connections: AmqpConnectionManager,
    private readonly admin: Channel,
  ) {}

  static async create(url: string): Promise<MqtAmqpTarget> {
    const parsed = new URL(url);
    const connections = new AmqpConnectionManager(
      {
        hostname: parsed.hostname,
        port: Number(parsed.port) || 5672,
        username: decodeURIComponent(parsed.username) || 'guest',
        password: decodeURIComponent(parsed.password) || 'guest',
        vhost: decodeURIComponent(parsed.pathname.slice(1)),
        useTls: parsed.protocol === 'amqps:',
      },
      logger,
    );
    const connection = await connections.getConnection();
    const admin = await connection.createChannel();
    admin.on('error', ignore);
    return new MqtAmqpTarget(connections, admin);
  }

  async prepare(topic: string, group: string): Promise<void> {
    const queue = queueName(topic, group);
    await this.admin.assertExchange(topic, 'topic');
    await this.admin.assertQueue(queue, QUEUE_OPTIONS);
    await this.admin.bindQueue(queue, topic, '#');
    this.counted.set(topic, { queue, published: 0 });
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    this.send(await this.publisher(topic), topic, payload);
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    const publisher = await this.publisher(topic);
    for (const payload of payloads) this.send(publisher, topic, payload);
  }

  async stored(topic: string): Promise<void> {
    const counted = this.counted.get(topic);
    if (!counted) return;
    while ((await this.admin.checkQueue(counted.queue)).messageCount < counted.published) await pause(STORED_POLL_MS);
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    const dependencies = {
      amqpConnectionManager: this.connections,
      logger,
      errorReporter: { report: ignore },
      consumerErrorResolver: new AmqpConsumerErrorResolver(),
      transactionObservabilityManager: noTransactions,
    };
    const consumer = new BenchConsumer(dependencies, topic, queueName(topic, group), concurrency, onMessage);
    await consumer.start();
    return {
      close: async () => {
        // Let the last handlers' acks go out first: acking on a closing channel throws inside the toolkit.
        await pause(100);
        await consumer.close();
      },
    };
  }

  async cleanup(topic: string, groups: readonly string[]): Promise<void> {
    const publisher = this.publishers.get(topic);
    this.publishers.delete(topic);
    await (await publisher?.catch(ignore))?.close();
    for (const group of groups) await this.admin.deleteQueue(queueName(topic, group)).catch(ignore);
    await this.admin.deleteExchange(topic).catch(ignore);
    this.counted.delete(topic);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.publishers.values()].map(async (publisher) => (await publisher).close()));
    await this.admin.close().catch(ignore);
    await this.connections.close();
  }

  private publisher(topic: string): Promise<BenchPublisher> {
    let publisher = this.publishers.get(topic);
    if (!publisher) {
      const created = new BenchPublisher(
        { amqpConnectionManager: this.connections, logger, errorReporter: { report: ignore } },
        topic,
      );
      publisher = created.init().then(() => created);
      this.publishers.set(topic, publisher);
    }
    return publisher;
  }

  private send(publisher: BenchPublisher, topic: string, payload: Payload): void {
    const message: ToolkitMessage = {
      id: randomUUID(),
      type: MESSAGE_TYPE,
      timestamp: new Date().toISOString(),
      ...payload,
    };
    publisher.publish(message, PUBLISH);
    const counted = this.counted.get(topic);
    if (counted) counted.published++;
  }
}
