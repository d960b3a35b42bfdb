import {
  abortable,
  type Capabilities,
  type CreateTopicOptions,
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
import { type Admin, AssignerProtocol, Kafka, Partitioners, type Producer } from 'kafkajs';
import { classifyKafkaError, kafkaLogCreator, kafkaLogLevel, unlessUnsupported } from './errors.js';
import { committedOffsets, GroupMember, KAFKA_CLOUDEVENTS, type KafkaRecord } from './member.js';
import { COMPRESSION, type ResolvedKafkaOptions } from './options.js';

export const KAFKA_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  ephemeralGroups: true,
  // Kafka keeps no per-record delivery count: core counts attempts in this process.
  deliveryCount: false,
  // Kafka's default message.max.bytes is 1 MiB per record batch, headers included.
  maxPayloadBytes: 1_000_000,
};

/** What `native()` returns: the kafkajs client and this adapter's producer. */
export interface KafkaNative {
  kafka: Kafka;
  producer: Producer;
}

export class KafkaDriver implements Driver {
  readonly backend = 'kafka';
  /** One produce request per partition leader, whatever the number of records. */
  readonly batchedSend = true;
  readonly capabilities: Capabilities;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private adminClient: Promise<Admin> | undefined;
  /** One group member per Kafka group and topic, shared by this driver's receivers. */
  private readonly members = new Map<string, GroupMember>();
  /** The groups opened here, by topic: what listGroups can name where the broker lists none. */
  private readonly opened = new Map<string, Set<string>>();

  /** Settings validated by `backendDriver(backend, options)`. */
  constructor(
    readonly options: ResolvedKafkaOptions,
    private readonly logger: Logger,
  ) {
    const { saslMechanism: mechanism, saslUsername: username, saslPassword: password, ...o } = this.options;
    this.capabilities = { ...KAFKA_CAPABILITIES, topicAdmin: o.topicAdmin };
    const retry = { retries: o.retries, initialRetryTime: 200, maxRetryTime: 5_000 };
    this.kafka = new Kafka({
      ...{ clientId: o.clientId, brokers: o.brokers, ssl: o.ssl, retry },
      ...(mechanism && username && password !== undefined ? { sasl: { mechanism, username, password } as never } : {}),
      // Bounded, so a broker that accepts and never answers fails a call instead of hanging it.
      ...{ connectionTimeout: o.connectionTimeout, requestTimeout: o.requestTimeout },
      logLevel: kafkaLogLevel.WARN,
      logCreator: kafkaLogCreator(logger, password),
    });
    this.producer = this.kafka.producer({
      // The Java client's murmur2 partitioner, so a key lands on the same partition whichever client produced it.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: o.idempotent,
      ...(o.idempotent ? { maxInFlightRequests: 1 } : {}),
      allowAutoTopicCreation: true,
      retry,
    });
  }

  /** kafkajs "connects" to a server that never answers once its handshake timed out: a metadata round trip proves the broker. */
  async connect(signal: AbortSignal): Promise<void> {
    await abortable(Promise.all([this.producer.connect(), this.ping(signal)]), signal);
  }

  async disconnect(): Promise<void> {
    const admin = this.adminClient;
    this.adminClient = undefined;
    await Promise.allSettled([this.producer.disconnect(), admin?.then((client) => client.disconnect())]);
  }

  /** One kafkajs send, which is all or nothing: a failure is every record's. */
  async send(topic: string, records: readonly OutgoingRecord[], signal: AbortSignal): Promise<SendResult[]> {
    const { acks, compression, requestTimeout } = this.options;
    const messages = records.map(({ key, body, headers }) => ({
      key: key ?? null,
      value: body,
      headers: KAFKA_CLOUDEVENTS.toWire(headers),
    }));
    const sent = this.producer.send({
      topic,
      acks,
      compression: COMPRESSION[compression],
      timeout: requestTimeout,
      messages,
    });
    await abortable(sent, signal);
    return records.map(() => SENT);
  }

