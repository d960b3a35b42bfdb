import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EventportError } from '@eventport/core';
import type { RedisOptions } from 'ioredis';

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

/** Applies defaults and validates everything before any connection opens. */
export function resolveOptions(options: RedisStreamsOptions): ResolvedOptions {
  const url = options.url ?? DEFAULT_URL;
  checkUrl(url);
  const claimIdleMs = positiveInteger('claimIdleMs', options.claimIdleMs, 30_000);
  const keyPrefix = options.keyPrefix ?? 'eventport:';
  if (typeof keyPrefix !== 'string') invalid('keyPrefix must be a string');
  const consumerName = options.consumerName ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  if (typeof consumerName !== 'string' || !/^[^\s]{1,200}$/.test(consumerName)) {
    invalid('consumerName must be 1 to 200 characters without whitespace');
  }
  if (options.redis?.keyPrefix !== undefined) {
    // ioredis would prefix commands but not SCAN patterns, so listTopics would go blind.
    invalid('use the keyPrefix option rather than redis.keyPrefix');
  }
  return {
    url,
    keyPrefix,
    maxLength: options.maxLength === undefined ? undefined : positiveInteger('maxLength', options.maxLength),
    claimIdleMs,
    claimIntervalMs: positiveInteger(
      'claimIntervalMs',
      options.claimIntervalMs,
      Math.max(1, Math.min(Math.floor(claimIdleMs / 2), 5_000)),
    ),
    blockMs: positiveInteger('blockMs', options.blockMs, 2_000),
    consumerName,
    redis: options.redis ?? {},
  };
}

/** The URL without credentials, for messages. */
export function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

function checkUrl(url: unknown): void {
  let protocol: string | undefined;
  try {
    protocol = typeof url === 'string' ? new URL(url).protocol : undefined;
  } catch {
    protocol = undefined;
  }
  // The value itself stays out of the message: it may carry a password.
  if (protocol !== 'redis:' && protocol !== 'rediss:') invalid('url must be a URL starting with redis:// or rediss://');
}

function positiveInteger(name: string, value: unknown, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1) {
    invalid(`${name} must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return number;
}

function invalid(detail: string): never {
  throw new EventportError('INVALID_CONFIG', `invalid redis-streams configuration: ${detail}`);
}
