import { randomUUID } from 'node:crypto';
import type { ReceivedMessage } from '@eventport/core';
import { createKafkaAdapter, type KafkaNative } from '@eventport/kafka';
import { Tally } from '@eventport/testkit';
import { afterAll, expect, jest, test } from '@jest/globals';
import { type CloudEvent, Kafka } from 'cloudevents';
import { testBroker } from './broker';

const broker = testBroker();
// The idempotent producer starts with InitProducerId sent to the controller, which the mock names
// as broker 0, not one of its brokers ("Broker 0 not found in the cached metadata"): real Kafka only.
const idempotent = !broker.isMock;
if (!idempotent)
  console.log(
    'kafka producer: mock cluster cannot serve the idempotent producer (no controller broker); testing without it',
  );
const adapter = createKafkaAdapter({
  brokers: broker.servers,
  topicAdmin: !broker.isMock,
  idempotent,
  compression: 'gzip',
  sessionTimeout: 6_000,
  heartbeatInterval: 500,
});

afterAll(() => adapter.disconnect());

test('gzip producer (idempotent on real Kafka): publishBatch is one send per topic; keys pin partitions; headers and body round-trip', async () => {
  const run = randomUUID().slice(0, 8);
  const topics = [`ep-kafka-producer-a-${run}`, `ep-kafka-producer-b-${run}`];
  await adapter.connect();
  const { producer } = adapter.native() as KafkaNative;
  const originalSend = producer.send.bind(producer);
  const wire: Array<{ headers?: Record<string, unknown>; value: Buffer | string | null }> = [];
  const send = jest.spyOn(producer, 'send').mockImplementation((request) => {
    wire.push(...request.messages);
    return originalSend(request);
  });
  const sent = await adapter.publishBatch(
    Array.from({ length: 60 }, (_, n) => ({
      topic: topics[n % 2] as string,
      key: `customer-${n % 5}`,
      headers: { 'x-n': String(n), 'x-unicode': 'zażółć 🚀' },
      data: { n },
    })),
  );
  expect(send).toHaveBeenCalledTimes(2);
  send.mockRestore();
  // The Kafka binding of CloudEvents 1.0: what goes on the wire is a valid binary-mode event.
  const first = wire[0] as { headers: Record<string, Buffer | string>; value: Buffer };
  expect(Object.keys(first.headers)).toEqual(
    expect.arrayContaining(['ce_specversion', 'ce_id', 'ce_type', 'ce_source', 'ce_time']),
  );
  const event = Kafka.toEvent({ headers: first.headers, value: first.value, body: first.value } as never) as CloudEvent;
  expect(event.validate()).toBe(true);
  expect(event.id).toBe(sent[0]?.id);

  const tally = new Tally();
  tally.expect(sent.map((message) => message.id));
  const received = new Map<string, ReceivedMessage>();
  const subscriptions = await Promise.all(
    topics.map((topic) =>
      adapter.subscribe(
        topic,
        (message) => {
          received.set(message.id, message);
          tally.record(message.id);
        },
        { group: 'producer', fromBeginning: true },
      ),
    ),
  );
  const complete = await tally.waitForAll(60_000);
  await Promise.all(subscriptions.map((subscription) => subscription.close()));
  expect(complete).toBe(true);
  const partitionOf = new Map<string, number>();
  for (const message of sent) {
    const got = received.get(message.id) as ReceivedMessage;
    expect(got.headers).toEqual(message.headers);
    expect(got.data).toEqual(message.data);
    expect(got.meta).toMatchObject({ topic: message.topic, partition: expect.any(Number), offset: expect.any(String) });
    const slot = `${message.topic}/${message.key}`;
    const partition = got.meta.partition as number;
    expect(partitionOf.get(slot) ?? partition).toBe(partition);
    partitionOf.set(slot, partition);
  }
});
