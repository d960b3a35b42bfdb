import { type AdapterOptions, type BackendDefinition, createPortableAdapter, type EventAdapter } from '@eventport/core';
import { KafkaDriver, type KafkaDriverOptions } from './driver.js';
import type { KafkaOptions } from './options.js';

export { KAFKA_CAPABILITIES, KafkaDriver, type KafkaDriverOptions, type KafkaNative } from './driver.js';
export { classifyKafkaError } from './errors.js';
export type { KafkaCompression, KafkaOptions, SaslMechanism } from './options.js';

/** Options are validated here, before anything connects; env vars (KAFKA_SERVER...) fill what is not given. */
export function createKafkaAdapter(options: KafkaOptions & AdapterOptions = {}): EventAdapter {
  const driverOptions: KafkaDriverOptions = options;
  return createPortableAdapter(new KafkaDriver(driverOptions), options);
}

export const backend: BackendDefinition<KafkaOptions> = {
  create: (config, options) => createKafkaAdapter({ ...config, ...options }),
};
