import { type AdapterOptions, type BackendDefinition, backendAdapter, type EventAdapter } from '@eventport/core';
import { RabbitMqDriver } from './driver.js';
import { type RabbitMqOptions, rabbitMqSchema } from './options.js';

export {
  queueName,
  RABBITMQ_CAPABILITIES,
  RabbitMqDriver,
  type RabbitMqNative,
  rabbitMqCapabilities,
} from './driver.js';
export { classifyAmqpError } from './errors.js';
export { type QueueType, type RabbitMqConfig, type RabbitMqOptions, rabbitMqSchema } from './options.js';

export const backend: BackendDefinition<typeof rabbitMqSchema, RabbitMqDriver> = {
  name: 'rabbitmq',
  env: { url: 'RABBITMQ_URL', managementUrl: 'RABBITMQ_MANAGEMENT_URL' },
  schema: rabbitMqSchema,
  announceDefaults: ['url'],
  driver: (config, { logger }) => new RabbitMqDriver(config, logger),
};

/** Options are validated here, before any connection opens. */
export const createRabbitMqAdapter = (options: RabbitMqOptions & AdapterOptions = {}): EventAdapter =>
  backendAdapter(backend, options);
