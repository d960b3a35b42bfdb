import { createRedisStreamsAdapter, REDIS_STREAMS_CAPABILITIES } from '@eventport/redis-streams';
import { runConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { PrivateRedis } from './private-redis.js';

// The suite again, on a Redis of our own with an fsync'ed AOF, so case 16 can restart it twice
// without touching the shared server (and without the restart losing what publish acknowledged).
const redis = new PrivateRedis(true);
beforeAll(() => redis.start());
afterAll(() => redis.stop());

runConformance({
  name: 'redis-streams-aof',
  capabilities: REDIS_STREAMS_CAPABILITIES,
  makeAdapter: (options) =>
    createRedisStreamsAdapter({ url: redis.url, claimIdleMs: 2_000, claimIntervalMs: 500, ...options }),
  restartBroker: () => redis.restart(),
});
