import { backendDriver, silentLogger } from '@eventport/core';
import { backend } from '@eventport/redis-streams';
import { runDriverConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { PrivateRedis } from './private-redis.js';

// On a Redis of our own with an fsync'ed AOF, so the "settle after a restart" case can restart it.
const redis = new PrivateRedis(true);
beforeAll(() => redis.start());
afterAll(() => redis.stop());

runDriverConformance({
  name: 'redis-streams',
  makeDriver: () => backendDriver(backend, { url: redis.url }, { logger: silentLogger }),
  makeSilentDriver: ({ host, port }) =>
    backendDriver(backend, { url: `redis://${host}:${port}` }, { logger: silentLogger }),
  restartBroker: () => redis.restart(),
});
