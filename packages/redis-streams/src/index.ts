import {
  type AdapterOptions,
  type BackendDefinition,
  consoleLogger,
  createPortableAdapter,
  type EventAdapter,
  splitAdapterOptions,
} from '@eventport/core';
import { RedisStreamsDriver } from './driver.js';
import { type RedisStreamsOptions, redisStreamsSchema } from './options.js';

export { REDIS_STREAMS_CAPABILITIES, RedisStreamsDriver } from './driver.js';
export { classifyRedisError } from './errors.js';
export { type RedisStreamsConfig, type RedisStreamsOptions, redisStreamsSchema } from './options.js';

/** An adapter on Redis Streams; options are validated here, before anything connects. */
export function createRedisStreamsAdapter(options: RedisStreamsOptions & AdapterOptions = {}): EventAdapter {
  const { adapterOptions, driverOptions } = splitAdapterOptions(options);
  const portable = { ...adapterOptions, logger: adapterOptions.logger ?? consoleLogger() };
  return createPortableAdapter(new RedisStreamsDriver(driverOptions, portable.logger), portable);
}

/** `createAdapter('redis-streams')` / EVENT_TYPE=redis-streams: the URL comes from REDIS_URL. */
export const backend: BackendDefinition<typeof redisStreamsSchema> = {
  name: 'redis-streams',
  env: { url: 'REDIS_URL' },
  schema: redisStreamsSchema,
  announceDefaults: ['url'],
  create: (config, options) => createRedisStreamsAdapter({ ...config, ...options }),
};
