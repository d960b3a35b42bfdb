import { EventportError, redact } from '@eventport/core';
import { type CheckpointScope, importPeer, LeaseTable, type Row } from './store.js';

/**
 * The part of an ioredis client this store calls. Any ioredis client fits it, and because ioredis is an
 * optional peer, the declarations name this shape instead of ioredis's types: an app without it type-checks.
 */
export interface RedisClientLike {
  hsetnx(key: string, field: string, value: string): Promise<unknown>;
  hget(key: string, field: string): Promise<string | null>;
  hdel(key: string, ...fields: string[]): Promise<unknown>;
  del(...keys: string[]): Promise<unknown>;
  eval(script: string, keyCount: number, ...args: string[]): Promise<unknown>;
  scanStream(options: { match: string; count: number }): AsyncIterable<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export interface RedisCheckpointStoreOptions {
  /** redis:// or rediss:// URL; ignored when `client` is given. */
  url?: string;
  /** An ioredis client to use; the caller keeps ownership (close() does not quit it). */
  client?: RedisClientLike;
  /** Per stream and group one hash `<prefix>:<stream>:<group>`. Default "eventport:kinesis". */
  keyPrefix?: string;
}

// Fields "start", and per row "checkpoint:<name>", "owner:<name>", "expires:<name>" (ms on Redis's clock, TIME).
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const LEASE = `${NOW}
local owner = redis.call('HGET', KEYS[1], 'owner:' .. ARGV[1])
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires:' .. ARGV[1]) or '0')
if owner and owner ~= ARGV[2] and expires > now then return 0 end
redis.call('HSET', KEYS[1], 'owner:' .. ARGV[1], ARGV[2], 'expires:' .. ARGV[1], tostring(now + tonumber(ARGV[3])))
return 1`;
const IF_OWNER = `if redis.call('HGET', KEYS[1], 'owner:' .. ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] then redis.call('HSET', KEYS[1], 'checkpoint:' .. ARGV[1], ARGV[3])
else redis.call('HDEL', KEYS[1], 'owner:' .. ARGV[1], 'expires:' .. ARGV[1]) end
return 1`;
const ROWS = `${NOW} return {tostring(now), redis.call('HGETALL', KEYS[1])}`;

/** Checkpoints and shard leases in Redis (ioredis): shared by every member of a group, in any process. */
export class RedisCheckpointStore extends LeaseTable {
  private readonly keyPrefix: string;
  private ready: Promise<RedisClientLike> | undefined;

  constructor(private readonly options: RedisCheckpointStoreOptions) {
    super();
    if (!options.client && !options.url) throw new EventportError('INVALID_CONFIG', 'RedisCheckpointStore needs a url');
    this.keyPrefix = options.keyPrefix ?? 'eventport:kinesis';
  }

  async startPosition(scope: CheckpointScope, position: string): Promise<string> {
    const redis = await this.redis();
    await redis.hsetnx(this.key(scope), 'start', position);
    return (await redis.hget(this.key(scope), 'start')) ?? position;
  }

  async tryLease(scope: CheckpointScope, name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await (await this.redis()).eval(LEASE, 1, this.key(scope), name, owner, String(ttlMs))) === 1;
  }

  protected async ifOwner(scope: CheckpointScope, name: string, owner: string, value?: string): Promise<boolean> {
    const args = value === undefined ? [name, owner] : [name, owner, value];
    return (await (await this.redis()).eval(IF_OWNER, 1, this.key(scope), ...args)) === 1;
  }

  protected async rows(scope: CheckpointScope): Promise<Row[]> {
    const [now, flat] = (await (await this.redis()).eval(ROWS, 1, this.key(scope))) as [string, string[]];
    const fields = new Map<string, string>();
    for (let index = 0; index < flat.length; index += 2) fields.set(flat[index] as string, flat[index + 1] as string);
    const names = new Set(
      [...fields.keys()].filter((field) => field !== 'start').map((field) => field.split(/:(.*)/s)[1]),
    );
    return [...names].map((name = '') => ({
      name,
      value: fields.get(`checkpoint:${name}`),
      live: fields.has(`owner:${name}`) && Number(fields.get(`expires:${name}`)) > Number(now),
    }));
  }

  protected async remove(scope: CheckpointScope, names: string[]): Promise<void> {
    const fields = names.flatMap((name) => [`checkpoint:${name}`, `owner:${name}`, `expires:${name}`]);
    await (await this.redis()).hdel(this.key(scope), ...fields);
  }

  async groups(stream: string): Promise<string[]> {
    const prefix = this.key({ stream, group: '' });
    return [...new Set(await this.keys(stream))].map((key) => key.slice(prefix.length)).sort();
  }

  async forgetStream(stream: string): Promise<void> {
    const keys = await this.keys(stream);
    if (keys.length > 0) await (await this.redis()).del(...keys);
  }

  async close(): Promise<void> {
    const client = await this.ready?.catch(() => undefined);
    this.ready = undefined;
    if (client && !this.options.client) await client.quit().catch(() => client.disconnect());
  }

  /** Stream names and groups cannot contain ":" or glob characters, so keys cannot collide. */
  private key(scope: CheckpointScope): string {
    return `${this.keyPrefix}:${scope.stream}:${scope.group}`;
  }

  /** The hashes of every group of the stream (SCAN may name one twice). */
  private async keys(stream: string): Promise<string[]> {
    const keys: string[] = [];
    const scan = (await this.redis()).scanStream({ match: `${this.key({ stream, group: '' })}*`, count: 500 });
    for await (const page of scan) keys.push(...(page as string[]));
    return keys;
  }

  private redis(): Promise<RedisClientLike> {
    this.ready ??= this.open().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async open(): Promise<RedisClientLike> {
    if (this.options.client) return this.options.client;
    const { Redis: IORedis } = await importPeer<typeof import('ioredis')>('ioredis');
    const url = this.options.url as string;
    // Bounded: a Redis that does not answer fails commands within seconds instead of queueing them.
    const options = { lazyConnect: true, connectTimeout: 5_000, commandTimeout: 5_000, maxRetriesPerRequest: 1 };
    const client = new IORedis(url, options);
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
