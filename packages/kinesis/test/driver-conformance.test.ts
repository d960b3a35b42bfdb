import { KinesisDriver } from '@eventport/kinesis';
import { runDriverConformance } from '@eventport/testkit';
import { afterAll } from '@jest/globals';
import { kinesisSchema } from '../src/config';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();
const settings = (overrides: Record<string, unknown>) =>
  kinesisSchema.parse({
    region: env.AWS_REGION,
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    // Members of a group in different drivers share the group's leases and checkpoints through Redis.
    checkpointStore: { type: 'redis', url: env.REDIS_URL, keyPrefix: 'eventport:kinesis-driver-conformance' },
    idlePollIntervalMs: 100,
    leaseTtlMs: 3_000,
    ...overrides,
  });
const made: KinesisDriver[] = [];
const make = (overrides: Record<string, unknown>) => {
  const driver = new KinesisDriver(settings(overrides));
  made.push(driver);
  return driver;
};

runDriverConformance({
  name: 'kinesis',
  makeDriver: () => make({ endpoint: env.AWS_ENDPOINT_URL }),
  makeSilentDriver: ({ host, port }) => make({ endpoint: `http://${host}:${port}` }),
});

// kinesis-local keeps streams in memory and limits an account to 50 shards: remove this run's streams.
afterAll(async () => {
  const admin = make({ endpoint: env.AWS_ENDPOINT_URL });
  const signal = () => AbortSignal.timeout(30_000);
  const created = (await admin.listTopics(signal())).filter((name) => name.startsWith('dc-kinesis-'));
  await Promise.allSettled(created.map((name) => admin.deleteTopic(name, signal())));
  await admin.disconnect();
}, 120_000);
