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
import { sdkHeaders, type WireMode } from './headers.js';

type IoRedis = typeof import('ioredis');

/** Same key layout as @eventport/redis-streams: stream `eventport:<topic>`, one consumer group per group. */
const KEY_PREFIX = 'eventport:';
const BLOCK_MS = 2_000;

/**
 * ioredis doing what the adapter does: XADD (MULTI/EXEC of XADDs for a batch), XREADGROUP with
 * COUNT = concurrency on a dedicated connection, handlers run concurrently, one XACK per message
 * when its handler resolved. With the SDK's headers, an entry is `headers <JSON> body <bytes>` as the
 * adapter writes it (packages/redis-streams/src/entries.ts), and the consumer parses the headers back.
 */
export class RawRedisStreams implements BenchTarget {
  private constructor(
    private readonly lib: IoRedis,
    private readonly url: string,
    private readonly redis: RedisClient,
    private readonly mode: WireMode,
  ) {}

  static async create(url: string, mode: WireMode): Promise<RawRedisStreams> {
    const lib = require('ioredis') as IoRedis;
    // ioredis defaults, like the adapter's client (no auto-pipelining: each command is its own write).
    const redis = new lib.Redis(url, { lazyConnect: true });
    await redis.connect();
    return new RawRedisStreams(lib, url, redis, mode);
  }

  async prepare(topic: string, group: string): Promise<void> {
    await this.createGroup(topic, group);
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.redis.xadd(KEY_PREFIX + topic, '*', ...this.fields(topic, payload));
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    // MULTI/EXEC like the adapter: the batch lands whole or not at all.
    const transaction = this.redis.multi();
    for (const payload of payloads) transaction.xadd(KEY_PREFIX + topic, '*', ...this.fields(topic, payload));
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
        const entries = readEntries(reply);
        await Promise.all(
          entries.map(async ([id, fields]) => {
            if (this.mode === 'sdk-headers') JSON.parse(fieldValue(fields, 'headers')?.toString() ?? '{}');
            await handle(onMessage, decodePayload(fieldValue(fields, 'body') as Buffer));
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

  private fields(topic: string, payload: Payload): Array<string | Buffer> {
    const body = encodePayload(payload);
    return this.mode === 'sdk-headers'
      ? ['headers', JSON.stringify(sdkHeaders(topic).headers), 'body', body]
      : ['body', body];
  }

  private async createGroup(topic: string, group: string): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', KEY_PREFIX + topic, group, '$', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }
}

/** The value of `name` in an entry's `[field, value, ...]` list. */
function fieldValue(fields: Buffer[], name: string): Buffer | undefined {
  for (let index = 0; index < fields.length; index += 2) {
    if ((fields[index] as Buffer).toString() === name) return fields[index + 1];
  }
  return undefined;
}

type Entry = [id: Buffer, fields: Buffer[]];

/**
 * XREADGROUP's entries for one stream: null (nothing within BLOCK), `[[stream, entries]]` (RESP2) or
 * the RESP3 map flattened to `[stream, entries]` (ioredis 6 callBuffer).
 */
function readEntries(reply: unknown): Entry[] {
  if (!Array.isArray(reply)) return [];
  const [first] = reply as unknown[];
  if (Buffer.isBuffer(first)) return (reply[1] as Entry[] | undefined) ?? [];
  return (first as [Buffer, Entry[]] | undefined)?.[1] ?? [];
}
