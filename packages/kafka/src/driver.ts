import {
  abortion,
  type Capabilities,
  type CreateTopicOptions,
  consoleLogger,
  type Driver,
  type ErrorClassification,
  EventportError,
  type Logger,
  type OutgoingRecord,
  type Receiver,
  type ReceiverOptions,
  SENT,
  type SendResult,
} from '@eventport/core';
import { type Admin, CompressionCodecs, CompressionTypes, Kafka, Partitioners, type Producer } from 'kafkajs';
import { classifyKafkaError, kafkaLogCreator, kafkaLogLevel } from './errors.js';
import { GroupMember, type KafkaRecord } from './member.js';
import { type KafkaCompression, type KafkaOptions, type ResolvedKafkaOptions, resolveKafkaOptions } from './options.js';

export const KAFKA_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  // Kafka keeps no per-record delivery count: core counts attempts in this process.
  deliveryCount: false,
  // Kafka's default message.max.bytes is 1 MiB per record batch, headers included.
  maxPayloadBytes: 1_000_000,
};

const COMPRESSION: Record<KafkaCompression, CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** What `native()` returns: the kafkajs client and this adapter's producer. */
export interface KafkaNative {
  kafka: Kafka;
  producer: Producer;
}

export class KafkaDriver implements Driver {
  readonly backend = 'kafka';
  readonly capabilities: Capabilities;
  readonly options: ResolvedKafkaOptions;
  private readonly logger: Logger;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private adminClient: Promise<Admin> | undefined;
  /** The group member per Kafka group and topic that this driver's receivers share. */
  private readonly members = new Map<string, GroupMember>();

