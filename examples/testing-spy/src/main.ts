/**
 * Runs the confirmation service with a fake payment gateway and places two orders, one of which is
 * declined and ends up in the dead-letter topic. Memory by default; any backend via EVENT_TYPE.
 */
import { createAdapter } from '@eventport/core';
import { withDeadLetters } from '@eventport/dlq';
import { type PaymentGateway, startConfirmations, TOPICS } from './confirmations.js';

const payments: PaymentGateway = {
  async charge(customer, cents) {
    if (customer === 'mallory') throw new Error(`card of ${customer} declined`);
    return `charge-${customer}-${cents}`;
  },
};

async function main(): Promise<void> {
  const adapter = withDeadLetters(await createAdapter(), { maxAttempts: 2, initialDelayMs: 50 });
  let confirmed = 0;
  const watching = await adapter.subscribe(TOPICS.confirmed, (message) => {
    confirmed++;
    console.log(`confirmed ${JSON.stringify(message.data)}`);
  });
  const service = await startConfirmations(adapter, payments);
  await adapter.publish({ topic: TOPICS.placed, data: { orderId: 'o-1', customer: 'alice', totalCents: 1250 } });
  await adapter.publish({ topic: TOPICS.placed, data: { orderId: 'o-2', customer: 'mallory', totalCents: 990 } });
  const deadline = Date.now() + 10_000;
  while (confirmed < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await service.close();
  await watching.close();
  await adapter.disconnect();
  console.log(`done: ${confirmed} confirmed; the declined order is on ${TOPICS.placed}.dlq`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
