import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type {
  Capabilities,
  CreateTopicOptions,
  Driver,
  DriverSubscribeOptions,
  DriverSubscription,
  OutgoingRecord,
  RecordSink,
} from '@eventport/core';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { resolveCheckpointStore } from './checkpoint/resolve.js';
import type { CheckpointStore } from './checkpoint/store.js';
import { GroupMember } from './consumer.js';
import { classifyKinesisError } from './errors.js';
import type { KinesisOptions, ResolvedKinesisOptions } from './options.js';
import { resolveKinesisOptions } from './options.js';
import { MAX_RECORD_BYTES, Publisher } from './publisher.js';
import { Streams } from './streams.js';

/**
 * Room kept in a 1 MiB record for the envelope around the body: headers, key, id, JSON punctuation.
 * The body travels base64-encoded (4 bytes per 3), so the largest body is 3/4 of what is left.
 * Messages with more than this much header/key text are checked exactly on publish.
 */
const ENVELOPE_ALLOWANCE_BYTES = 16 * 1024;

export const KINESIS_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  deliveryCount: false,
  maxPayloadBytes: Math.floor(((MAX_RECORD_BYTES - ENVELOPE_ALLOWANCE_BYTES) / 4) * 3),
};

export class KinesisDriver implements Driver {
  readonly backend = 'kinesis';
  readonly capabilities = KINESIS_CAPABILITIES;
  private readonly settings: ResolvedKinesisOptions;
  private readonly client: KinesisClient;
  private readonly ownsClient: boolean;
  private readonly store: CheckpointStore;
  private readonly ownsStore: boolean;
  private readonly streams: Streams;
  private readonly publisher: Publisher;

  constructor(options: KinesisOptions = {}) {
    this.settings = resolveKinesisOptions(options);
    const { store, owned } = resolveCheckpointStore(this.settings.checkpointStore);
    this.store = store;
    this.ownsStore = owned;
    this.ownsClient = this.settings.client === undefined;
    this.client = this.settings.client ?? new KinesisClient(clientConfig(this.settings));
    this.streams = new Streams(this.client, this.settings);
    this.publisher = new Publisher(this.client, this.streams, this.settings.putAttempts);
  }

  async connect(): Promise<void> {
    await this.streams.ping();
  }

  async disconnect(): Promise<void> {
    try {
      if (this.ownsStore) await this.store.close();
    } finally {
      if (this.ownsClient) this.client.destroy();
    }
  }

  async ping(): Promise<void> {
    await this.streams.ping();
  }

  async send(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    Streams.validateName(topic);
    await this.publisher.send(topic, records);
  }

  async subscribe(topic: string, options: DriverSubscribeOptions, sink: RecordSink): Promise<DriverSubscription> {
    Streams.validateName(topic);
    await this.streams.ensure(topic);
    return GroupMember.start(
      { client: this.client, streams: this.streams, store: this.store, settings: this.settings },
      topic,
      options,
      sink,
    );
  }

  async createTopic(topic: string, options: CreateTopicOptions): Promise<void> {
    await this.streams.create(topic, options.partitions ?? this.settings.shardCount);
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.streams.delete(topic);
    // A stream created again under the same name starts new shards: old checkpoints must not apply.
    await this.store.forgetStream(topic);
  }

  listTopics(): Promise<string[]> {
    return this.streams.list();
  }

  classifyError(error: unknown) {
    return classifyKinesisError(error);
  }

  native(): KinesisClient {
    return this.client;
  }
}

function clientConfig(settings: ResolvedKinesisOptions): KinesisClientConfig {
  const config: KinesisClientConfig = { region: settings.region };
  if (settings.endpoint) {
    config.endpoint = settings.endpoint;
    // The SDK's default HTTP/2 handler fails at random against local emulators (ERR_HTTP2_ERROR).
    config.requestHandler = new NodeHttpHandler();
  }
  if (settings.accessKeyId && settings.secretAccessKey) {
    const { accessKeyId, secretAccessKey, sessionToken } = settings;
    config.credentials = sessionToken
      ? { accessKeyId, secretAccessKey, sessionToken }
      : { accessKeyId, secretAccessKey };
  }
  return config;
}
