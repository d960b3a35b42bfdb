import { configFields, numericOption } from '@eventport/core';
import type { RedisOptions } from 'ioredis';
import { z } from 'zod';

const positive = numericOption(z.number().int().positive());

/** REDIS_URL and every driver option (see the README) in one strict schema: an unknown key fails, naming the closest. */
export const redisStreamsSchema = z.strictObject({
  // configFields.url keeps the value, which may carry a password, out of the message.
  url: configFields.url(['redis', 'rediss']).default('redis://localhost:6379'),
  keyPrefix: z.string().default('eventport:'),
  maxLength: positive.optional(),
  claimIdleMs: positive.default(30_000),
  claimIntervalMs: positive.optional(),
  consumerName: z
    .string()
    .regex(/^\S{1,200}$/, 'must be 1 to 200 characters without whitespace')
    .optional(),
  redis: z
    .custom<RedisOptions>((value) => typeof value === 'object' && value !== null, 'must be an ioredis options object')
    // ioredis would prefix commands but not SCAN patterns, so listTopics would go blind.
    .refine((redis) => (redis as { keyPrefix?: unknown }).keyPrefix === undefined, {
      path: ['keyPrefix'],
      message: 'use the keyPrefix option rather than redis.keyPrefix',
    })
    .optional(),
});

export type RedisStreamsConfig = z.output<typeof redisStreamsSchema>;
/** url, keyPrefix, maxLength, claimIdleMs, claimIntervalMs, consumerName, redis: see the README. */
export type RedisStreamsOptions = Partial<RedisStreamsConfig>;
