import { createAdapter } from '@eventport/core';
import { KINESIS_CAPABILITIES } from '@eventport/kinesis';
import { runConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();
// Checkpoints in Redis, so the crash worker (another process) and this one share the group's progress.
const overrides = {
  checkpointStore: { type: 'redis', url: env.REDIS_URL, keyPrefix: 'eventport:kinesis-conformance' },
  idlePollIntervalMs: 200,
  leaseTtlMs: 5_000,
};

let streamsBefore = new Set<string>();
beforeAll(async () => {
  const admin = await createAdapter('kinesis');
  streamsBefore = new Set(await admin.listTopics());
  await admin.disconnect();
});

runConformance({
  name: 'kinesis',
  capabilities: KINESIS_CAPABILITIES,
  makeAdapter: (options) => createAdapter('kinesis', { ...overrides, ...options }),
  crashWorker: { env: { EVENT_TYPE: 'kinesis', ...env }, overrides },
});

// kinesis-local keeps streams in memory and limits an account to 50 shards: remove this run's streams.
afterAll(async () => {
  const admin = await createAdapter('kinesis', overrides);
  const created = (await admin.listTopics()).filter(
    (name) => name.startsWith('ep-kinesis-') && !streamsBefore.has(name),
  );
  await Promise.allSettled(created.map((name) => admin.deleteTopic(name)));
  await admin.disconnect();
}, 120_000);
