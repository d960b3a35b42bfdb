import type { Redis as RedisClient } from 'ioredis';
import {
  type BenchTarget,
  type Consumer,
  decodePayload,
  encodePayload,
  handle,
  type OnMessage,
  type Payload,
} from '../target.js';

type IoRedis = typeof import('ioredis');

/** Same key layout as @eventport/redis-streams: stream `eventport:<topic>`, one consumer group per group. */
const KEY_PREFIX = 'eventport:';
const BLOCK_MS = 2_000;

/**
 * ioredis doing what the adapter does: XADD (MULTI/EXEC of XADDs for a batch), XREADGROUP with
 * COUNT = concurrency on a dedicated connection, handlers run concurrently, one XACK per message
 * when its handler resolved.
 */
export class RawRedisStreams implements BenchTarget {
  readonly kind = 'raw';

  private constructor(
    private readonly lib: IoRedis,
    private readonly url: string,
    private readonly redis: RedisClient,
  ) {}

  static async create(url: string): Promise<RawRedisStreams> {
    const lib = require('ioredis') as IoRedis;
    // ioredis defaults, like the adapter's client (no auto-pipelining: each command is its own write).
    const redis = new lib.Redis(url, { lazyConnect: true });
    await redis.connect();
    return new RawRedisStreams(lib, url, redis);
  }

  async prepare(topic: string, group: string): Promise<void> {
    await this.createGroup(topic, group);
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.redis.xadd(KEY_PREFIX + topic, '*', 'body', encodePayload(payload));
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    // MULTI/EXEC like the adapter: the batch lands whole or not at all.
    const transaction = this.redis.multi();
    for (const payload of payloads) transaction.xadd(KEY_PREFIX + topic, '*', 'body', encodePayload(payload));
    const results = await transaction.exec();
    for (const [error] of results ?? []) if (error) throw error;
  }

  async subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    await this.createGroup(topic, group);
    const key = KEY_PREFIX + topic;
    const reader = new this.lib.Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: null });
    await reader.connect();
    const consumer = `bench-${process.pid}`;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        let reply: unknown;
        try {
          reply = await reader.callBuffer(
            'XREADGROUP',
            'GROUP',
            group,
            consumer,
            'COUNT',
            concurrency,
            'BLOCK',
            BLOCK_MS,
            'STREAMS',
            key,
            '>',
          );
        } catch (error) {
          if (stopped) return;
          throw error;
        }
        const streams = reply as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
        const entries = streams?.[0]?.[1] ?? [];
        await Promise.all(
          entries.map(async ([id, fields]) => {
            const bodyIndex = fields.findIndex((field, index) => index % 2 === 0 && field.toString() === 'body');
            await handle(onMessage, decodePayload(fields[bodyIndex + 1] as Buffer));
            await this.redis.xack(key, group, id);
          }),
        );
      }
    })();
    return {
      close: async () => {
        stopped = true;
        reader.disconnect();
        await loop.catch(() => undefined);
      },
    };
  }

  async cleanup(topic: string): Promise<void> {
    await this.redis.del(KEY_PREFIX + topic);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }

  private async createGroup(topic: string, group: string): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', KEY_PREFIX + topic, group, '$', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }
}
