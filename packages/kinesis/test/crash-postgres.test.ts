import { randomUUID } from 'node:crypto';
import { createAdapter, silentLogger } from '@eventport/core';
// The consumer-crash case of the conformance suite (there run with the Redis store), here with PostgreSQL.
import { runCrashCase } from '@eventport/testkit';
import { expect, test } from '@jest/globals';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();

test('a SIGKILLed consumer is resumed from its PostgreSQL checkpoints: 0 missing, duplicates counted', async () => {
  const overrides = {
    checkpointStore: { type: 'postgres', url: env.DATABASE_URL },
    idlePollIntervalMs: 200,
    leaseTtlMs: 3_000,
  };
  const adapter = await createAdapter('kinesis', { ...overrides, logger: silentLogger });
  const topic = `crash-pg-${randomUUID().slice(0, 8)}`;
  try {
    const result = await runCrashCase(adapter, { env: { EVENT_TYPE: 'kinesis', ...env }, overrides }, topic, 60_000);
    const { published, receivedUnique, missing, duplicates } = result.tally.summary();
    console.log(
      `kinesis crash (postgres checkpoints): published=${published} received-unique=${receivedUnique} missing=${missing} duplicates=${duplicates} (worker acked ${result.ackedByWorker} before SIGKILL)`,
    );
    expect(result.ackedByWorker).toBeGreaterThan(0);
    expect(result.tally.missing).toEqual([]);
  } finally {
    await adapter.deleteTopic(topic).catch(() => undefined);
    await adapter.disconnect();
  }
}, 300_000);
