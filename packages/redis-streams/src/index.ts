import { type AdapterOptions, type BackendDefinition, backendAdapter, type EventAdapter } from '@eventport/core';
import { RedisStreamsDriver } from './driver.js';
import { type RedisStreamsOptions, redisStreamsSchema } from './options.js';

export { REDIS_STREAMS_CAPABILITIES, RedisStreamsDriver } from './driver.js';
export { classifyRedisError } from './errors.js';
export { type RedisStreamsConfig, type RedisStreamsOptions, redisStreamsSchema } from './options.js';

/** `createAdapter('redis-streams')` / EVENT_TYPE=redis-streams: the URL comes from REDIS_URL. */
export const backend: BackendDefinition<typeof redisStreamsSchema, RedisStreamsDriver> = {
  name: 'redis-streams',
  env: { url: 'REDIS_URL' },
  schema: redisStreamsSchema,
  announceDefaults: ['url'],
  driver: (config, { logger }) => new RedisStreamsDriver(config, logger),
};

/** An adapter on Redis Streams; options are validated here, before anything connects. */
export const createRedisStreamsAdapter = (options: RedisStreamsOptions & AdapterOptions = {}): EventAdapter =>
  backendAdapter(backend, options);
