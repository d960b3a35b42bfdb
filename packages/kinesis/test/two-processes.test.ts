import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { silentLogger } from '@eventport/core';
import { createKinesisAdapter } from '@eventport/kinesis';
import { eventually, Tally } from '@eventport/testkit';
import { expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();
// testkit's crash worker: subscribes with createAdapter() from its environment and prints "handled <id>".
const WORKER = path.resolve(__dirname, '../../testkit/dist/crash-worker.js');

test('two processes in one group on a Redis checkpoint store share the 1,000 messages instead of each handling all', async () => {
  const stream = `two-processes-${randomUUID().slice(0, 8)}`;
  const group = 'pair';
  const keyPrefix = 'eventport:kinesis-two-processes';
  const overrides = { checkpointStore: { type: 'redis', url: env.REDIS_URL, keyPrefix }, leaseTtlMs: 3_000 };
  const adapter = createKinesisAdapter({ logger: silentLogger });
  const redis = new Redis(env.REDIS_URL as string);
  const children: ChildProcess[] = [];
  try {
    await adapter.createTopic(stream, { partitions: 4 });
    const tally = new Tally();
    const handledBy = [0, 0];
    for (const member of [0, 1]) {
      const task = { topic: stream, group, fromBeginning: true, handlerDelayMs: 2, overrides };
      const child = spawn(process.execPath, [WORKER], {
        env: { ...process.env, EVENT_TYPE: 'kinesis', EVENTPORT_CRASH_TASK: JSON.stringify(task) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const [kind, id] = line.split(' ');
        if (kind !== 'handled' || !id) return;
        tally.record(id);
        handledBy[member] = (handledBy[member] ?? 0) + 1;
      });
    }
    // Both members registered and the four shard leases split between them: then publish.
    const owners = async () => {
      const fields = await redis.hgetall(`${keyPrefix}:${stream}:${group}`);
      return (
        Object.entries(fields)
          // Shard leases only: the member registry keeps owner:$member:<id> fields in the same hash.
          .filter(([field]) => field.startsWith('owner:') && !field.startsWith('owner:$member:'))
          .map(([, owner]) => owner)
      );
    };
    let split = false;
    for (const deadline = Date.now() + 60_000; !split && Date.now() < deadline; ) {
      const held = await owners();
      split = held.length === 4 && new Set(held).size === 2;
      if (!split) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(split).toBe(true);
    const sent = await adapter.publishBatch(Array.from({ length: 1_000 }, (_, n) => ({ topic: stream, data: { n } })));
    tally.expect(sent.map((message) => message.id));
    expect(await tally.waitForAll(60_000)).toBe(true);
    await eventually(() => false, 2_000); // anything handled twice would show by now
    const { published, receivedUnique, missing, duplicates } = tally.summary();
    console.log(
      `kinesis two processes, one group (redis checkpoints): published=${published} received-unique=${receivedUnique} missing=${missing} duplicates=${duplicates} handled by process A=${handledBy[0]} B=${handledBy[1]} (total ${(handledBy[0] ?? 0) + (handledBy[1] ?? 0)})`,
    );
    expect(tally.missing).toEqual([]);
    expect(tally.duplicates).toBe(0);
    expect((handledBy[0] ?? 0) + (handledBy[1] ?? 0)).toBe(1_000);
    expect(handledBy[0]).toBeGreaterThan(0);
    expect(handledBy[1]).toBeGreaterThan(0);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await adapter.deleteTopic(stream).catch(() => undefined);
    await adapter.disconnect();
    for (const key of await redis.keys(`${keyPrefix}:${stream}:*`)) await redis.del(key);
    redis.disconnect();
  }
}, 180_000);
