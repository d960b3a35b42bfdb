import { EventportError, parseOptions } from '@eventport/core';
import { z } from 'zod';
import type { InboxEntry, InboxOutcome, InboxStore } from './store.js';

/** The two commands the store sends; an ioredis 5 or 6 client (or Cluster) has them. */
export interface RedisInboxClient {
  exists(...keys: string[]): Promise<number>;
  set(key: string, value: string, millisecondsToken: 'PX', milliseconds: number, nx: 'NX'): Promise<'OK' | null>;
}

export interface RedisInboxOptions {
  /** Your ioredis client; the store never connects or quits it. */
  client: RedisInboxClient;
  /**
   * How long a mark lives (SET ... PX): the retention. Must exceed the longest time a copy of a
   * message can still reach the group (see the README's per-backend rule).
   */
  ttlMs: number;
  /** Keys are `<prefix>:<group, URI-encoded>:<key>`. Default "eventport:inbox". */
  keyPrefix?: string;
}

const RedisInboxOptionsSchema = z.strictObject({
  client: z.custom<RedisInboxClient>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      typeof (value as RedisInboxClient).exists === 'function' &&
      typeof (value as RedisInboxClient).set === 'function',
    'must be an ioredis client',
  ),
  ttlMs: z.number({ error: 'is required (the retention of a mark)' }).int().positive(),
  keyPrefix: z.string().min(1).default('eventport:inbox'),
});

/**
 * A dedupe mark per (group, key) in Redis, for effects that are idempotent themselves or live outside
 * any database you could share a transaction with (an email, an HTTP call, a payment API):
 *
 *   EXISTS mark          present: a duplicate, acked without running the handler
 *   the handler runs     (no transaction: the handler receives nothing to write through)
 *   SET mark NX PX ttl   only after the handler resolved; a failing handler leaves no mark
 *
 * What it guarantees: a message whose handler resolved and whose mark was written is not handled
 * again by that group while the mark lives. What it does not: a crash (or a failed SET) between the
 * handler's end and the SET, or two deliveries of one message running at the same time (competing
 * consumers after a redelivery: both pass EXISTS before either marks), run the effect again, and the
 * second case is reported as "raced"; a mark lost with Redis (restart without persistence, failover
 * before replication, eviction under maxmemory with an allkeys-* policy) or expired (ttlMs) before a
 * late copy arrives lets that copy through. It narrows duplicates to those windows; it cannot make a
 * non-idempotent effect exactly-once. Use the PostgreSQL store for that.
 */
export class RedisInboxStore implements InboxStore<undefined> {
  readonly kind = 'redis';
  private readonly client: RedisInboxClient;
  private readonly ttlMs: number;
  private readonly keyPrefix: string;

  constructor(options: RedisInboxOptions) {
    const { ttlMs, keyPrefix } = parseOptions(RedisInboxOptionsSchema, options, 'redis inbox', 'INVALID_ARGUMENT');
    this.client = options.client;
    this.ttlMs = ttlMs;
    this.keyPrefix = keyPrefix;
  }

  /** The Redis key of a mark. */
  markKey(group: string, key: string): string {
    return `${this.keyPrefix}:${encodeURIComponent(group)}:${key}`;
  }

  async process(entry: InboxEntry, effect: (tx: undefined) => Promise<void>): Promise<InboxOutcome> {
    const mark = this.markKey(entry.group, entry.key);
    if ((await this.command('EXISTS', () => this.client.exists(mark))) > 0) return 'duplicate';
    await effect(undefined);
    const set = await this.command('SET', () => this.client.set(mark, String(Date.now()), 'PX', this.ttlMs, 'NX'));
    return set === null ? 'raced' : 'handled';
  }

  private async command<R>(name: string, run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (error) {
      // Retryable: the delivery is nacked and comes back once Redis answers again.
      throw new EventportError('CONNECTION', `redis inbox ${name} failed: ${(error as Error)?.message ?? error}`, {
        cause: error,
      });
    }
  }
}