  /** `options` as given or already resolved; env vars (KAFKA_SERVER...) fill what is not given. */
  constructor(options: KafkaOptions = {}, logger: Logger = consoleLogger()) {
    this.options = resolveKafkaOptions(options, process.env, logger);
    this.logger = logger;
    const { compression, saslMechanism, saslUsername, saslPassword, retries, ...settings } = this.options;
    if (compression !== 'none' && compression !== 'gzip') {
      // kafkajs ships gzip only; the other codecs are stubs that throw until an application registers one.
      try {
        (CompressionCodecs as Record<number, () => unknown>)[COMPRESSION[compression]]?.();
      } catch {
        throw new EventportError(
          'INVALID_CONFIG',
          `invalid kafka configuration: compression "${compression}" needs a codec registered in kafkajs first (CompressionCodecs[CompressionTypes.${CompressionTypes[COMPRESSION[compression]]}] = ..., e.g. from kafkajs-${compression})`,
        );
      }
    }
    this.capabilities = { ...KAFKA_CAPABILITIES, topicAdmin: settings.topicAdmin };
    const sasl =
      saslMechanism && saslUsername && saslPassword !== undefined
        ? { mechanism: saslMechanism, username: saslUsername, password: saslPassword }
        : undefined;
    this.kafka = new Kafka({
      clientId: settings.clientId,
      brokers: settings.brokers,
      ssl: settings.ssl,
      ...(sasl ? { sasl: sasl as never } : {}),
      // Bounded, so a broker that accepts and never answers fails a call instead of hanging it.
      connectionTimeout: settings.connectionTimeout,
      requestTimeout: settings.requestTimeout,
      retry: { retries, initialRetryTime: 200, maxRetryTime: 5_000 },
      logLevel: kafkaLogLevel.WARN,
      logCreator: kafkaLogCreator(logger, saslPassword),
    });
    this.producer = this.kafka.producer({
      // The Java client's murmur2 partitioner, so a key lands on the same partition whichever client produced it.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: settings.idempotent,
      ...(settings.idempotent ? { maxInFlightRequests: 1 } : {}),
      allowAutoTopicCreation: true,
      retry: { retries, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
  }

  /**
   * kafkajs "connects" to a server that accepts TCP and never answers once its ApiVersions request
   * timed out, so a metadata round trip proves the broker is there.
   */
  async connect(signal: AbortSignal): Promise<void> {
    await Promise.race([Promise.all([this.producer.connect(), this.ping(signal)]), abortion(signal)]);
  }

  async disconnect(): Promise<void> {
    const admin = this.adminClient;
    this.adminClient = undefined;
    await Promise.allSettled([this.producer.disconnect(), admin?.then((client) => client.disconnect())]);
  }

  /** One kafkajs send, which is all or nothing: a failure is every record's. */
  async send(topic: string, records: readonly OutgoingRecord[], signal: AbortSignal): Promise<SendResult[]> {
    const { acks, compression, requestTimeout } = this.options;
    const sent = this.producer.send({
      topic,
      acks,
      compression: COMPRESSION[compression],
      timeout: requestTimeout,
      messages: records.map((record) => ({
        key: record.key ?? null,
        value: record.body,
        headers: { ...record.headers },
      })),
    });
    await Promise.race([sent, abortion(signal)]);
    return records.map(() => SENT);
  }

  async openReceiver(topic: string, options: ReceiverOptions, signal: AbortSignal): Promise<Receiver<KafkaRecord>> {
    const { sessionTimeout, heartbeatInterval, rebalanceTimeout, retries, consumerGroupId } = this.options;
    const groupId = consumerGroupId(options.group, topic);
    const key = `${groupId}\n${topic}`;
    let member = this.members.get(key);
    if (!member) {
      const config = { groupId, sessionTimeout, heartbeatInterval, rebalanceTimeout, maxWaitTimeInMs: 1_000 };
      // More patience than a request: a consumer that runs out of retries crashes, and core replaces it.
      const retry = { retries: Math.max(retries, 5), initialRetryTime: 300, maxRetryTime: 5_000 };
      const created: GroupMember = new GroupMember(
        this.kafka,
        { ...config, retry, allowAutoTopicCreation: true },
        {
          topic,
          groupId,
          fromBeginning: options.fromBeginning,
          concurrency: options.maxUnsettled,
          heartbeatInterval,
          admin: () => this.admin(),
          logger: this.logger,
          onEnd: () => this.members.get(key) === created && this.members.delete(key),
        },
      );
      this.members.set(key, created);
      member = created;
    }
    const receiver = member.attach();
    try {
      await Promise.race([member.ready, abortion(signal)]);
    } catch (error) {
      void receiver.close().catch(() => undefined);
      throw error;
    }
    return receiver;
  }

  async createTopic(topic: string, options: CreateTopicOptions, signal: AbortSignal): Promise<void> {
    const admin = await Promise.race([this.admin(), abortion(signal)]);
    const creating = admin.createTopics({
      topics: [{ topic, ...(options.partitions === undefined ? {} : { numPartitions: options.partitions }) }],
      waitForLeaders: true,
    });
    const created = await Promise.race([creating, abortion(signal)]);
    if (!created) throw new EventportError('ALREADY_EXISTS', `topic "${topic}" already exists`);
  }

  async deleteTopic(topic: string, signal: AbortSignal): Promise<void> {
    const admin = await Promise.race([this.admin(), abortion(signal)]);
    if (!(await Promise.race([admin.listTopics(), abortion(signal)])).includes(topic)) {
      throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`);
    }
    await Promise.race([admin.deleteTopics({ topics: [topic] }), abortion(signal)]);
  }

  async listTopics(signal: AbortSignal): Promise<string[]> {
    const admin = await Promise.race([this.admin(), abortion(signal)]);
    // Internal topics (__consumer_offsets, __transaction_state) are the broker's, not the application's.
    return (await Promise.race([admin.listTopics(), abortion(signal)]))
      .filter((topic) => !topic.startsWith('__'))
      .sort();
  }

  async ping(signal: AbortSignal): Promise<void> {
    const admin = this.admin();
    const pinged = admin.then((client) => client.describeCluster());
    try {
      await Promise.race([pinged, abortion(signal)]);
    } catch (error) {
      // A client left half-connected (to a silent server) never recovers: the next call starts afresh.
      if (this.adminClient === admin) this.adminClient = undefined;
      void admin.then((client) => client.disconnect()).catch(() => undefined);
      throw error;
    }
  }

  classify(error: unknown): ErrorClassification {
    return classifyKafkaError(error) ?? { code: 'INTERNAL', retryable: false };
  }

  native(): KafkaNative {
    return { kafka: this.kafka, producer: this.producer };
  }

  /** One admin connection per driver, opened on first use (start offsets, topic admin, health). */
  private admin(): Promise<Admin> {
    this.adminClient ??= (async () => {
      const { retries } = this.options;
      const admin = this.kafka.admin({ retry: { retries, initialRetryTime: 200, maxRetryTime: 5_000 } });
      try {
        await admin.connect();
        return admin;
      } catch (error) {
        this.adminClient = undefined;
        await admin.disconnect().catch(() => undefined);
        throw error;
      }
    })();
    return this.adminClient;
  }
}
