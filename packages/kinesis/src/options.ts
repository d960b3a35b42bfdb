import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { EventportError, type KinesisConfig } from '@eventport/core';
import type { CheckpointStoreOption } from './checkpoint/resolve.js';

/** The env var naming the checkpoint store when no `checkpointStore` option is given (redis://, postgres://...). */
export const CHECKPOINT_URL_ENV = 'KINESIS_CHECKPOINT_URL';

export interface KinesisOptions extends Partial<KinesisConfig> {
  /** Use this client (e.g. one with your own middleware) instead of building one; you keep ownership. */
  client?: KinesisClient;
  /** Publishing to or subscribing to a missing stream creates it (waiting for ACTIVE). Default true. */
  autoCreateStreams?: boolean;
  /** Shards of auto-created streams and of createTopic() without `partitions`. Default 1. */
  shardCount?: number;
  /**
   * Where consumer groups keep checkpoints and shard leases: a CheckpointStore, a config object
   * ({ type: 'redis', url } / { type: 'postgres', url } / { type: 'memory' }) or a URL. Default: the
   * KINESIS_CHECKPOINT_URL env var, else this process's memory (lost on restart).
   */
  checkpointStore?: CheckpointStoreOption;
  /** A shard lease not renewed for this long is taken over by another member of the group. Default 10 s. */
  leaseTtlMs?: number;
  /** How often a member re-lists shards (to find children after resharding). Default 10 s. */
  shardSyncIntervalMs?: number;
  /** Wait between GetRecords calls of a shard that is caught up (MillisBehindLatest 0, nothing new). Default 500 ms. */
  idlePollIntervalMs?: number;
  /** Wait between GetRecords calls of a shard that is behind; Kinesis allows 5 calls/s per shard. Default 200 ms. */
  busyPollIntervalMs?: number;
  /** Records per GetRecords call (1..10,000). Default 1,000. */
  getRecordsLimit?: number;
  /** Attempts for each record of a PutRecords call that Kinesis rejects (throttling, internal failure). Default 10. */
  putAttempts?: number;
  /** How long createTopic / auto-creation / deleteTopic wait for the stream to become ACTIVE or gone. Default 120 s. */
  streamReadyTimeoutMs?: number;
  /**
   * A new group that does not start from the beginning starts at the subscribe time minus this much
   * (Kinesis AT_TIMESTAMP), so clock skew between this host and Kinesis cannot skip records. Default 1 s.
   */
  startSkewMs?: number;
}

export interface ResolvedKinesisOptions {
  region: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  client?: KinesisClient;
  autoCreateStreams: boolean;
  shardCount: number;
  checkpointStore?: CheckpointStoreOption;
  leaseTtlMs: number;
  shardSyncIntervalMs: number;
  idlePollIntervalMs: number;
  busyPollIntervalMs: number;
  getRecordsLimit: number;
  putAttempts: number;
  streamReadyTimeoutMs: number;
  startSkewMs: number;
}

/** Applies defaults and validates, before anything connects. */
export function resolveKinesisOptions(
  options: KinesisOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedKinesisOptions {
  if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
    throw new EventportError(
      'INVALID_CONFIG',
      'set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (then the default AWS credential chain is used)',
    );
  }
  const resolved: ResolvedKinesisOptions = {
    region: options.region ?? env.AWS_REGION ?? 'us-east-1',
    autoCreateStreams: flag('autoCreateStreams', options.autoCreateStreams, true),
    shardCount: integer('shardCount', options.shardCount, 1, 1, 10_000),
    checkpointStore: options.checkpointStore ?? (env[CHECKPOINT_URL_ENV] || undefined),
    leaseTtlMs: integer('leaseTtlMs', options.leaseTtlMs, 10_000, 1_000, 3_600_000),
    shardSyncIntervalMs: integer('shardSyncIntervalMs', options.shardSyncIntervalMs, 10_000, 100, 3_600_000),
    idlePollIntervalMs: integer('idlePollIntervalMs', options.idlePollIntervalMs, 500, 0, 60_000),
    busyPollIntervalMs: integer('busyPollIntervalMs', options.busyPollIntervalMs, 200, 0, 60_000),
    getRecordsLimit: integer('getRecordsLimit', options.getRecordsLimit, 1_000, 1, 10_000),
    putAttempts: integer('putAttempts', options.putAttempts, 10, 1, 100),
    streamReadyTimeoutMs: integer('streamReadyTimeoutMs', options.streamReadyTimeoutMs, 120_000, 1_000, 3_600_000),
    startSkewMs: integer('startSkewMs', options.startSkewMs, 1_000, 0, 3_600_000),
  };
  // The AWS SDK reads these itself; knowing the endpoint here selects the HTTP/1.1 handler for it.
  const endpoint = options.endpoint ?? (env.AWS_ENDPOINT_URL_KINESIS || env.AWS_ENDPOINT_URL || undefined);
  if (endpoint !== undefined) resolved.endpoint = endpoint;
  if (options.accessKeyId !== undefined) resolved.accessKeyId = options.accessKeyId;
  if (options.secretAccessKey !== undefined) resolved.secretAccessKey = options.secretAccessKey;
  if (options.client !== undefined) resolved.client = options.client;
  return resolved;
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new EventportError(
      'INVALID_CONFIG',
      `kinesis option "${name}" must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`,
    );
  }
  return parsed;
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new EventportError(
    'INVALID_CONFIG',
    `kinesis option "${name}" must be true or false (got ${JSON.stringify(value)})`,
  );
}
