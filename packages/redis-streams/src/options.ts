import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { numericOption, parseOptions } from '@eventport/core';
import type { RedisOptions } from 'ioredis';
import { z } from 'zod';

export interface RedisStreamsOptions {
  /** redis:// or rediss:// (TLS), with optional ACL user:password and /db. Default redis://localhost:6379. */
  url?: string;
  /** Prepended to every topic to form the stream key; listTopics only sees keys under it. Default "eventport:". */
  keyPrefix?: string;
  /** Approximate cap on entries per stream (XADD MAXLEN ~). Unset: streams grow until you trim them. */
  maxLength?: number;
  /**
   * How long the entries of a consumer that stopped responding (crashed, killed, frozen) wait before
   * another member of the group takes them over (XAUTOCLAIM). Live consumers refresh what they hold
   * every claimIdleMs / 3, so slow handlers are not taken away. Default 30,000 ms.
   */
  claimIdleMs?: number;
  /** How often each subscription looks for entries to take over. Default min(claimIdleMs / 2, 5,000) ms. */
  claimIntervalMs?: number;
  /** XREADGROUP BLOCK timeout; bounds how long closing waits for the reader where CLIENT UNBLOCK is not allowed. Default 2,000 ms. */
  blockMs?: number;
  /**
   * Stable consumer name (e.g. the pod name): a restarted process then takes back its own pending
   * entries at once instead of after claimIdleMs. Default: host-pid-random, unique per adapter.
   */
  consumerName?: string;
  /** Extra ioredis options (TLS certificates, timeouts...); the URL's settings still apply. */
  redis?: RedisOptions;
}

export interface ResolvedOptions {
  url: string;
  keyPrefix: string;
  maxLength: number | undefined;
  claimIdleMs: number;
  claimIntervalMs: number;
  blockMs: number;
  consumerName: string;
  redis: RedisOptions;
}

export const DEFAULT_URL = 'redis://localhost:6379';

/** Like the hand-written check it replaces, also accepts numeric strings ("30000"), e.g. from untyped config. */
const positiveInteger = numericOption(z.number().int().positive());

const RedisStreamsOptionsSchema = z
  .object({
    // The value itself stays out of the message: it may carry a password.
    url: z.string().default(DEFAULT_URL).refine(isRedisUrl, 'must be a URL starting with redis:// or rediss://'),
    keyPrefix: z.string().default('eventport:'),
    maxLength: positiveInteger.optional(),
    claimIdleMs: positiveInteger.default(30_000),
    claimIntervalMs: positiveInteger.optional(),
    blockMs: positiveInteger.default(2_000),
    consumerName: z
      .string()
      .regex(/^[^\s]{1,200}$/, 'must be 1 to 200 characters without whitespace')
      .prefault(() => `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`),
    redis: z
      .custom<RedisOptions>()
      // ioredis would prefix commands but not SCAN patterns, so listTopics would go blind.
      .refine((redis) => (redis as { keyPrefix?: unknown } | undefined)?.keyPrefix === undefined, {
        path: ['keyPrefix'],
        message: 'use the keyPrefix option rather than redis.keyPrefix',
      })
      .default({}),
  })
  .transform(
    ({ maxLength, claimIntervalMs, ...options }): ResolvedOptions => ({
      ...options,
      maxLength,
      claimIntervalMs: claimIntervalMs ?? Math.max(1, Math.min(Math.floor(options.claimIdleMs / 2), 5_000)),
    }),
  );

/** Applies defaults and validates everything before any connection opens. */
export function resolveOptions(options: RedisStreamsOptions): ResolvedOptions {
  return parseOptions(RedisStreamsOptionsSchema, options, 'redis-streams');
}

/** The URL without credentials, for messages. */
export function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

function isRedisUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'redis:' || protocol === 'rediss:';
  } catch {
    return false;
  }
}
