import {
  type Capabilities,
  type CreateTopicOptions,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  describeError,
  type ErrorCode,
  EventportError,
  type Logger,
  type OutgoingRecord,
  type RecordSink,
} from '@eventport/core';
import Redis from 'ioredis';
import { GroupConsumer } from './consumer.js';
import { entryFields } from './entries.js';
import { classifyRedisError } from './errors.js';
import { describeUrl, type RedisStreamsOptions, type ResolvedOptions, resolveOptions } from './options.js';

export const REDIS_STREAMS_CAPABILITIES: Capabilities = {
  // Redis hands a group's entries to whichever member reads first, so two members can work on one key
  // at once. Within one member order per key holds, nacks included (see GroupConsumer).
  orderingKeys: false,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  deliveryCount: true,
  // Redis accepts 512 MB strings, but every stream entry lives in server memory.
  maxPayloadBytes: 64 * 1024 * 1024,
};

/** Creates an empty stream atomically; 0 when the key already exists. */
const CREATE_STREAM = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
return 1`;

/** Deletes the key only if it is a stream, so a same-named key of another type is never touched. */
const DELETE_STREAM = `
if redis.call('TYPE', KEYS[1]).ok ~= 'stream' then return 0 end
return redis.call('DEL', KEYS[1])`;

export class RedisStreamsDriver implements Driver {
  readonly backend = 'redis-streams';
  readonly capabilities = REDIS_STREAMS_CAPABILITIES;
  private readonly options: ResolvedOptions;
  private client: Redis | undefined;
  /** Consumer-name suffixes in use per topic and group, so each subscription is its own group member. */
  private readonly members = new Map<string, Set<number>>();

  constructor(
    options: RedisStreamsOptions,
    private readonly logger: Logger,
  ) {
    this.options = resolveOptions(options);
  }

  async connect(): Promise<void> {
    // No enableAutoPipelining: ioredis drops the command name of call()/callBuffer() when it is on.
    const client = new Redis(this.options.url, {
      // After a failover the old primary answers READONLY: reconnect (to the new primary) and resend.
      reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
      ...this.options.redis,
      lazyConnect: true,
      enableAutoPipelining: false,
    });
    let lastError: unknown;
    reportOutages(
      client,
      (error) => {
        lastError = error;
        if (this.client === client) {
          this.logger.warn('redis connection lost; reconnecting', { error: describeError(error) });
        }
      },
      () => this.logger.info('redis connection restored'),
    );
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      const cause = lastError ?? error;
      // A refused password is not worth retrying; anything else may be a server still starting.
      const refused = classifyRedisError(cause)?.code === 'PERMISSION_DENIED';
      throw new EventportError(
        refused ? 'PERMISSION_DENIED' : 'CONNECTION',
        `cannot connect to Redis at ${describeUrl(this.options.url)}: ${describeError(cause)}`,
        { cause },
      );
    }
    this.client = client;
  }

  async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client?.status === 'ready') await client.quit().catch(() => client.disconnect());
    // Not connected right now: QUIT would wait in the offline queue for a server that may not come back.
    else client?.disconnect();
  }

  async ping(): Promise<void> {
    await this.connected().ping();
  }

  async send(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    const stream = this.streamKey(topic);
    const trim = this.options.maxLength === undefined ? [] : ['MAXLEN', '~', this.options.maxLength];
    const client = this.connected();
    if (records.length === 1) {
      // A single XADD is atomic already; a one-command transaction would cost three round trips' work.
      await client.call('XADD', stream, ...trim, '*', ...entryFields(records[0] as OutgoingRecord));
      return;
    }
    // One MULTI/EXEC: the batch lands whole or not at all, so a retried batch is not half duplicated.
    const transaction = client.multi();
    for (const record of records) transaction.call('XADD', stream, ...trim, '*', ...entryFields(record));
    const results = await transaction.exec();
    if (!results) throw new EventportError('INTERNAL', `the transaction publishing to "${topic}" was discarded`);
    for (const [error] of results) if (error) throw error;
  }

  async subscribe(topic: string, options: DriverSubscribeOptions, sink: RecordSink): Promise<DriverSubscription> {
    const client = this.connected();
    const { group } = options;
    const memberKey = `${topic}\n${group}`;
    const taken = this.members.get(memberKey) ?? new Set<number>();
    this.members.set(memberKey, taken);
    let index = 0;
    while (taken.has(index)) index++;
    taken.add(index);
    const release = () => {
      taken.delete(index);
      if (taken.size === 0) this.members.delete(memberKey);
    };
    // Blocking reads get their own connection that waits out outages instead of failing each read.
    const reader = client.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
    reportOutages(reader, options.onError, () => this.logger.info(`redis reader of "${topic}" reconnected`));
    try {
      await reader.connect();
      const consumer = new GroupConsumer({
        client,
        reader,
        stream: this.streamKey(topic),
        group,
        consumer: `${this.options.consumerName}-${index}`,
        fromBeginning: options.fromBeginning,
        maxInFlight: options.maxInFlight,
        claimIdleMs: this.options.claimIdleMs,
        claimIntervalMs: this.options.claimIntervalMs,
        blockMs: this.options.blockMs,
        sink,
        onError: options.onError,
        onClosed: () => {
          reader.disconnect();
          release();
        },
      });
      await consumer.start();
      return consumer;
    } catch (error) {
      reader.disconnect();
      release();
      throw error;
    }
  }

  async createTopic(topic: string, _options: CreateTopicOptions): Promise<void> {
    const created = await this.connected().eval(CREATE_STREAM, 1, this.streamKey(topic), 'eventport-create');
    if (created === 0) throw new EventportError('ALREADY_EXISTS', `topic "${topic}" already exists`);
  }

  async deleteTopic(topic: string): Promise<void> {
    const deleted = await this.connected().eval(DELETE_STREAM, 1, this.streamKey(topic));
    if (deleted === 0) throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`);
  }

  /** SCAN with TYPE stream under the key prefix: never KEYS, which blocks the server. */
  async listTopics(): Promise<string[]> {
    const client = this.connected();
    const { keyPrefix } = this.options;
    const pattern = `${keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const topics = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = (await client.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'stream')) as [
        string,
        string[],
      ];
      cursor = next;
      for (const key of keys) topics.add(key.slice(keyPrefix.length));
    } while (cursor !== '0');
    return [...topics].sort();
  }

  classifyError(error: unknown): { code: ErrorCode; retryable: boolean } | undefined {
    return classifyRedisError(error);
  }

  native(): Redis | undefined {
    return this.client;
  }

  private streamKey(topic: string): string {
    return `${this.options.keyPrefix}${topic}`;
  }

  private connected(): Redis {
    if (!this.client) throw new EventportError('CLOSED', 'the redis-streams driver is not connected');
    return this.client;
  }
}

/**
 * ioredis reconnects on its own and emits "error" for every failed attempt: report the first error of
 * an outage and the recovery, not each retry.
 */
function reportOutages(redis: Redis, onOutage: (error: unknown) => void, onRestored: () => void): void {
  let inOutage = false;
  redis.on('error', (error: unknown) => {
    if (inOutage) return;
    inOutage = true;
    onOutage(error);
  });
  redis.on('ready', () => {
    if (!inOutage) return;
    inOutage = false;
    onRestored();
  });
}
