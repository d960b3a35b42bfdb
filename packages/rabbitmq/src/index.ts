import {
  type AdapterOptions,
  type BackendDefinition,
  consoleLogger,
  createPortableAdapter,
  type EventAdapter,
  type Logger,
  loadBackendConfig,
  splitAdapterOptions,
} from '@eventport/core';
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

/** A driver on validated options (RABBITMQ_URL unless `url` is given), for tools that drive it directly. */
export function createRabbitMqDriver(options: RabbitMqOptions = {}, logger: Logger = consoleLogger()): RabbitMqDriver {
  return new RabbitMqDriver(loadBackendConfig(backend, options, process.env, logger), logger);
}

/** Options are validated here, before any connection opens. */
export function createRabbitMqAdapter(options: RabbitMqOptions & AdapterOptions = {}): EventAdapter {
  const { adapterOptions, driverOptions } = splitAdapterOptions(options);
  const driver = createRabbitMqDriver(driverOptions, adapterOptions.logger ?? consoleLogger());
  return createPortableAdapter(driver, adapterOptions);
}

export const backend: BackendDefinition<typeof rabbitMqSchema> = {
  name: 'rabbitmq',
  env: { url: 'RABBITMQ_URL', managementUrl: 'RABBITMQ_MANAGEMENT_URL' },
  schema: rabbitMqSchema,
  announceDefaults: ['url'],
  create: (config, options) =>
    createPortableAdapter(new RabbitMqDriver(config, options.logger ?? consoleLogger()), options),
};
