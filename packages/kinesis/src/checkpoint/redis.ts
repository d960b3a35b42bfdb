import { EventportError, redact } from '@eventport/core';
import type { Redis } from 'ioredis';
import { importPeer } from './peer.js';
import type { CheckpointScope, CheckpointStore } from './store.js';

export interface RedisCheckpointStoreOptions {
  /** redis:// or rediss:// URL; ignored when `client` is given. */
  url?: string;
  /** An ioredis client to use; the caller keeps ownership (close() does not quit it). */
  client?: Redis;
  /**
   * Prefix of the keys: per stream and group a hash `<prefix>:<stream>:<group>` (start, checkpoints,
   * leases) and a sorted set `<prefix>:<stream>:<group>:members`. Default "eventport:kinesis".
   */
  keyPrefix?: string;
}

// Lease expiry is compared with Redis's own clock (TIME), so members' clocks need not agree.
const TRY_LEASE = `
local owner = redis.call('HGET', KEYS[1], 'owner:' .. ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires:' .. ARGV[1]) or '0')
if owner and owner ~= ARGV[2] and expires > now then return 0 end
redis.call('HSET', KEYS[1], 'owner:' .. ARGV[1], ARGV[2], 'expires:' .. ARGV[1], tostring(now + tonumber(ARGV[3])))
return 1`;

const CHECKPOINT = `
if redis.call('HGET', KEYS[1], 'owner:' .. ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'checkpoint:' .. ARGV[1], ARGV[3])
return 1`;

const RELEASE = `
if redis.call('HGET', KEYS[1], 'owner:' .. ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'owner:' .. ARGV[1], 'expires:' .. ARGV[1])
end
return 1`;

const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])`;

/** Checkpoints and shard leases in Redis (ioredis): they survive consumer restarts and are shared by every member of a group. */
export class RedisCheckpointStore implements CheckpointStore {
  private readonly keyPrefix: string;
  private readonly ownsClient: boolean;
  private ready: Promise<Redis> | undefined;

  constructor(private readonly options: RedisCheckpointStoreOptions) {
    if (!options.client && !options.url) {
      throw new EventportError('INVALID_CONFIG', 'RedisCheckpointStore needs a url or a client');
    }
    this.keyPrefix = options.keyPrefix ?? 'eventport:kinesis';
    this.ownsClient = !options.client;
  }

  async startPosition(scope: CheckpointScope, position: string): Promise<string> {
    const redis = await this.redis();
    await redis.hsetnx(this.key(scope), 'start', position);
    return (await redis.hget(this.key(scope), 'start')) ?? position;
  }

  async checkpoints(scope: CheckpointScope): Promise<Record<string, string>> {
    const fields = await (await this.redis()).hgetall(this.key(scope));
    const result: Record<string, string> = {};
    for (const [field, value] of Object.entries(fields)) {
      if (field.startsWith('checkpoint:')) result[field.slice('checkpoint:'.length)] = value;
    }
    return result;
  }

  async tryLease(scope: CheckpointScope, shardId: string, owner: string, ttlMs: number): Promise<boolean> {
    const taken = await (await this.redis()).eval(TRY_LEASE, 1, this.key(scope), shardId, owner, String(ttlMs));
    return taken === 1;
  }

  async checkpoint(scope: CheckpointScope, shardId: string, owner: string, position: string): Promise<boolean> {
    const written = await (await this.redis()).eval(CHECKPOINT, 1, this.key(scope), shardId, owner, position);
    return written === 1;
  }

  async releaseLease(scope: CheckpointScope, shardId: string, owner: string): Promise<void> {
    await (await this.redis()).eval(RELEASE, 1, this.key(scope), shardId, owner);
  }

  async heartbeat(scope: CheckpointScope, owner: string, ttlMs: number): Promise<number> {
    return Number(await (await this.redis()).eval(HEARTBEAT, 1, this.membersKey(scope), owner, String(ttlMs)));
  }

  async leave(scope: CheckpointScope, owner: string): Promise<void> {
    await (await this.redis()).zrem(this.membersKey(scope), owner);
  }

  async forgetStream(stream: string): Promise<void> {
    const redis = await this.redis();
    const pattern = `${this.keyPrefix}:${escapeGlob(stream)}:*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    const client = await this.ready?.catch(() => undefined);
    this.ready = undefined;
    if (this.ownsClient && client) await client.quit().catch(() => client.disconnect());
  }

  private key(scope: CheckpointScope): string {
    // Neither stream names nor group names can contain ":", so keys cannot collide.
    return `${this.keyPrefix}:${scope.stream}:${scope.group}`;
  }

  private membersKey(scope: CheckpointScope): string {
    return `${this.key(scope)}:members`;
  }

  private redis(): Promise<Redis> {
    this.ready ??= this.open().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async open(): Promise<Redis> {
    if (this.options.client) return this.options.client;
    const { Redis: IORedis } = await importPeer<typeof import('ioredis')>('ioredis');
    const url = this.options.url as string;
    const client = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    client.on('error', () => undefined); // reported through the failing commands instead
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw new EventportError('CONNECTION', `cannot connect to the Redis checkpoint store at ${redact(url)}`, {
        cause: error,
      });
    }
    return client;
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
