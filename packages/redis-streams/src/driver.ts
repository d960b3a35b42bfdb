import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  abortable,
  type Capabilities,
  type Driver,
  describeError,
  EventportError,
  type Logger,
  type OutgoingRecord,
  type ReceiverOptions,
  SENT,
  type SendResult,
} from '@eventport/core';
import Redis from 'ioredis';
import { entryFields, parseCursorReply, parsePending } from './entries.js';
import { classifyRedisError } from './errors.js';
import type { RedisStreamsConfig } from './options.js';
import { BLOCK_MS, type GroupState, RedisStreamsReceiver, readGroups } from './receiver.js';

export const REDIS_STREAMS_CAPABILITIES: Capabilities = {
  // Redis hands a group's entries to whichever member reads first: two members can hold one key at once.
  orderingKeys: false,
  consumerGroups: true,
  replayFromStart: true,
  persistent: true,
  topicAdmin: true,
  nativeDeadLetter: false,
  ephemeralGroups: true,
  deliveryCount: true,
  // Redis accepts 512 MB strings, but every stream entry lives in server memory.
  maxPayloadBytes: 64 * 1024 * 1024,
};

/** Bounds the TCP connect and every command: a server that accepts and never answers fails the call, never hangs it. */
const TIMEOUT_MS = 5_000;

/** An empty stream, created atomically (0: the key exists); and a delete of the key only if it is a stream. */
const CREATE_STREAM = `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('XGROUP', 'CREATE', KEYS[1], 'eventport-create', '$', 'MKSTREAM')
return redis.call('XGROUP', 'DESTROY', KEYS[1], 'eventport-create')`;
const DELETE_STREAM = `if redis.call('TYPE', KEYS[1]).ok ~= 'stream' then return 0 end return redis.call('DEL', KEYS[1])`;

export class RedisStreamsDriver implements Driver {
  readonly backend = 'redis-streams';
  /** One MULTI/EXEC round trip. */
  readonly batchedSend = true;
  readonly capabilities = REDIS_STREAMS_CAPABILITIES;
  readonly classify = classifyRedisError;
  private readonly consumerName: string;
  private client: Redis | undefined;
  private readonly groups = new Map<string, GroupState>();

