import { type AdapterOptions, type BackendDefinition, createPortableAdapter, type EventAdapter } from '@eventport/core';
import { KinesisDriver } from './driver.js';
import type { KinesisOptions } from './options.js';

export { MemoryCheckpointStore } from './checkpoint/memory.js';
export { PostgresCheckpointStore, type PostgresCheckpointStoreOptions } from './checkpoint/postgres.js';
export { RedisCheckpointStore, type RedisCheckpointStoreOptions } from './checkpoint/redis.js';
export type { CheckpointStoreOption } from './checkpoint/resolve.js';
export type { CheckpointScope, CheckpointStore, CheckpointStoreConfig } from './checkpoint/store.js';
export { KINESIS_CAPABILITIES, KinesisDriver } from './driver.js';
export { decodeEnvelope, ENVELOPE_VERSION, encodeEnvelope } from './envelope.js';
export { CHECKPOINT_URL_ENV, type KinesisOptions } from './options.js';

export function createKinesisAdapter(options: KinesisOptions & AdapterOptions = {}): EventAdapter {
  return createPortableAdapter(new KinesisDriver(options), options);
}

export const backend: BackendDefinition<KinesisOptions> = {
  create: (config, options) => createKinesisAdapter({ ...config, ...options }),
};
