import { type AdapterOptions, type BackendDefinition, backendAdapter, type EventAdapter } from '@eventport/core';
import { KafkaDriver } from './driver.js';
import { type KafkaOptions, kafkaConfig, type kafkaSchema } from './options.js';

export { KAFKA_CAPABILITIES, KafkaDriver, type KafkaNative } from './driver.js';
export { classifyKafkaError } from './errors.js';
export type { KafkaRecord } from './member.js';
export {
  type KafkaCompression,
  type KafkaOptions,
  type ResolvedKafkaOptions,
  resolveKafkaOptions,
  type SaslMechanism,
} from './options.js';

export const backend: BackendDefinition<typeof kafkaSchema, KafkaDriver> = {
  ...kafkaConfig,
  driver: (config, { logger }) => new KafkaDriver(config, logger),
};

/** Validated before anything connects; env vars (KAFKA_SERVER...) fill what the options leave out. */
export const createKafkaAdapter = (options: KafkaOptions & AdapterOptions = {}): EventAdapter =>
  backendAdapter(backend, options);
