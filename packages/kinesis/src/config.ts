import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { configFields, numericOption } from '@eventport/core';
import { z } from 'zod';
import type { CheckpointStore } from './checkpoint/store.js';

const integer = (min: number, max: number) => numericOption(z.number().int().min(min).max(max));
const flag = z.preprocess((value) => (value === 'true' ? true : value === 'false' ? false : value), z.boolean());
const STORE_SCHEMES = ['redis', 'rediss', 'postgres', 'postgresql'];

/** Where consumer groups keep checkpoints and shard leases. */
export const checkpointStoreOption = z.union([
  z.custom<CheckpointStore>(
    (value) => typeof value === 'object' && value !== null && typeof (value as CheckpointStore).tryLease === 'function',
  ),
  z.literal('memory'),
  z.string().refine((value) => STORE_SCHEMES.some((scheme) => value.startsWith(`${scheme}://`)), {
    message: `must be "memory" or a URL starting with ${STORE_SCHEMES.map((scheme) => `${scheme}://`).join(', ')}`,
  }),
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('memory') }),
    z.strictObject({
      type: z.literal('redis'),
      url: configFields.url(['redis', 'rediss']),
      keyPrefix: z.string().min(1).optional(),
    }),
    z.strictObject({
      type: z.literal('postgres'),
      url: configFields.url(['postgres', 'postgresql']),
      table: z.string().optional(),
    }),
  ]),
]);
export type CheckpointStoreOption = z.output<typeof checkpointStoreOption>;
/** A serialisable description of a store, for createAdapter overrides, env and child processes. */
export type CheckpointStoreConfig = Extract<CheckpointStoreOption, { type: string }>;

/** Every kinesis setting, from env vars (see `backend.env`) and options; unknown keys fail. */
export const kinesisSchema = z
  .strictObject({
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1')
      .default('us-east-1'),
    // Without them the AWS SDK's default credential chain is used (profiles, SSO, instance/task roles).
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    // Temporary credentials (STS, Lambda) are incomplete without it.
    sessionToken: z.string().min(1).optional(),
    endpoint: configFields.url(['http', 'https']).optional(),
    /** Required to subscribe: Redis or PostgreSQL shared by the group's members, or "memory" (one process). */
    checkpointStore: checkpointStoreOption.optional(),
    /** Use this client instead of building one; you keep ownership and its configuration (timeouts, retries). */
    client: configFields.object<KinesisClient>().optional(),
    autoCreateStreams: flag.default(true),
    shardCount: integer(1, 10_000).default(1),
    leaseTtlMs: integer(1_000, 3_600_000).default(10_000),
    shardSyncIntervalMs: integer(100, 3_600_000).default(10_000),
    idlePollIntervalMs: integer(0, 60_000).default(500),
    // Kinesis allows 5 GetRecords calls per second per shard.
    busyPollIntervalMs: integer(200, 60_000).default(200),
    getRecordsLimit: integer(1, 10_000).default(1_000),
    startSkewMs: integer(0, 3_600_000).default(1_000),
    /** Socket connect timeout and inactivity timeout of each AWS request. */
    requestTimeoutMs: integer(100, 600_000).default(5_000),
  })
  // Not reported under accessKeyId or secretAccessKey: redact() would hide the text after "secretAccessKey: ".
  .refine((options) => (options.accessKeyId === undefined) === (options.secretAccessKey === undefined), {
    path: ['credentials'],
    message:
      'set both accessKeyId and secretAccessKey (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or neither (then the default AWS credential chain is used)',
  });

export type KinesisConfig = z.output<typeof kinesisSchema>;
export type KinesisOptions = z.input<typeof kinesisSchema>;
