import {
  type Capabilities,
  type CreateTopicOptions,
  consoleLogger,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  EventportError,
  type Logger,
  type OutgoingRecord,
  type RecordSink,
} from '@eventport/core';
import {
  type Admin,
  CompressionCodecs,
  CompressionTypes,
  Kafka,
  type KafkaConfig,
  Partitioners,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { type Classification, classifyKafkaError } from './errors.js';
import { kafkaLogCreator, kafkaLogLevel } from './logging.js';
import { GroupMember } from './member.js';
import { type KafkaCompression, type KafkaOptions, type ResolvedKafkaOptions, resolveKafkaOptions } from './options.js';

export const KAFKA_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  // Kafka keeps no per-record delivery count: `attempt` is counted by this process and restarts at 1
  // when another member (or this one after a rebalance) reads the record again.
  deliveryCount: false,
  // Kafka's default message.max.bytes is 1 MiB per record batch, headers included.
  maxPayloadBytes: 1_000_000,
};

const COMPRESSION_TYPES: Record<KafkaCompression, CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

export interface KafkaDriverOptions extends KafkaOptions {
  logger?: Logger;
}

/** kafkajs ships gzip only; the other codecs are stubs that throw until an application registers one. */
function assertCodecAvailable(compression: KafkaCompression): void {
  if (compression === 'none' || compression === 'gzip') return;
  const type = COMPRESSION_TYPES[compression];
  try {
    (CompressionCodecs as Record<number, () => unknown>)[type]?.();
  } catch {
    throw new EventportError(
      'INVALID_CONFIG',
      `invalid kafka configuration: compression "${compression}" needs a codec registered in kafkajs first (CompressionCodecs[CompressionTypes.${CompressionTypes[type]}] = ..., e.g. from kafkajs-${compression})`,
    );
  }
}

/** What `native()` returns: the kafkajs client and this adapter's producer. */
export interface KafkaNative {
  kafka: Kafka;
  producer: Producer;
}

export class KafkaDriver implements Driver {
  readonly backend = 'kafka';
  readonly capabilities: Capabilities;
  private readonly options: ResolvedKafkaOptions;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private adminClient: Promise<Admin> | undefined;
  /** The group member per (group, topic) that this adapter's subscriptions share. */
  private readonly members = new Map<string, GroupMember>();

  constructor(options: KafkaDriverOptions = {}) {
    this.options = resolveKafkaOptions(options);
    assertCodecAvailable(this.options.compression);
    this.capabilities = { ...KAFKA_CAPABILITIES, topicAdmin: this.options.topicAdmin };
    const logger = options.logger ?? consoleLogger();
    const config: KafkaConfig = {
      clientId: this.options.clientId,
      brokers: this.options.brokers,
      ssl: this.options.ssl,
      connectionTimeout: this.options.connectionTimeout,
      requestTimeout: this.options.requestTimeout,
      retry: { retries: this.options.retries, initialRetryTime: 200, maxRetryTime: 5_000 },
      logLevel: kafkaLogLevel.WARN,
      logCreator: kafkaLogCreator(logger),
    };
    if (this.options.sasl) config.sasl = this.options.sasl as SASLOptions;
    this.kafka = new Kafka(config);
    this.producer = this.kafka.producer({
      // Chosen explicitly: the murmur2 partitioner of the Java client, so a key maps to the same
      // partition whichever client produced it (and kafkajs stops warning about its default).
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: this.options.idempotent,
      ...(this.options.idempotent ? { maxInFlightRequests: 1 } : {}),
      allowAutoTopicCreation: true,
      retry: { retries: this.options.retries, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
  }

  async connect(): Promise<void> {
    try {
      await this.producer.connect();
    } catch (error) {
      // The portable layer only disconnects an adapter that connected: release the sockets here.
      await this.producer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    const admin = this.adminClient;
    this.adminClient = undefined;
    await Promise.allSettled([this.producer.disconnect(), admin?.then((client) => client.disconnect())]);
  }

  async send(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    await this.producer.send({
      topic,
      acks: this.options.acks,
      compression: COMPRESSION_TYPES[this.options.compression],
      timeout: this.options.requestTimeout,
      messages: records.map((record) => ({
        key: record.key ?? null,
        value: record.body,
        headers: { ...record.headers },
      })),
    });
  }

  async subscribe(topic: string, options: DriverSubscribeOptions, sink: RecordSink): Promise<DriverSubscription> {
    const groupId = this.options.consumerGroupId(options.group, topic);
    let member = this.members.get(groupId);
    if (!member?.accepting) {
      const created: GroupMember = new GroupMember(
        { kafka: this.kafka, admin: () => this.admin(), options: this.options },
        topic,
        options,
        () => {
          if (this.members.get(groupId) === created) this.members.delete(groupId);
        },
      );
      this.members.set(groupId, created);
      member = created;
    }
    return member.attach(sink, options.onError);
  }

  async createTopic(topic: string, options: CreateTopicOptions): Promise<void> {
    const admin = await this.admin();
    const created = await admin.createTopics({
      topics: [{ topic, ...(options.partitions === undefined ? {} : { numPartitions: options.partitions }) }],
      waitForLeaders: true,
    });
    if (!created) throw new EventportError('ALREADY_EXISTS', `topic "${topic}" already exists`);
  }

  async deleteTopic(topic: string): Promise<void> {
    const admin = await this.admin();
    if (!(await admin.listTopics()).includes(topic)) {
      throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`);
    }
    await admin.deleteTopics({ topics: [topic] });
  }

  async listTopics(): Promise<string[]> {
    const admin = await this.admin();
    // Internal topics (__consumer_offsets, __transaction_state) are the broker's, not the application's.
    return (await admin.listTopics()).filter((topic) => !topic.startsWith('__')).sort();
  }

  async ping(): Promise<void> {
    await (await this.admin()).describeCluster();
  }

  classifyError(error: unknown): Classification | undefined {
    return classifyKafkaError(error);
  }

  native(): KafkaNative {
    return { kafka: this.kafka, producer: this.producer };
  }

  /** One admin connection per adapter, opened on first use (group offsets, topic admin, health). */
  private admin(): Promise<Admin> {
    this.adminClient ??= (async () => {
      const admin = this.kafka.admin({ retry: { retries: this.options.retries } });
      try {
        await admin.connect();
        return admin;
      } catch (error) {
        this.adminClient = undefined;
        throw error;
      }
    })();
    return this.adminClient;
  }
}
