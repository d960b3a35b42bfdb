import { randomUUID } from 'node:crypto';
import { silentLogger } from '@eventport/core';
import { type DeadLetter, listDeadLetters, withDeadLetters } from '@eventport/dlq';
import { createKafkaAdapter, type KafkaNative } from '@eventport/kafka';
import { eventually } from '@eventport/testkit';
import { expect, it } from '@jest/globals';
import { testBroker } from '../../kafka/test/broker';

const broker = testBroker();

// The defect this reproduces: another tool wrote a 2 MB record, which cannot be published to
// <topic>.dlq under Kafka's 1 MB limit, so the message was redelivered without end.
it('kafka: a 2 MB record another tool wrote is dead-lettered truncated after maxAttempts, not redelivered forever', async () => {
  const topic = `ep-dlq-kafka-large-${randomUUID().slice(0, 8)}`;
  const options = { brokers: broker.servers, topicAdmin: !broker.isMock, logger: silentLogger };
  const adapter = withDeadLetters(createKafkaAdapter(options), {
    maxAttempts: 2,
    initialDelayMs: 10,
    maxDelayMs: 50,
    logger: silentLogger,
  });
  await adapter.connect();
  try {
    const body = JSON.stringify({ huge: 'x'.repeat(2 * 1024 * 1024) });
    const { producer } = adapter.native() as KafkaNative;
    await producer.send({ topic, messages: [{ value: body, headers: { 'content-type': 'application/json' } }] });
    let runs = 0;
    const subscription = await adapter.subscribe(
      topic,
      () => {
        runs++;
        throw new Error('cannot process');
      },
      { group: 'large-records', fromBeginning: true },
    );
    let letter: DeadLetter | undefined;
    // Each listing joins a group of its own: on Kafka that takes seconds before the first record.
    const landed = await eventually(async () => {
      [letter] = await listDeadLetters(adapter, topic, { limit: 1, startTimeoutMs: 20_000, idleMs: 1_000 });
      return letter !== undefined;
    }, 60_000);
    expect(landed).toBe(true);
    expect(letter?.truncatedFrom).toBe(Buffer.byteLength(body));
    expect((letter?.data as Buffer | undefined)?.length).toBeLessThan(1024 * 1024);
    await subscription.close();
    expect(runs).toBe(2);
  } finally {
    await adapter.disconnect();
  }
}, 120_000);
