import {
  type AdapterOptions,
  type BackendDefinition,
  createPortableAdapter,
  type EventAdapter,
  splitAdapterOptions,
} from '@eventport/core';
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
  const { adapterOptions, driverOptions } = splitAdapterOptions(options);
  return createPortableAdapter(new KafkaDriver(driverOptions, adapterOptions.logger), adapterOptions);
}

export const backend: BackendDefinition<typeof kafkaSchema> = {
  ...kafkaConfig,
  create: (config, options) => createKafkaAdapter({ ...config, ...options }),
};
