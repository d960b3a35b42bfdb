import { RedisStreamsDriver } from '@eventport/redis-streams';
import { runDriverConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { PrivateRedis } from './private-redis.js';

// On a Redis of our own with an fsync'ed AOF, so the "settle after a restart" case can restart it.
const redis = new PrivateRedis(true);
beforeAll(() => redis.start());
afterAll(() => redis.stop());

runDriverConformance({
  name: 'redis-streams',
  makeDriver: () => new RedisStreamsDriver({ url: redis.url }),
  makeSilentDriver: ({ host, port }) => new RedisStreamsDriver({ url: `redis://${host}:${port}` }),
  restartBroker: () => redis.restart(),
});
