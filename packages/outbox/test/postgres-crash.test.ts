import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { type PublishInput, silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { OutboxRelay, PostgresOutboxStore } from '@eventport/outbox';
import { Tally } from '@eventport/testkit';
import { expect, it } from '@jest/globals';
import { Pool } from 'pg';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CHILD_BATCH = 50;

// Needs a fresh build: `npx tsc -b packages/outbox` (the child process loads dist/).
it('a relay process killed mid-run loses nothing: the other relays publish every event', async () => {
  const schema = `outbox_crash_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const table = `${schema}.outbox`;
  const pools = [0, 1, 2].map(() => new Pool({ connectionString: DATABASE_URL, max: 3 }));
  const [pool, ...relayPools] = pools as [Pool, Pool, Pool];
  const store = new PostgresOutboxStore({ pool, table });
  await store.migrate();
  const topic = `crash-${randomUUID().slice(0, 8)}`;
  const sink = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
  const tally = new Tally();
  await sink.subscribe(topic, (message) => tally.record(message.id), { concurrency: 64 });

  try {
    for (let batch = 0; batch < 20; batch++) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const ids: string[] = [];
        for (let n = 0; n < 500; n++) ids.push(await store.add(client, { topic, data: { batch, n } }));
        await client.query('COMMIT');
        tally.expect(ids);
      } finally {
        client.release();
      }
    }

    const childPublished = new Set<string>();
    let lastChildBatch: string[] = [];
    let childBatches = 0;
    const child = fork(path.join(__dirname, 'fixtures', 'relay-worker.js'), {
      env: {
        ...process.env,
        DATABASE_URL,
        OUTBOX_TABLE: table,
        BATCH_SIZE: String(CHILD_BATCH),
        STALL_AFTER_BATCHES: '2',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    let startOthers: () => void = () => {};
    const childStarted = new Promise<void>((resolve) => {
      startOthers = resolve;
    });
    child.on('message', (message: { type: string; messages: PublishInput[] }) => {
      childBatches++;
      lastChildBatch = message.messages.map((each) => each.id as string);
      for (const id of lastChildBatch) childPublished.add(id);
      void sink.publishBatch(message.messages);
      startOthers();
      // Its third batch reached the broker and was never marked (the child stalls there): kill it now.
      if (childBatches === 3) child.kill('SIGKILL');
    });

    await childStarted;
    const relays = relayPools.map(
      (relayPool) =>
        new OutboxRelay({
          store: new PostgresOutboxStore({ pool: relayPool, table }),
          adapter: sink,
          batchSize: 100,
          pollIntervalMs: 50,
          logger: silentLogger,
        }),
    );
    for (const relay of relays) relay.start();
    expect(await exited).toBe('SIGKILL');
    expect(await tally.waitForAll(120_000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await Promise.all(relays.map((relay) => relay.stop()));

    const summary = tally.summary();
    const duplicated = [...tally.published].filter((id) => tally.timesReceived(id) > 1);
    console.log(
      `[outbox crash] ${JSON.stringify(summary)}; killed relay published ${childPublished.size} in ${childBatches} batches; ` +
        `duplicates ${duplicated.length} (all from its last, unmarked batch: ${duplicated.every((id) => lastChildBatch.includes(id))})`,
    );
    expect(summary.missing).toBe(0);
    expect(summary.receivedUnique).toBe(10_000);
    expect(duplicated.every((id) => lastChildBatch.includes(id) && tally.timesReceived(id) === 2)).toBe(true);
    // Exactly the batch published but not marked is published again by the survivors.
    expect(duplicated.length).toBe(CHILD_BATCH);
    expect(await store.countPending()).toBe(0);
  } finally {
    await sink.disconnect();
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await Promise.all(pools.map((each) => each.end()));
  }
}, 180_000);
