import { type AdapterOptions, type BackendDefinition, createPortableAdapter, type EventAdapter } from '@eventport/core';
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

/** Validated before anything connects; env vars (KAFKA_SERVER...) fill what the options leave out. */
export function createKafkaAdapter(options: KafkaOptions & AdapterOptions = {}): EventAdapter {
  const { logger, codec, maxPayloadBytes, publishAttempts, deadlines, ...kafka } = options;
  const portable: AdapterOptions = { logger, codec, maxPayloadBytes, publishAttempts, deadlines };
  return createPortableAdapter(new KafkaDriver(kafka, logger), portable);
}

export const backend: BackendDefinition<typeof kafkaSchema> = {
  ...kafkaConfig,
  create: (config, options) => createKafkaAdapter({ ...config, ...options }),
};
