import { createRedisStreamsAdapter, REDIS_STREAMS_CAPABILITIES } from '@eventport/redis-streams';
import { runConformance } from '@eventport/testkit';

const url = process.env.REDIS_URL ?? 'redis://localhost:6379';
// Short enough that the crashed worker's entries (case 17) are taken over within seconds; longer than any handler in the suite.
const claimTimings = { claimIdleMs: 2_000, claimIntervalMs: 500 };

runConformance({
  name: 'redis-streams',
  capabilities: REDIS_STREAMS_CAPABILITIES,
  makeAdapter: (options) => createRedisStreamsAdapter({ url, ...claimTimings, ...options }),
  crashWorker: { env: { EVENT_TYPE: 'redis-streams', REDIS_URL: url }, overrides: claimTimings },
  makeSilentAdapter: ({ host, port }, options) =>
    createRedisStreamsAdapter({ url: `redis://${host}:${port}`, ...options }),
});
