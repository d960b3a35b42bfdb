import {
  type Capabilities,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  describeError,
  EventportError,
  type Logger,
  type OutgoingRecord,
  type RecordSink,
} from '@eventport/core';
import type { ChannelModel } from 'amqplib';
import { ReconnectingConnection } from './connection.js';
import { GroupConsumer } from './consumer.js';
import { type Classification, classifyAmqpError } from './errors.js';
import {
  type QueueType,
  type RabbitMqOptions,
  type ResolvedRabbitMqOptions,
  resolveRabbitMqOptions,
} from './options.js';
import { Publisher } from './publisher.js';
import { queueName } from './topology.js';

/** RabbitMQ's default max_message_size (3.8+): 128 MiB. */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

export function rabbitMqCapabilities(queueType: QueueType = 'quorum'): Capabilities {
  return {
    // A queue is FIFO, but group members consume in parallel, and a requeued message is overtaken by later
    // ones of its key (prefetched ones; on quorum queues all of them: requeue goes to the back).
    orderingKeys: false,
    consumerGroups: true,
    // An exchange drops what no queue is bound to: a group receives messages from the moment its queue exists.
    replayFromStart: false,
    persistent: true,
    // AMQP cannot list exchanges (that needs the management HTTP API), so topic admin is not offered.
    topicAdmin: false,
    nativeDeadLetter: false,
    deliveryCount: queueType === 'quorum',
    maxPayloadBytes: MAX_MESSAGE_BYTES,
  };
}

/** Capabilities with the default quorum queues. */
export const RABBITMQ_CAPABILITIES: Capabilities = rabbitMqCapabilities('quorum');

/** What `adapter.native()` returns: the live amqplib connections (they are replaced after a reconnection). */
export interface RabbitMqNative {
  publisherConnection(): Promise<ChannelModel>;
  consumerConnection(): Promise<ChannelModel>;
}

/**
 * Publishing and consuming use separate connections, as RabbitMQ recommends: when the broker blocks
 * publishers (memory or disk alarm) consumers can still ack and so free the memory.
 */
export class RabbitMqDriver implements Driver {
  readonly backend = 'rabbitmq';
  readonly capabilities: Capabilities;
  private readonly options: ResolvedRabbitMqOptions;
  private readonly publisherConnection: ReconnectingConnection;
  private readonly consumerConnection: ReconnectingConnection;
  private readonly publisher: Publisher;
  private readonly consumers = new Set<GroupConsumer>();

  constructor(options: RabbitMqOptions, logger: Logger) {
    this.options = resolveRabbitMqOptions(options);
    this.capabilities = rabbitMqCapabilities(this.options.queueType);
    const report = (error: unknown) => logger.warn('rabbitmq connection trouble', { error: describeError(error) });
    this.publisherConnection = new ReconnectingConnection('publisher', this.options, report);
    this.consumerConnection = new ReconnectingConnection('consumer', this.options, report);
    this.publisher = new Publisher(this.publisherConnection, this.options);
  }

  async connect(): Promise<void> {
    await this.publisherConnection.ready();
  }

  async disconnect(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((consumer) => consumer.close()));
    await this.publisher.close();
    await Promise.all([this.publisherConnection.close(), this.consumerConnection.close()]);
  }

  send(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    return this.publisher.send(topic, records);
  }

  /** Resolves once `<topic>.<group>` is declared and bound: from then on the broker keeps the group's messages. */
  async subscribe(topic: string, options: DriverSubscribeOptions, sink: RecordSink): Promise<DriverSubscription> {
    const consumer = new GroupConsumer(
      topic,
      queueName(topic, options.group),
      this.consumerConnection,
      this.options,
      options,
      sink,
    );
    await consumer.start();
    this.consumers.add(consumer);
    return {
      stop: () => consumer.stop(),
      close: async () => {
        await consumer.close();
        this.consumers.delete(consumer);
      },
    };
  }

  async createTopic(): Promise<void> {
    throw this.noTopicAdmin();
  }

  async deleteTopic(): Promise<void> {
    throw this.noTopicAdmin();
  }

  async listTopics(): Promise<string[]> {
    throw this.noTopicAdmin();
  }

  ping(): Promise<void> {
    return this.publisher.ping();
  }

  classifyError(error: unknown): Classification | undefined {
    return classifyAmqpError(error);
  }

  native(): RabbitMqNative {
    return {
      publisherConnection: () => this.publisherConnection.ready(),
      consumerConnection: () => this.consumerConnection.ready(),
    };
  }

  private noTopicAdmin(): EventportError {
    return new EventportError(
      'UNSUPPORTED',
      'rabbitmq offers no topic admin over AMQP (capabilities.topicAdmin is false)',
    );
  }
}
