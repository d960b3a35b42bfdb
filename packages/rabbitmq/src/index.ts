import {
  type AdapterOptions,
  type BackendDefinition,
  consoleLogger,
  createPortableAdapter,
  type EventAdapter,
  type RabbitMqConfig,
} from '@eventport/core';
import { RabbitMqDriver } from './driver.js';
import type { RabbitMqOptions } from './options.js';

export {
  RABBITMQ_CAPABILITIES,
  RabbitMqDriver,
  type RabbitMqNative,
  rabbitMqCapabilities,
} from './driver.js';
export { classifyAmqpError } from './errors.js';
export type { QueueType, RabbitMqOptions } from './options.js';
export { queueName } from './topology.js';

/** Options are validated here, before any connection opens; the URL defaults to RABBITMQ_URL. */
export function createRabbitMqAdapter(options: RabbitMqOptions & AdapterOptions = {}): EventAdapter {
  return createPortableAdapter(new RabbitMqDriver(options, options.logger ?? consoleLogger()), options);
}

export const backend: BackendDefinition<RabbitMqConfig> = {
  create: (config, options) => createRabbitMqAdapter({ ...(config as RabbitMqOptions), ...options }),
};
