import {
  type AdapterOptions,
  type BackendDefinition,
  consoleLogger,
  createPortableAdapter,
  type EventAdapter,
} from '@eventport/core';
import { RedisStreamsDriver } from './driver.js';
import type { RedisStreamsOptions } from './options.js';

export { REDIS_STREAMS_CAPABILITIES, RedisStreamsDriver } from './driver.js';
export type { RedisStreamsOptions } from './options.js';

/** An adapter on Redis Streams; options are validated here, before anything connects. */
export function createRedisStreamsAdapter(options: RedisStreamsOptions & AdapterOptions = {}): EventAdapter {
  const { logger = consoleLogger(), codec, maxPayloadBytes, publishAttempts, ...driverOptions } = options;
  return createPortableAdapter(new RedisStreamsDriver(driverOptions, logger), {
    logger,
    codec,
    maxPayloadBytes,
    publishAttempts,
  });
}

/** `createAdapter('redis-streams')`: the URL comes from REDIS_URL (default redis://localhost:6379). */
export const backend: BackendDefinition<RedisStreamsOptions> = {
  create: (config, options) => createRedisStreamsAdapter({ ...config, ...options }),
};