  async openReceiver(topic: string, options: ReceiverOptions, signal: AbortSignal): Promise<Receiver<KafkaRecord>> {
    const groupId = this.options.consumerGroupId(options.group, topic);
    const key = `${groupId}\n${topic}`;
    let member = this.members.get(key);
    this.opened.set(topic, (this.opened.get(topic) ?? new Set()).add(options.group));
    if (!member) {
      const created: GroupMember = new GroupMember(this.kafka, this.options, {
        topic,
        groupId,
        fromBeginning: options.fromBeginning,
        ephemeral: options.ephemeral ?? false,
        concurrency: options.maxUnsettled,
        admin: () => this.admin(),
        logger: this.logger,
        onEnd: () => this.members.get(key) === created && this.members.delete(key),
      });
      this.members.set(key, created);
      member = created;
    }
    const receiver = member.attach();
    try {
      await abortable(member.ready, signal);
    } catch (error) {
      void receiver.close().catch(() => undefined);
      throw error;
    }
    return receiver;
  }

  async createTopic(topic: string, { partitions }: CreateTopicOptions, signal: AbortSignal): Promise<void> {
    const spec = { topic, ...(partitions === undefined ? {} : { numPartitions: partitions }) };
    const created = await this.withAdmin(signal, (admin) =>
      admin.createTopics({ topics: [spec], waitForLeaders: true }),
    );
    if (!created) throw new EventportError('ALREADY_EXISTS', `topic "${topic}" already exists`);
  }

  async deleteTopic(topic: string, signal: AbortSignal): Promise<void> {
    await this.withAdmin(signal, async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) {
        throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`);
      }
      await admin.deleteTopics({ topics: [topic] });
    });
  }

  async listTopics(signal: AbortSignal): Promise<string[]> {
    const topics = await this.withAdmin(signal, (admin) => admin.listTopics());
    // Internal topics (__consumer_offsets, __transaction_state) are the broker's, not the application's.
    return topics.filter((topic) => !topic.startsWith('__')).sort();
  }

  /**
   * A Kafka group id has a portable name only where our naming made it: the default
   * `${group}.${topic}`, a consumerGroupId that passes the group through, or a group opened here.
   * Other applications' groups are not eventport's to name, and are left out.
   */
  async listGroups(topic: string, signal: AbortSignal): Promise<string[]> {
    const { consumerGroupId } = this.options;
    const opened = [...(this.opened.get(topic) ?? [])];
    const suffix = `.${topic}`;
    const portable = (id: string) =>
      [...opened, id.endsWith(suffix) ? id.slice(0, -suffix.length) : id, id].find(
        (group) => consumerGroupId(group, topic) === id,
      );
    return this.withAdmin(signal, async (admin) => {
      // librdkafka's mock serves no ListGroups or DescribeGroups: there, the groups opened here are
      // the candidates, and their committed offsets decide.
      const listed = admin.listGroups().then(({ groups }) => groups.map(({ groupId }) => groupId));
      const ids = await unlessUnsupported(
        listed,
        opened.map((group) => consumerGroupId(group, topic)),
      );
      const named = ids.flatMap((id) => {
        const group = portable(id);
        return group === undefined ? [] : [{ id, group }];
      });
      if (named.length === 0) return [];
      const { groups } = await unlessUnsupported(admin.describeGroups(named.map(({ id }) => id)), { groups: [] });
      const subscribed = new Set(
        groups
          .filter(
            ({ protocolType, members }) =>
              protocolType === 'consumer' &&
              members.some(({ memberMetadata }) =>
                AssignerProtocol.MemberMetadata.decode(memberMetadata)?.topics.includes(topic),
              ),
          )
          .map(({ groupId }) => groupId),
      );
      const held = await Promise.all(
        named.map(async ({ id, group }) =>
          subscribed.has(id) || (await committedOffsets(admin, id, topic)).size > 0 ? [group] : [],
        ),
      );
      return held.flat().sort();
    });
  }

  /** UNSUPPORTED: librdkafka's mock, where a group that never committed leaves nothing to delete. */
  async deleteGroup(topic: string, group: string, signal: AbortSignal): Promise<void> {
    const groupId = this.options.consumerGroupId(group, topic);
    await this.withAdmin(signal, (admin) => admin.deleteGroups([groupId])).catch((error: unknown) => {
      if (!['UNSUPPORTED', 'NOT_FOUND'].includes(classifyKafkaError(error)?.code ?? '')) throw error;
    });
  }

  async ping(signal: AbortSignal): Promise<void> {
    const admin = this.admin();
    try {
      await abortable(
        admin.then((client) => client.describeCluster()),
        signal,
      );
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

  /** Runs `call` on the admin client (takes no signal), and stops waiting for it when `signal` aborts. */
  private withAdmin<T>(signal: AbortSignal, call: (admin: Admin) => Promise<T>): Promise<T> {
    return abortable(this.admin().then(call), signal);
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
