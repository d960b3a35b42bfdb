/**
 * A producer and a consumer sharing one typed channel. Runs on the in-memory backend by default;
 * set EVENT_TYPE (and that backend's env vars) to run the same code on Kafka, RabbitMQ, Kinesis,
 * Pub/Sub or Redis Streams.
 */
import { createAdapter, EventChannel } from '@eventport/core';
import { z } from 'zod';

const OrderEvent = z.object({
  orderId: z.string(),
  customer: z.string(),
  totalCents: z.number().int().nonnegative(),
});

async function main(): Promise<void> {
  const adapter = await createAdapter();
  console.log(`backend: ${adapter.backend}`);
  const orders = new EventChannel({
    schema: OrderEvent,
    topicPrefix: 'quickstart',
    adapter,
    onInvalid: (error) => console.error(`invalid event diverted: ${error.message}`),
  });

  const expected = 5;
  let consumed = 0;
  let allConsumed: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    allConsumed = resolve;
  });
  // Subscribe before publishing: some backends only keep messages for groups that already exist.
  const subscription = await orders.pull(
    'placed',
    (event) => {
      consumed++;
      console.log(
        `← consumed ${event.data.orderId} for ${event.data.customer} (${event.data.totalCents} cents, attempt ${event.attempt})`,
      );
      if (consumed === expected) allConsumed();
    },
    { group: 'quickstart-billing' },
  );

  for (let n = 1; n <= expected; n++) {
    const event = await orders.push(
      'placed',
      { orderId: `order-${n}`, customer: `customer-${n % 2}`, totalCents: n * 1250 },
      { key: `customer-${n % 2}` },
    );
    console.log(`→ published ${event.data.orderId} to ${event.topic} (id ${event.id})`);
  }

  const timeout = setTimeout(() => {
    console.error(`timed out: consumed ${consumed} of ${expected}`);
    process.exit(1);
  }, 60_000);
  await done;
  clearTimeout(timeout);
  await subscription.close();
  await adapter.disconnect();
  console.log(`done: ${consumed} of ${expected} events consumed`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
