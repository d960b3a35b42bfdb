import { randomUUID } from 'node:crypto';
import type { EventAdapter } from '@eventport/core';
import { createKafkaAdapter } from '@eventport/kafka';
import { eventually, Tally } from '@eventport/testkit';
import { afterAll, expect, test } from '@jest/globals';
import { testBroker } from './broker';

const broker = testBroker();
const adapter: EventAdapter = createKafkaAdapter({
  brokers: broker.servers,
  topicAdmin: !broker.isMock,
  sessionTimeout: 6_000,
  heartbeatInterval: 500,
});
const topicFor = (name: string) => `ep-kafka-${name}-${randomUUID().slice(0, 8)}`;

afterAll(() => adapter.disconnect());

test('a failed record is redelivered before any later record with its key; per-key order holds', async () => {
  const topic = topicFor('order-nack');
  const failuresLeft = new Map<number, number>([
    [10, 1],
    [205, 1],
    [333, 3],
  ]);
  const started = new Map<string, number[]>();
  const finished = new Map<string, number[]>();
  const attemptsOf333: number[] = [];
  const tally = new Tally();
  const subscription = await adapter.subscribe<{ seq: number }>(
    topic,
    async (message) => {
      const key = message.key as string;
      const { seq } = message.data;
      started.set(key, [...(started.get(key) ?? []), seq]);
      if (seq === 333) attemptsOf333.push(message.attempt);
      const left = failuresLeft.get(seq) ?? 0;
      if (left > 0) {
        failuresLeft.set(seq, left - 1);
        throw new Error(`planned failure of ${seq}`);
      }
      finished.set(key, [...(finished.get(key) ?? []), seq]);
      tally.record(message.id);
    },
    { group: 'order', concurrency: 16, fromBeginning: true, redeliveryDelayMs: () => 50 },
  );
  const sent = await adapter.publishBatch(
    Array.from({ length: 600 }, (_, seq) => ({ topic, key: `k${seq % 6}`, data: { seq } })),
  );
  tally.expect(sent.map((message) => message.id));
  await tally.waitForAll(60_000);
  await subscription.close();
  expect(tally.missing).toHaveLength(0);
  expect(tally.duplicates).toBe(0);
  for (const [key, seqs] of finished) {
    expect({ key, seqs }).toEqual({ key, seqs: [...seqs].sort((a, b) => a - b) });
  }
  // A retry repeats the same record; no later record of that key starts in between.
  for (const [key, seqs] of started) {
    for (let index = 1; index < seqs.length; index++) {
      expect({ key, at: index, before: seqs[index - 1], now: seqs[index] }).toEqual({
        key,
        at: index,
        before: seqs[index - 1],
        now: Math.max(seqs[index] as number, seqs[index - 1] as number),
      });
    }
  }
  expect(attemptsOf333).toEqual([1, 2, 3, 4]);
});

test('nothing after a failing record is committed: a new member of the group gets it and everything after it', async () => {
  const topic = topicFor('order-commit');
  const poison = 40;
  const firstRound = new Tally();
  let poisonAttempts = 0;
  const subscription = await adapter.subscribe<{ seq: number }>(
    topic,
    (message) => {
      if (message.data.seq === poison) {
        poisonAttempts++;
        throw new Error('still failing');
      }
      firstRound.record(message.id);
    },
    { group: 'commit', concurrency: 8, fromBeginning: true, redeliveryDelayMs: () => 50 },
  );
  // One key, so one partition: the poison record blocks its key and holds the committed offset.
  const sent = await adapter.publishBatch(
    Array.from({ length: 100 }, (_, seq) => ({ topic, key: 'single', data: { seq } })),
  );
  firstRound.expect(sent.map((message) => message.id));
  expect(await eventually(() => poisonAttempts >= 3, 30_000)).toBe(true);
  await subscription.close();
  // Order per key: nothing after the poison record was handled while it kept failing.
  expect(firstRound.receivedUnique).toBe(poison);

  const secondRound = new Tally();
  secondRound.expect(sent.slice(poison).map((message) => message.id));
  const again = await adapter.subscribe(topic, (message) => secondRound.record(message.id), {
    group: 'commit',
    concurrency: 8,
  });
  const complete = await secondRound.waitForAll(60_000);
  await again.close();
  expect(complete).toBe(true);
  // Records before the poison one were committed and are not delivered again.
  expect(secondRound.strangers).toHaveLength(0);
});

test('a failing key holds back only itself: key A fails 3 times while 100 records of other keys on its partition are all handled', async () => {
  const topic = topicFor('key-isolation');
  // One partition, so every key shares it: the old per-partition key gates are gone, core retries A in place.
  if (broker.control) await broker.control(`create ${topic} 1`);
  else await adapter.createTopic(topic, { partitions: 1 });
  const attemptsOfA: number[] = [];
  const orderOfA: number[] = [];
  const others = new Tally();
  const partitions = new Set<unknown>();
  let othersHandledBeforeA = -1;
  const subscription = await adapter.subscribe<{ seq: number }>(
    topic,
    (message) => {
      partitions.add(message.meta.partition);
      if (message.key !== 'A') {
        others.record(message.id);
        return;
      }
      if (message.data.seq === 0) {
        attemptsOfA.push(message.attempt);
        if (message.attempt <= 3) throw new Error('planned failure of A');
        othersHandledBeforeA = others.receivedUnique;
      }
      orderOfA.push(message.data.seq);
    },
    { group: 'isolation', concurrency: 8, fromBeginning: true, redeliveryDelayMs: () => 1_000 },
  );
  // A's second record comes before the others: a per-partition gate would hold them all behind it.
  const sent = await adapter.publishBatch([
    { topic, key: 'A', data: { seq: 0 } },
    { topic, key: 'A', data: { seq: 1 } },
    ...Array.from({ length: 100 }, (_, n) => ({ topic, key: `other-${n % 10}`, data: { seq: n } })),
    { topic, key: 'A', data: { seq: 2 } },
  ]);
  others.expect(sent.filter((message) => message.key !== 'A').map((message) => message.id));
  expect(await others.waitForAll(30_000)).toBe(true);
  expect(await eventually(() => orderOfA.length === 3, 30_000)).toBe(true);
  await subscription.close();
  expect(partitions).toEqual(new Set([0]));
  expect(attemptsOfA).toEqual([1, 2, 3, 4]);
  // All 100 were handled while A was still failing; A's later records waited for it.
  expect(othersHandledBeforeA).toBe(100);
  expect(orderOfA).toEqual([0, 1, 2]);
  expect(others.duplicates).toBe(0);
});
