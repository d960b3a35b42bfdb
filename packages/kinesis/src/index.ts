import { type AdapterOptions, type BackendDefinition, backendAdapter, type EventAdapter } from '@eventport/core';
import { type KinesisOptions, kinesisSchema } from './config.js';
import { KinesisDriver } from './driver.js';

export { MemoryCheckpointStore } from './checkpoint/memory.js';
export { PostgresCheckpointStore, type PostgresCheckpointStoreOptions } from './checkpoint/postgres.js';
export { RedisCheckpointStore, type RedisCheckpointStoreOptions } from './checkpoint/redis.js';
export type { CheckpointScope, CheckpointStore } from './checkpoint/store.js';
export type { CheckpointStoreConfig, CheckpointStoreOption, KinesisConfig, KinesisOptions } from './config.js';
export { KINESIS_CAPABILITIES, KinesisDriver } from './driver.js';
export { decodeEnvelope, ENVELOPE_VERSION, encodeEnvelope } from './envelope.js';
export type { KinesisRecord } from './receiver.js';

export const backend: BackendDefinition<typeof kinesisSchema, KinesisDriver> = {
  name: 'kinesis',
  env: {
    region: 'AWS_REGION',
    accessKeyId: 'AWS_ACCESS_KEY_ID',
    secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
    sessionToken: 'AWS_SESSION_TOKEN',
    endpoint: 'AWS_ENDPOINT_URL',
    checkpointStore: 'KINESIS_CHECKPOINT_URL',
  },
  schema: kinesisSchema,
  driver: (config, { logger }) => new KinesisDriver(config, logger),
};

/** Options over the same env vars as createAdapter('kinesis'), validated before anything connects. */
export const createKinesisAdapter = (options: KinesisOptions & AdapterOptions = {}): EventAdapter =>
  backendAdapter(backend, options);
