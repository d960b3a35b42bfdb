import { randomUUID } from 'node:crypto';
import type { EventAdapter, EventportError } from '@eventport/core';
import { createKafkaAdapter } from '@eventport/kafka';
import { sleep, Tally } from '@eventport/testkit';
import { afterAll, expect, test } from '@jest/globals';
import { restartMock, testBroker } from './broker';

const broker = testBroker();
const adapters: EventAdapter[] = [];
const open = () => {
  const adapter = createKafkaAdapter({
    brokers: broker.servers,
    topicAdmin: !broker.isMock,
    sessionTimeout: 6_000,
    heartbeatInterval: 500,
  });
  adapters.push(adapter);
  return adapter;
};

afterAll(async () => {
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
});

if (!broker.control) {
  console.log('kafka faults: no kafka-mock control FIFO (real Kafka at KAFKA_SERVER): fault injection not applicable');
}
const testWithFaults = broker.control ? test : test.skip;

testWithFaults(
  'single brokers down and up twice, plus injected produce/fetch/commit errors, while 10,000 messages flow to a group of two: none missing',
  async () => {
    const control = broker.control as (command: string) => Promise<void>;
    const topic = `ep-kafka-faults-${randomUUID().slice(0, 8)}`;
    const tally = new Tally();
    const producer = open();
    const members = [open(), open()];
    const subscriptions = [];
    for (const member of members) {
      subscriptions.push(
        await member.subscribe(topic, (message) => tally.record(message.id), {
          group: 'faults',
          fromBeginning: true,
          concurrency: 32,
          redeliveryDelayMs: () => 20,
        }),
      );
    }
    const publishing = (async () => {
      for (let chunk = 0; chunk < 100; chunk++) {
        const batch = Array.from({ length: 100 }, (_, n) => ({
          topic,
          key: `k${n % 10}`,
          id: `${topic}-${chunk * 100 + n}`,
          data: { n: chunk * 100 + n },
        }));
        tally.expect(batch.map((message) => message.id));
        // What an application does with a publish that failed while a broker was away: try again.
        for (let attempt = 1; ; attempt++) {
          try {
            await producer.publishBatch(batch);
            break;
          } catch (error) {
            if (attempt > 60) throw error;
            await sleep(500);
          }
        }
        await sleep(20);
      }
    })();
    const brokerIds = broker.servers.map((_, index) => index + 1);
    await sleep(500);
    for (const round of [0, 1]) {
      const id = brokerIds[round % brokerIds.length] as number;
      await control(`down ${id}`);
      await sleep(1_500);
      await control(`up ${id}`);
      await sleep(500);
    }
    // 6 NOT_LEADER_OR_FOLLOWER, 7 REQUEST_TIMED_OUT, 27 REBALANCE_IN_PROGRESS
    await control('errors 0 6 3');
    await control('errors 1 6 3');
    await control('errors 8 27 2');
    await publishing;
    const complete = await tally.waitForAll(180_000);
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
    console.log(
      `kafka faults: published=${tally.published.size} received-unique=${tally.receivedUnique} missing=${tally.missing.length} duplicates=${tally.duplicates}`,
    );
    expect(complete).toBe(true);
    expect(tally.missing).toHaveLength(0);
  },
  400_000,
);

testWithFaults(
  'every broker restarted twice for 2 s during 3,000 publishes at 200/s: none rejected, none lost',
  async () => {
    const topic = `ep-kafka-restart-publish-${randomUUID().slice(0, 8)}`;
    const producer = open();
    await producer.connect();
    const accepted: string[] = [];
    const rejected = new Map<string, number>();
    const publishes: Promise<void>[] = [];
    const started = Date.now();
    const restarts = (async () => {
      await sleep(3_000);
      await restartMock(broker, 2_000);
      await sleep(4_000);
      await restartMock(broker, 2_000);
    })();
    for (let n = 0; n < 3_000; n++) {
      // 200/s on the clock, whatever the publishes in flight are doing.
      await sleep(started + n * 5 - Date.now());
      publishes.push(
        producer.publish({ topic, id: `${topic}-${n}`, data: { n } }).then(
          (message) => void accepted.push(message.id),
          (error: EventportError) => void rejected.set(error.code, (rejected.get(error.code) ?? 0) + 1),
        ),
      );
    }
    await Promise.all(publishes);
    await restarts;
    const tally = new Tally();
    tally.expect(Array.from({ length: 3_000 }, (_, n) => `${topic}-${n}`));
    const subscription = await open().subscribe(topic, (message) => tally.record(message.id), {
      group: 'restart-publish',
      fromBeginning: true,
      concurrency: 32,
    });
    await tally.waitForAll(120_000);
    await subscription.close();
    console.log(
      `kafka restart during publish: published=${accepted.length} rejected=${JSON.stringify(Object.fromEntries(rejected))} received-unique=${tally.receivedUnique} missing=${tally.missing.length} duplicates=${tally.duplicates}`,
    );
    expect(Object.fromEntries(rejected)).toEqual({});
    expect(accepted).toHaveLength(3_000);
    expect(tally.missing).toHaveLength(0);
  },
  300_000,
);
