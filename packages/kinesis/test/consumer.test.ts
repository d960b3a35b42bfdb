import { randomUUID } from 'node:crypto';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  KinesisClient,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import {
  type AdapterOptions,
  type Codec,
  type EventAdapter,
  jsonCodec,
  type ReceivedMessage,
  silentLogger,
} from '@eventport/core';
import { createKinesisAdapter, type KinesisOptions } from '@eventport/kinesis';
import { eventually, Tally } from '@eventport/testkit';
import { afterAll, expect, test } from '@jest/globals';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();
const run = randomUUID().slice(0, 8);
// The members of these groups are in this process: the in-memory checkpoint store is enough (and chosen explicitly).
const fast: KinesisOptions & AdapterOptions = {
  checkpointStore: 'memory',
  idlePollIntervalMs: 100,
  leaseTtlMs: 2_000,
  logger: silentLogger,
};
const adapters: EventAdapter[] = [];
const open = (options: KinesisOptions & AdapterOptions = {}) => {
  const adapter = createKinesisAdapter({ ...fast, ...options });
  adapters.push(adapter);
  return adapter;
};
const rawClient = () =>
  new KinesisClient({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID as string, secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string },
    requestHandler: new NodeHttpHandler(),
  });

async function eventuallyAsync(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

afterAll(async () => {
  const admin = open();
  const streams = (await admin.listTopics()).filter((name) => name.includes(run));
  await Promise.allSettled(streams.map((stream) => admin.deleteTopic(stream)));
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
});

test('a nacked record comes again before the records after it in its shard', async () => {
  const adapter = open();
  const stream = `nack-order-${run}`;
  await adapter.publishBatch(Array.from({ length: 10 }, (_, n) => ({ topic: stream, key: 'k', data: { n } })));
  const handled: string[] = [];
  let failed = false;
  const subscription = await adapter.subscribe<{ n: number }>(
    stream,
    (message) => {
      if (message.data.n === 3 && !failed) {
        failed = true;
        handled.push(`fail ${message.data.n}#${message.attempt}`);
        throw new Error('planned');
      }
      handled.push(`${message.data.n}#${message.attempt}`);
    },
    { group: 'g', fromBeginning: true, concurrency: 1, redeliveryDelayMs: () => 10 },
  );
  expect(await eventually(() => handled.includes('9#1'), 30_000)).toBe(true);
  await subscription.close();
  expect(handled).toEqual(['0#1', '1#1', '2#1', 'fail 3#1', '3#2', '4#1', '5#1', '6#1', '7#1', '8#1', '9#1']);
});

test('a nack redelivers that record only: 100 records on one shard, record 10 fails twice, every other is handled once', async () => {
  const adapter = open();
  const stream = `nack-one-${run}`;
  await adapter.createTopic(stream, { partitions: 1 });
  const sent = await adapter.publishBatch(Array.from({ length: 100 }, (_, n) => ({ topic: stream, data: { n } })));
  const handled = new Map<number, number>();
  let failures = 0;
  const subscription = await adapter.subscribe<{ n: number }>(
    stream,
    async (message) => {
      handled.set(message.data.n, (handled.get(message.data.n) ?? 0) + 1);
      // Slow enough that the records after 10 are handled (and acked) while 10 waits for its redelivery.
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (message.data.n === 10 && failures < 2) {
        failures++;
        throw new Error('planned failure');
      }
    },
    { group: 'nack-one', fromBeginning: true, concurrency: 8, redeliveryDelayMs: () => 50 },
  );
  expect(await eventually(() => handled.size === 100 && (handled.get(10) ?? 0) === 3, 30_000)).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // anything handled again would show by now
  await subscription.close();
  expect(sent).toHaveLength(100);
  expect(handled.get(10)).toBe(3);
  const others = [...handled].filter(([n]) => n !== 10);
  expect(others).toHaveLength(99);
  expect(others.filter(([, times]) => times !== 1)).toEqual([]);
});

test('an undecodable record does not stop its shard: 200 valid and 6 poison records at concurrency 8', async () => {
  const adapter = open();
  const stream = `poison-${run}`;
  await adapter.createTopic(stream, { partitions: 1 });
  const garbage: Codec = {
    encode: () => ({ body: Buffer.from('{not json'), contentType: 'application/json' }),
    decode: jsonCodec.decode,
  };
  const rogue = open({ codec: garbage });
  const tally = new Tally();
  for (let round = 0; round < 6; round++) {
    const valid = await adapter.publishBatch(
      Array.from({ length: round < 2 ? 34 : 33 }, (_, n) => ({ topic: stream, data: { round, n } })),
    );
    tally.expect(valid.map((message) => message.id));
    await rogue.publish({ topic: stream, data: 'ignored' });
  }
  expect(tally.published.size).toBe(200);
  const errors: unknown[] = [];
  const subscription = await adapter.subscribe(stream, (message) => tally.record(message.id), {
    group: 'poison',
    fromBeginning: true,
    concurrency: 8,
    redeliveryDelayMs: () => 200,
    onError: (error) => errors.push(error),
  });
  expect(await tally.waitForAll(30_000)).toBe(true);
  await subscription.close();
  expect(tally.missing).toEqual([]);
  expect(tally.duplicates).toBe(0);
  expect(errors.length).toBeGreaterThanOrEqual(6); // each poison record was reported (and backs off on its own)
});

/** As for a user who set none: scripts/brokers/env.sh sets one for the local runs. */
const openWithoutStore = () => {
  const configured = process.env.KINESIS_CHECKPOINT_URL;
  delete process.env.KINESIS_CHECKPOINT_URL;
  try {
    return open({ checkpointStore: undefined });
  } finally {
    if (configured !== undefined) process.env.KINESIS_CHECKPOINT_URL = configured;
  }
};

test('subscribing without a checkpoint store fails with INVALID_CONFIG naming KINESIS_CHECKPOINT_URL', async () => {
  const adapter = openWithoutStore();
  const stream = `no-store-${run}`;
  const attempt = adapter.subscribe(stream, () => undefined, { group: 'g' });
  await expect(attempt).rejects.toMatchObject({
    code: 'INVALID_CONFIG',
    message: expect.stringMatching(/KINESIS_CHECKPOINT_URL.*redis:\/\/.*postgres:\/\//),
  });
  // Publishing needs no store.
  await expect(adapter.publish({ topic: stream, data: 1 })).resolves.toMatchObject({ topic: stream });
});

test('an ephemeral subscription needs no checkpoint store, reads every shard alone, and its lag reaches 0', async () => {
  const adapter = openWithoutStore();
  const stream = `ephemeral-${run}`;
  await adapter.createTopic(stream, { partitions: 2 });
  const sent = await adapter.publishBatch(
    Array.from({ length: 20 }, (_, n) => ({ topic: stream, key: `k${n}`, data: n })),
  );
  const tally = new Tally();
  tally.expect(sent.map((message) => message.id));
  const subscription = await adapter.subscribe(stream, (message) => tally.record(message.id), {
    ephemeral: true,
    fromBeginning: true,
  });
  expect(await tally.waitForAll(30_000)).toBe(true);
  expect(await eventuallyAsync(async () => (await subscription.lag())?.millisBehind === 0)).toBe(true);
  expect(await subscription.lag()).toEqual({ millisBehind: 0 });
  await subscription.close();
  expect(tally.duplicates).toBe(0);
  expect(await adapter.listGroups(stream)).toEqual([]);
});

test('a new group without fromBeginning starts at subscribe time, and that position is kept once stored', async () => {
  const stream = `start-${run}`;
  const adapter = open({ startSkewMs: 0 });
  const old = await adapter.publishBatch(Array.from({ length: 5 }, (_, n) => ({ topic: stream, data: { old: n } })));
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // arrival timestamps have millisecond precision
  const tally = new Tally();
  // The group's start is stored on the first subscribe: what is published after it is kept for the
  // group even while no member runs.
  await (await adapter.subscribe(stream, (message) => tally.record(message.id), { group: 'late' })).close();
  const fresh = await adapter.publishBatch(
    Array.from({ length: 5 }, (_, n) => ({ topic: stream, data: { fresh: n } })),
  );
  tally.expect(fresh.map((message) => message.id));
  const subscription = await adapter.subscribe(stream, (message) => tally.record(message.id), { group: 'late' });
  expect(await tally.waitForAll(30_000)).toBe(true);
  await subscription.close();
  expect(tally.strangers.filter((id) => old.some((message) => message.id === id))).toEqual([]);
  expect(tally.duplicates).toBe(0);
});

test('members of a group share the shards: a joining member gets its share, a closing one hands its shards over', async () => {
  const stream = `leases-${run}`;
  const first = open();
  const second = open();
  await first.createTopic(stream, { partitions: 4 });
  const tally = new Tally();
  const shardsOf = [new Set<string>(), new Set<string>()];
  const handler = (member: number) => (message: ReceivedMessage) => {
    shardsOf[member]?.add(String(message.meta.shardId));
    tally.record(message.id);
  };
  const publish = async (count: number) => {
    const sent = await first.publishBatch(
      Array.from({ length: count }, (_, n) => ({ topic: stream, key: `key-${n % 20}`, data: { n } })),
    );
    tally.expect(sent.map((message) => message.id));
  };
  const a = await first.subscribe(stream, handler(0), { group: 'shared', fromBeginning: true });
  await publish(100);
  expect(await tally.waitForAll(30_000)).toBe(true);
  expect(shardsOf[0]?.size).toBe(4); // alone, the first member reads every shard

  const b = await second.subscribe(stream, handler(1), { group: 'shared', fromBeginning: true });
  // Within a lease renewal or two the first member hands two shards over to the second.
  for (let round = 0; round < 40 && (shardsOf[1]?.size ?? 0) < 2; round++) {
    await publish(40);
    await tally.waitForAll(30_000);
  }
  expect(shardsOf[1]?.size).toBe(2);

  await a.close();
  shardsOf[1]?.clear();
  for (let round = 0; round < 40 && (shardsOf[1]?.size ?? 0) < 4; round++) {
    await publish(40);
    await tally.waitForAll(30_000);
  }
  await b.close();
  expect(shardsOf[1]?.size).toBe(4); // after the first member left, the second reads every shard
  expect(tally.missing).toEqual([]);
  expect(tally.duplicates).toBe(0); // hand-overs checkpoint what was handled before releasing
});

test('a restarted consumer resumes from its PostgreSQL checkpoints: nothing missing, duplicates counted', async () => {
  const stream = `resume-pg-${run}`;
  const checkpointStore = { type: 'postgres', url: env.DATABASE_URL as string } as const;
  const producer = open();
  const sent = await producer.publishBatch(Array.from({ length: 300 }, (_, n) => ({ topic: stream, data: { n } })));
  const tally = new Tally();
  tally.expect(sent.map((message) => message.id));

  const before = open({ checkpointStore });
  await before.subscribe(stream, (message) => tally.record(message.id), {
    group: 'resume',
    fromBeginning: true,
    concurrency: 4,
  });
  expect(await tally.waitForAll(30_000, 100)).toBe(true);
  await before.disconnect();
  const handledBefore = tally.receivedUnique;

  const after = open({ checkpointStore });
  const restarted = new Tally();
  restarted.expect(sent.map((message) => message.id));
  await after.subscribe(
    stream,
    (message) => {
      restarted.record(message.id);
      tally.record(message.id);
    },
    { group: 'resume', fromBeginning: true },
  );
  expect(await tally.waitForAll(30_000)).toBe(true);
  await after.deleteTopic(stream); // also removes the group's rows from PostgreSQL
  await after.disconnect();
  expect(tally.missing).toEqual([]);
  // The new consumer starts after the checkpoint: it does not replay what the first one handled.
  expect(restarted.receivedUnique).toBe(300 - handledBefore);
  expect(tally.duplicates).toBe(0);
});

test('resharding: the parent shard is read to its end before its children, so per-key order holds', async () => {
  const stream = `reshard-${run}`;
  const adapter = open({ shardSyncIntervalMs: 500 });
  await adapter.createTopic(stream, { partitions: 1 });
  const tally = new Tally();
  const publish = async (from: number) => {
    const sent = await adapter.publishBatch(
      Array.from({ length: 200 }, (_, n) => ({ topic: stream, key: `k${n % 8}`, data: { seq: from + n } })),
    );
    tally.expect(sent.map((message) => message.id));
  };
  // Records in the parent, then a split into two children, then records in the children: a group
  // reading from the beginning finds all three shards with records at once.
  await publish(0);
  await splitIntoTwoShards(stream);
  await publish(200);

  const seen = new Map<string, number[]>();
  const shards = new Set<string>();
  const subscription = await adapter.subscribe<{ seq: number }>(
    stream,
    async (message) => {
      // Slow enough that the three shards' readers all have records waiting at once.
      await new Promise((resolve) => setTimeout(resolve, 2));
      seen.set(message.key as string, [...(seen.get(message.key as string) ?? []), message.data.seq]);
      shards.add(String(message.meta.shardId));
      tally.record(message.id);
    },
    { group: 'reshard', fromBeginning: true, concurrency: 8 },
  );
  expect(await tally.waitForAll(60_000)).toBe(true);
  await subscription.close();

  expect(shards.size).toBeGreaterThanOrEqual(2); // records came from the parent and from children
  const outOfOrder = [...seen.values()].filter((list) =>
    list.some((seq, index) => index > 0 && seq < (list[index - 1] as number)),
  );
  expect(outOfOrder).toEqual([]);
  expect(tally.missing).toEqual([]);
  expect(tally.duplicates).toBe(0);
});

test('resharding while a consumer reads: it finishes the parent, then continues in the children', async () => {
  const stream = `reshard-live-${run}`;
  const adapter = open({ shardSyncIntervalMs: 500 });
  await adapter.createTopic(stream, { partitions: 1 });
  const tally = new Tally();
  const seen = new Map<string, number[]>();
  const shards = new Set<string>();
  const subscription = await adapter.subscribe<{ seq: number }>(
    stream,
    async (message) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      seen.set(message.key as string, [...(seen.get(message.key as string) ?? []), message.data.seq]);
      shards.add(String(message.meta.shardId));
      tally.record(message.id);
    },
    { group: 'reshard-live', fromBeginning: true, concurrency: 8 },
  );
  const publish = async (from: number) => {
    const sent = await adapter.publishBatch(
      Array.from({ length: 150 }, (_, n) => ({ topic: stream, key: `k${n % 8}`, data: { seq: from + n } })),
    );
    tally.expect(sent.map((message) => message.id));
  };
  await publish(0);
  await splitIntoTwoShards(stream);
  await publish(150);
  expect(await tally.waitForAll(60_000)).toBe(true);
  await subscription.close();

  expect(shards.size).toBe(3);
  const outOfOrder = [...seen.values()].filter((list) =>
    list.some((seq, index) => index > 0 && seq < (list[index - 1] as number)),
  );
  expect(outOfOrder).toEqual([]);
  expect(tally.missing).toEqual([]);
  expect(tally.duplicates).toBe(0);
});

test('throttled and expired-iterator GetRecords calls are retried without loss or duplicates', async () => {
  const stream = `throttle-${run}`;
  const client = rawClient();
  const realSend = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<unknown>;
  let getRecordsCalls = 0;
  const injected: string[] = [];
  (client as { send: unknown }).send = async (command: unknown, options?: unknown) => {
    if (command instanceof GetRecordsCommand) {
      getRecordsCalls++;
      const fault =
        getRecordsCalls % 4 === 1
          ? 'ProvisionedThroughputExceededException'
          : getRecordsCalls % 4 === 3
            ? 'ExpiredIteratorException'
            : undefined;
      if (fault && injected.length < 12) {
        injected.push(fault);
        throw Object.assign(new Error(`${fault} (injected)`), { name: fault });
      }
    }
    return realSend(command, options);
  };
  const adapter = open({ client, getRecordsLimit: 25 });
  const tally = new Tally();
  const sent = await adapter.publishBatch(Array.from({ length: 150 }, (_, n) => ({ topic: stream, data: { n } })));
  tally.expect(sent.map((message) => message.id));
  const subscription = await adapter.subscribe(stream, (message) => tally.record(message.id), {
    group: 'throttled',
    fromBeginning: true,
  });
  expect(await tally.waitForAll(60_000)).toBe(true);
  await subscription.close();
  client.destroy();
  expect(injected).toContain('ProvisionedThroughputExceededException');
  expect(injected).toContain('ExpiredIteratorException');
  expect(tally.missing).toEqual([]);
  expect(tally.duplicates).toBe(0);
});

/** Reshards `stream` from one shard into two children and waits until it is ACTIVE again. */
async function splitIntoTwoShards(stream: string): Promise<void> {
  const client = rawClient();
  try {
    await client.send(
      new UpdateShardCountCommand({ StreamName: stream, TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING' }),
    );
    expect(
      await eventuallyAsync(async () => {
        const { StreamDescriptionSummary } = await client.send(
          new DescribeStreamSummaryCommand({ StreamName: stream }),
        );
        return StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
      }),
    ).toBe(true);
  } finally {
    client.destroy();
  }
}
