import { createRedisStreamsAdapter, REDIS_STREAMS_CAPABILITIES } from '@eventport/redis-streams';
import { runConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { PrivateRedis } from './private-redis.js';

// The suite again, on a password-protected Redis of our own with an fsync'ed AOF, so case 16 can
// restart it twice without touching the shared server (and without the restart losing what publish
// acknowledged), and case 23 has a credential to get wrong.
const redis = new PrivateRedis(true, 'aof-Pa55word');
beforeAll(() => redis.start());
afterAll(() => redis.stop());
const claimTimings = { claimIdleMs: 2_000, claimIntervalMs: 500 };

runConformance({
  name: 'redis-streams-aof',
  capabilities: REDIS_STREAMS_CAPABILITIES,
  makeAdapter: (options) => createRedisStreamsAdapter({ url: redis.urlWith(), ...claimTimings, ...options }),
  restartBroker: () => redis.restart(),
  wrongCredential: {
    secret: 'Wr0ng-aof-Pa55word',
    makeAdapter: (options) => createRedisStreamsAdapter({ url: redis.urlWith('Wr0ng-aof-Pa55word'), ...options }),
  },
});
