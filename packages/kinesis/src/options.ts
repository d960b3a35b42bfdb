import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { BACKEND_CONFIG, type KinesisConfig, loadBackendConfig, numericOption, parseOptions } from '@eventport/core';
import { z } from 'zod';
import type { CheckpointStoreOption } from './checkpoint/resolve.js';

/** The env var naming the checkpoint store when no `checkpointStore` option is given (redis://, postgres://...). */
export const CHECKPOINT_URL_ENV = BACKEND_CONFIG.kinesis.env.checkpointStore;

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
  sessionToken?: string;
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

/** An integer from `min` to `max`; like the hand-written check it replaces, also accepts numeric strings ("500"). */
const integer = (min: number, max: number) => numericOption(z.number().int().min(min).max(max));

/** true or false, also as the strings "true" and "false". */
const flag = z.preprocess((value) => (value === 'true' ? true : value === 'false' ? false : value), z.boolean());

/**
 * Everything but region and endpoint, which loadBackendConfig resolves (AWS_REGION, AWS_ENDPOINT_URL) and
 * checks; checkpointStore comes in from it too (KINESIS_CHECKPOINT_URL).
 */
const KinesisOptionsSchema = z
  .object({
    // Only explicit credentials: without them the AWS SDK's default chain reads AWS_ACCESS_KEY_ID,
    // AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN itself (createAdapter passes all three explicitly).
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
    sessionToken: z.string().optional(),
    client: z.custom<KinesisClient>().optional(),
    // A URL, a config object or a store instance: resolveCheckpointStore checks it when it builds the store.
    checkpointStore: z.custom<CheckpointStoreOption>().optional(),
    autoCreateStreams: flag.default(true),
    shardCount: integer(1, 10_000).default(1),
    leaseTtlMs: integer(1_000, 3_600_000).default(10_000),
    shardSyncIntervalMs: integer(100, 3_600_000).default(10_000),
    idlePollIntervalMs: integer(0, 60_000).default(500),
    busyPollIntervalMs: integer(0, 60_000).default(200),
    getRecordsLimit: integer(1, 10_000).default(1_000),
    putAttempts: integer(1, 100).default(10),
    streamReadyTimeoutMs: integer(1_000, 3_600_000).default(120_000),
    startSkewMs: integer(0, 3_600_000).default(1_000),
  })
  // Not reported under accessKeyId or secretAccessKey: redact() would hide the text after "secretAccessKey: ".
  .refine((options) => (options.accessKeyId === undefined) === (options.secretAccessKey === undefined), {
    path: ['credentials'],
    message:
      'set both accessKeyId and secretAccessKey (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or neither (then the default AWS credential chain is used)',
  });

/** Applies defaults and validates, before anything connects. */
export function resolveKinesisOptions(
  options: KinesisOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedKinesisOptions {
  // AWS_ENDPOINT_URL_KINESIS, which the AWS SDK also honours, comes before AWS_ENDPOINT_URL. The SDK reads
  // both itself; knowing the endpoint here selects the HTTP/1.1 handler for it.
  const kinesisEndpoint = env.AWS_ENDPOINT_URL_KINESIS;
  // All the options, not { region: options.region, ... }: a field given as undefined would make an error
  // from its env var name the option instead.
  const { region, endpoint, checkpointStore } = loadBackendConfig(
    'kinesis',
    options,
    kinesisEndpoint ? { ...env, AWS_ENDPOINT_URL: kinesisEndpoint } : env,
  );
  const resolved: ResolvedKinesisOptions = {
    region,
    ...parseOptions(KinesisOptionsSchema, { ...options, checkpointStore }, 'kinesis'),
  };
  if (endpoint !== undefined) resolved.endpoint = endpoint;
  return resolved;
}