  /** Settings validated by `backendDriver(backend, options)`. */
  constructor(
    private readonly config: RedisStreamsConfig,
    private readonly logger: Logger,
  ) {
    this.consumerName = this.config.consumerName ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  async connect(signal: AbortSignal): Promise<void> {
    // No offline queue, nothing resent after a reconnect: during an outage a command fails at once
    // (retryably) instead of waiting, and a command given up on is never written later.
    const client = new Redis(this.config.url, {
      connectTimeout: TIMEOUT_MS,
      commandTimeout: TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // After a failover the old primary answers READONLY: reconnect, to the new primary.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
      ...this.config.redis,
      lazyConnect: true,
      enableAutoPipelining: false, // it drops the command name of call()/callBuffer()
    });
    this.client = client;
    let failure: unknown;
    client.on('error', (error: unknown) => {
      failure = error;
      this.logger.debug('redis connection error; ioredis reconnects', { error: describeError(error) });
    });
    try {
      await abortable(client.connect(), signal);
    } catch (error) {
      client.disconnect();
      // The rejection only says "Connection is closed."; the error event said why.
      const cause = failure ?? error;
      const { code } = this.classify(cause);
      const { protocol, host } = new URL(this.config.url);
      throw new EventportError(
        code === 'INTERNAL' ? 'CONNECTION' : code,
        `cannot connect to Redis at ${protocol}//${host}: ${describeError(cause)}`,
        { cause },
      );
    }
  }

  async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client?.status === 'ready') await client.quit().catch(() => client.disconnect());
    else client?.disconnect();
  }

  async ping(): Promise<void> {
    await this.connected().ping();
  }

  async send(topic: string, records: readonly OutgoingRecord[]): Promise<SendResult[]> {
    const client = this.connected();
    const { maxLength } = this.config;
    const trim = maxLength === undefined ? [] : ['MAXLEN', '~', maxLength];
    const args = (record: OutgoingRecord) => [this.streamKey(topic), ...trim, '*', ...entryFields(record)];
    if (records.length === 1) {
      await client.call('XADD', ...args(records[0] as OutgoingRecord));
      return [SENT];
    }
    // One MULTI/EXEC round trip. Redis runs every XADD in it, so each record has its own result.
    const transaction = client.multi();
    for (const record of records) transaction.call('XADD', ...args(record));
    const results = await transaction.exec();
    if (!results) throw new EventportError('INTERNAL', `the transaction publishing to "${topic}" was discarded`);
    return results.map(([error]) => (error ? { ok: false, error } : SENT));
  }

  async openReceiver(topic: string, options: ReceiverOptions, signal: AbortSignal): Promise<RedisStreamsReceiver> {
    const client = this.connected();
    const stream = this.streamKey(topic);
    const { group } = options;
    const key = `${stream}\n${group}`;
    const state = this.groups.get(key) ?? { unacked: new Set(), members: new Set() };
    this.groups.set(key, state);
    // Counted before the group is created: a sibling closing meanwhile must not destroy an ephemeral group under it.
    let index = 0;
    while (state.members.has(index)) index++;
    state.members.add(index);
    const release = () => {
      state.members.delete(index);
      // Where an ephemeral group stopped is forgotten with it: opened again, it starts afresh.
      if (options.ephemeral && state.members.size === 0) this.groups.delete(key);
    };
    const consumer = `${this.consumerName}-${index}`;
    const reader = client.duplicate({ commandTimeout: (client.options.commandTimeout ?? TIMEOUT_MS) + BLOCK_MS });
    reader.on('error', () => undefined); // a failed read fails receive(), which core reports
    try {
      // A group read from before that vanished (stream deleted, Redis restarted without its data) is
      // recreated where this process last read, so nothing published in between is skipped.
      const start = state.lastId ?? (options.fromBeginning ? '0' : '$');
      await client.xgroup('CREATE', stream, group, start, 'MKSTREAM').catch((error: Error) => {
        if (!error.message.startsWith('BUSYGROUP')) throw error;
      });
      await abortable(reader.connect(), signal);
      // What this consumer name still owns (a restart with a stable consumerName, a replaced receiver of
      // this process) is delivered first, except entries already handled whose XACK failed.
      const own = parsePending(await client.xpending(stream, group, '-', '+', 10_000, consumer));
      const pending = own.map(([id]) => id).filter((id) => !state.unacked.has(id));
      const { claimIdleMs, claimIntervalMs = Math.max(1, Math.min(claimIdleMs / 2, 5_000)) } = this.config;
      const ephemeral = options.ephemeral ?? false;
      const member = { client, reader, stream, group, consumer, state, claimIdleMs, claimIntervalMs, ephemeral };
      return new RedisStreamsReceiver(member, pending, release);
    } catch (error) {
      reader.disconnect();
      release();
      throw error;
    }
  }

  async createTopic(topic: string): Promise<void> {
    const created = await this.connected().eval(CREATE_STREAM, 1, this.streamKey(topic));
    if (created === 0) throw new EventportError('ALREADY_EXISTS', `topic "${topic}" already exists`);
  }

  async deleteTopic(topic: string): Promise<void> {
    const deleted = await this.connected().eval(DELETE_STREAM, 1, this.streamKey(topic));
    if (deleted === 0) throw new EventportError('NOT_FOUND', `topic "${topic}" does not exist`);
  }

  /** SCAN with TYPE stream under the key prefix: never KEYS, which blocks the server. */
  async listTopics(signal: AbortSignal): Promise<string[]> {
    const { keyPrefix } = this.config;
    const pattern = `${keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const topics = new Set<string>();
    let cursor = '0';
    do {
      const reply = await this.connected().call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'stream');
      const scanned = parseCursorReply(reply, 'SCAN');
      cursor = scanned.cursor;
      for (const key of scanned.items) topics.add(key.slice(keyPrefix.length));
    } while (cursor !== '0' && !signal.aborted);
    return [...topics].sort();
  }

  async listGroups(topic: string): Promise<string[]> {
    return (await readGroups(this.connected(), this.streamKey(topic))).map(({ name }) => name).sort();
  }

  native(): Redis | undefined {
    return this.client;
  }

  private streamKey(topic: string): string {
    return `${this.config.keyPrefix}${topic}`;
  }

  private connected(): Redis {
    if (!this.client) throw new EventportError('CLOSED', 'the redis-streams driver is not connected');
    return this.client;
  }
}
