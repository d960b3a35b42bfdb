import { randomUUID } from 'node:crypto';
import {
  KinesisClient,
  type KinesisClientConfig,
  PutRecordCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import type {
  Capabilities,
  CreateTopicOptions,
  Driver,
  Logger,
  OutgoingRecord,
  ReceiverOptions,
  SendResult,
} from '@eventport/core';
import { EventportError, RESERVED_HEADERS, SENT } from '@eventport/core';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { MemoryCheckpointStore } from './checkpoint/memory.js';
import { PostgresCheckpointStore } from './checkpoint/postgres.js';
import { RedisCheckpointStore } from './checkpoint/redis.js';
import type { CheckpointStore } from './checkpoint/store.js';
import type { CheckpointStoreOption, KinesisConfig } from './config.js';
import { encodeEnvelope } from './envelope.js';
import { classifyKinesisError, isErrorNamed } from './errors.js';
import { ShardReceiver } from './receiver.js';
import { Streams, validateName } from './streams.js';

/** Kinesis limits: a record's data plus partition key, and one PutRecords call. */
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 5 * 1024 * 1024;
/** Room kept in a record for the envelope around the base64 body (4 bytes per 3); larger headers are checked exactly. */
const ENVELOPE_ALLOWANCE_BYTES = 16 * 1024;

export const KINESIS_CAPABILITIES: Capabilities = {
  orderingKeys: true,
  consumerGroups: true,
  replayFromStart: true,
  // Checkpoints in Redis or PostgreSQL; a group cannot subscribe without a checkpoint store.
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  // An ephemeral group keeps its leases and checkpoints in its receiver's memory, never in the store.
  ephemeralGroups: true,
  deliveryCount: false,
  maxPayloadBytes: Math.floor(((MAX_RECORD_BYTES - ENVELOPE_ALLOWANCE_BYTES) / 4) * 3),
};

/** Shared by the adapters of this process that choose checkpointStore "memory". */
const processStore = new MemoryCheckpointStore();

export class KinesisDriver implements Driver {
  readonly backend = 'kinesis';
  /** PutRecords takes up to 500 records a call. */
  readonly batchedSend = true;
  readonly capabilities = KINESIS_CAPABILITIES;
  readonly classify = classifyKinesisError;
  readonly autoCreateTopics: boolean;
  private readonly client: KinesisClient;
  private readonly store: CheckpointStore | undefined;
  private readonly ownsStore: boolean;
  private readonly streams: Streams;

  constructor(
    private readonly settings: KinesisConfig,
    private readonly logger?: Logger,
  ) {
    this.client = settings.client ?? new KinesisClient(clientConfig(settings));
    ({ store: this.store, owned: this.ownsStore } = openStore(settings.checkpointStore));
    this.streams = new Streams(this.client);
    this.autoCreateTopics = settings.autoCreateStreams;
  }

  connect(signal: AbortSignal): Promise<void> {
    return this.streams.ping(signal);
  }

  async disconnect(): Promise<void> {
    try {
      if (this.ownsStore) await this.store?.close();
    } finally {
      if (!this.settings.client) this.client.destroy();
    }
  }

  ping(signal: AbortSignal): Promise<void> {
    return this.streams.ping(signal);
  }

  /** PutRecords in chunks of at most 500 records / 5 MiB; an entry Kinesis rejects fails alone, with its error code. */
  async send(topic: string, records: readonly OutgoingRecord[], signal: AbortSignal): Promise<SendResult[]> {
    validateName(topic);
    const results: SendResult[] = [];
    const chunks: Array<Array<{ index: number; Data: Buffer; PartitionKey: string }>> = [];
    let bytes = Number.POSITIVE_INFINITY;
    for (const [index, { key, headers, body }] of records.entries()) {
      const Data = encodeEnvelope(key, headers, body);
      // Keyless messages are spread over shards by their id, which also keeps a message's retries on one shard.
      const PartitionKey = key ?? headers[RESERVED_HEADERS.id] ?? randomUUID();
      const size = Data.length + Buffer.byteLength(PartitionKey);
      if (size > MAX_RECORD_BYTES) {
        const message = `the Kinesis record (envelope with headers, key and base64 body) is ${size} bytes; the limit is ${MAX_RECORD_BYTES}`;
        results[index] = { ok: false, error: new EventportError('PAYLOAD_TOO_LARGE', message) };
        continue;
      }
      if (chunks.at(-1)?.length === MAX_BATCH_RECORDS || bytes + size > MAX_BATCH_BYTES) {
        chunks.push([]);
        bytes = 0;
      }
      chunks.at(-1)?.push({ index, Data, PartitionKey });
      bytes += size;
    }
    try {
      for (const chunk of chunks) {
        const Records = chunk.map(({ Data, PartitionKey }) => ({ Data, PartitionKey }));
        const answers = await this.put(topic, Records, signal);
        chunk.forEach(({ index }, n) => {
          const { SequenceNumber, ErrorCode, ErrorMessage } = answers[n] ?? {};
          results[index] =
            SequenceNumber && !ErrorCode ? SENT : { ok: false, error: rejected(ErrorCode, ErrorMessage) };
        });
      }
    } catch (error) {
      // The call failed as a whole: this chunk and the ones not sent yet fail with its error.
      for (const index of records.keys()) results[index] ??= { ok: false, error };
    }
    return results;
  }

  async openReceiver(topic: string, options: ReceiverOptions, signal: AbortSignal): Promise<ShardReceiver> {
    // An ephemeral group has one member, which reads every shard: nothing to share, nothing left behind.
    const store = options.ephemeral ? new MemoryCheckpointStore() : this.store;
    if (!store) {
      throw new EventportError(
        'INVALID_CONFIG',
        `kinesis: consumer group "${options.group}" needs a checkpoint store that all its members share, or every ` +
          'process reads every record: set KINESIS_CHECKPOINT_URL (or the checkpointStore option) to a redis:// or ' +
          `postgres:// URL; checkpointStore "memory" keeps checkpoints in this process only (tests, one process)`,
      );
    }
    validateName(topic);
    const context = { client: this.client, streams: this.streams, store, settings: this.settings, logger: this.logger };
    return ShardReceiver.open(context, topic, options, signal);
  }

  async createTopic(topic: string, options: CreateTopicOptions, signal: AbortSignal): Promise<void> {
    await this.streams.create(topic, options.partitions ?? this.settings.shardCount, signal);
  }

  async deleteTopic(topic: string, signal: AbortSignal): Promise<void> {
    await this.streams.delete(topic, signal);
    // A stream created again under the same name starts new shards: old checkpoints must not apply.
    await this.store?.forgetStream(topic);
  }

  listTopics(signal: AbortSignal): Promise<string[]> {
    return this.streams.list(signal);
  }

  /** The groups with rows in the checkpoint store; without a store no group can have a position. */
  async listGroups(topic: string): Promise<string[]> {
    return (await this.store?.groups(topic)) ?? [];
  }

  /** PutRecord for one record (less latency than a PutRecords of one on kinesis-local), else PutRecords. */
  private async put(
    StreamName: string,
    Records: PutRecordsRequestEntry[],
    abortSignal: AbortSignal,
  ): Promise<PutRecordsResultEntry[]> {
    if (Records.length === 1) {
      const put = this.client.send(new PutRecordCommand({ StreamName, ...Records[0] }), { abortSignal });
      // A throttled record answers as it would inside PutRecords: named by its error code.
      const asEntry = (error: Error) => {
        if (!isErrorNamed(error, 'ProvisionedThroughputExceededException', 'InternalFailure')) throw error;
        return { ErrorCode: error.name, ErrorMessage: error.message };
      };
      return [await put.catch(asEntry)];
    }
    return (await this.client.send(new PutRecordsCommand({ StreamName, Records }), { abortSignal })).Records ?? [];
  }

  native(): KinesisClient {
    return this.client;
  }
}

/** HTTP/1.1 (the SDK's HTTP/2 handler fails at random against emulators), bounded, one attempt: core retries. */
function clientConfig(settings: KinesisConfig): KinesisClientConfig {
  const { region, endpoint, accessKeyId, secretAccessKey, sessionToken, requestTimeoutMs } = settings;
  const config: KinesisClientConfig = {
    region,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: requestTimeoutMs,
      requestTimeout: requestTimeoutMs,
      throwOnRequestTimeout: true,
    }),
  };
  if (endpoint) config.endpoint = endpoint;
  if (accessKeyId && secretAccessKey) config.credentials = { accessKeyId, secretAccessKey, sessionToken };
  return config;
}

/** A PutRecords entry Kinesis rejected, named by its error code (ProvisionedThroughputExceededException...). */
function rejected(code = 'InternalFailure', message = 'no result for this entry'): Error {
  return Object.assign(new Error(`Kinesis rejected the record: ${code}: ${message}`), { name: code });
}

function openStore(option: CheckpointStoreOption | undefined): { store?: CheckpointStore; owned: boolean } {
  if (option === undefined || (typeof option === 'object' && 'tryLease' in option))
    return { store: option, owned: false };
  const config =
    typeof option !== 'string'
      ? (option as { type: string; url: string })
      : { type: option === 'memory' ? 'memory' : option.startsWith('redis') ? 'redis' : 'postgres', url: option };
  if (config.type === 'memory') return { store: processStore, owned: false };
  const store = config.type === 'redis' ? new RedisCheckpointStore(config) : new PostgresCheckpointStore(config);
  return { store, owned: true };
}
