/**
 * Runs the order saga end to end: one order that succeeds and one whose payment fails and is
 * compensated, then a restarted saga that rebuilds its state from the events.
 *   EVENT_TYPE=redis-streams node examples/saga/dist/main.js
 */
import { createAdapter } from '@eventport/core';
import { emit, sagaChannel } from './events.js';
import { OrderSaga } from './saga.js';
import { startInventoryService, startPaymentService } from './services.js';

export async function runSagaDemo(log: (line: string) => void = console.log): Promise<Map<string, string>> {
  const adapter = await createAdapter();
  const run = Date.now().toString(36);
  const channel = sagaChannel(adapter, `saga-${run}`);
  const amounts = new Map([
    ['order-ok', 4_000],
    ['order-too-expensive', 90_000],
  ]);
  const services = [
    ...(await startInventoryService(channel, new Map([['sku-1', 10]]))),
    await startPaymentService(channel, amounts, 50_000),
  ];
  const saga = new OrderSaga(channel);
  await saga.start();

  for (const [orderId, amountCents] of amounts) {
    await emit(channel, { type: 'order.placed', orderId, sku: 'sku-1', quantity: 2, amountCents });
    log(`placed ${orderId} (${amountCents} cents)`);
  }
  const deadline = Date.now() + 30_000;
  const settled = () =>
    [...amounts.keys()].every((id) => ['confirmed', 'cancelled'].includes(saga.orders.get(id)?.state ?? ''));
  while (!settled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  // Let the last outcome events reach the broker before stopping the saga.
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const order of saga.orders.values()) log(`${order.orderId}: ${order.state} via ${order.history.join(' → ')}`);
  await saga.stop();
  await Promise.all(services.map((service) => service.close()));

  const outcome = new Map([...saga.orders].map(([id, order]) => [id, order.state as string]));
  if (adapter.capabilities.replayFromStart) {
    const restarted = new OrderSaga(channel);
    await restarted.rebuild();
    for (const order of restarted.orders.values())
      log(`rebuilt after restart: ${order.orderId} is ${order.state} (from ${[...order.history].sort().join(', ')})`);
    for (const [id, order] of restarted.orders) outcome.set(`rebuilt:${id}`, order.state);
  } else {
    log(`${adapter.backend} keeps no history for new groups: a restarted saga would load its state from its own store`);
  }
  await adapter.disconnect();
  return outcome;
}

if (require.main === module) {
  runSagaDemo().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  });
}
