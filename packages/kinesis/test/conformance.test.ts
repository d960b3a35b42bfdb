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
  // Case 11's 200 concurrent batches queue up in kinesis-local for longer than the 5 s default: a request
  // abandoned there is still processed, and its retry adds to the queue.
  requestTimeoutMs: 60_000,
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
  // kinesis-local serialises concurrent PutRecords calls (20 at once take ~80 ms each instead of ~20 ms): case 11's
  // 200 concurrent batches need more than core's default 30 s publish deadline on a loaded machine.
  makeAdapter: (options) =>
    createAdapter('kinesis', { ...overrides, ...options, deadlines: { publishMs: 120_000, ...options?.deadlines } }),
  crashWorker: { env: { EVENT_TYPE: 'kinesis', ...env }, overrides },
  makeSilentAdapter: ({ host, port }, options) =>
    createAdapter('kinesis', { ...overrides, endpoint: `http://${host}:${port}`, requestTimeoutMs: 5_000, ...options }),
  // kinesis-local accepts every credential, so the wrong one goes to a port that refuses connections (requests are
  // still signed with it); secrets-and-deadlines.test.ts scans errors from kinesis-local itself.
  wrongCredential: {
    secret: 'wrong-secret-5b7d0e/K7MDENG',
    makeAdapter: (options) =>
      createAdapter('kinesis', {
        ...overrides,
        endpoint: 'http://127.0.0.1:1',
        accessKeyId: 'AKIAEVENTPORTWRONG',
        secretAccessKey: 'wrong-secret-5b7d0e/K7MDENG',
        ...options,
      }),
  },
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
