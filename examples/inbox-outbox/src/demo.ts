import { randomUUID } from 'node:crypto';
import type { EventAdapter } from '@eventport/core';
import { Inbox, MemoryInboxStore } from '@eventport/inbox';
import type { Pool } from 'pg';
import {
  BillingService,
  INVOICE_ISSUED,
  type InvoiceIssued,
  ORDER_PLACED,
  type OrderPlaced,
} from './billing-service.js';

export interface DemoOptions {
  pool: Pool;
  adapter: EventAdapter;
  schema: string;
  log?: (line: string) => void;
}

export interface DemoResult {
  ordersPublished: number;
  /** Deliveries of orders.placed to billing, duplicates and failed attempts included. */
  orderDeliveries: number;
  invoices: { rows: number; orders: number };
  outboxEvents: number;
  /** Distinct invoices.issued events the downstream service applied. */
  notified: number;
  duplicatesDropped: { billing: number; notifications: number };
}

/**
 * Three orders, delivered at least once and then some: order 2 is published twice (a producer
 * retry), order 3's first attempt fails after both writes (rolled back, redelivered), and one
 * invoice event is published a second time (as a relay that crashed between publish and mark
 * does). Billing writes each invoice and its event once; the downstream service applies each
 * event once.
 */
export async function runInboxOutboxDemo({
  pool,
  adapter,
  schema,
  log = console.log,
}: DemoOptions): Promise<DemoResult> {
  const failedOnce = new Set<string>();
  const billing = new BillingService(pool, schema, (order, attempt) => {
    if (order.customer === 'linus' && attempt === 1 && !failedOnce.has(order.orderId)) {
      failedOnce.add(order.orderId);
      log(`✗ billing attempt 1 for ${order.orderId} fails after writing: invoice and event roll back together`);
      throw new Error('payment provider timed out');
    }
  });
  await billing.migrate();

  // Downstream: a notification service with its own inbox (in memory here) on invoices.issued.
  const notifications = new Inbox({ store: new MemoryInboxStore() });
  const notified = new Map<string, InvoiceIssued>();
  const downstream = await adapter.subscribe<InvoiceIssued>(
    INVOICE_ISSUED,
    notifications.handler((message) => {
      notified.set(message.id, message.data);
      log(
        `← notifications: invoice ${message.data.invoiceId} for ${message.data.customer} (${message.data.amountCents} cents)`,
      );
    }),
    { group: 'notifications' },
  );
  // Subscribe before publishing: some backends keep messages only for groups that exist.
  const subscription = await billing.start(adapter);
  const relay = billing.relay(adapter);
  relay.start();

  const orders: OrderPlaced[] = [
    { orderId: randomUUID(), customer: 'ada', totalCents: 1250 },
    { orderId: randomUUID(), customer: 'grace', totalCents: 990 },
    { orderId: randomUUID(), customer: 'linus', totalCents: 4200 },
  ];
  for (const order of orders) {
    await adapter.publish({
      topic: ORDER_PLACED,
      id: `order-placed-${order.orderId}`,
      key: order.customer,
      data: order,
    });
    log(`→ orders.placed ${order.orderId} for ${order.customer}`);
  }
  const again = orders[1] as OrderPlaced;
  await adapter.publish({ topic: ORDER_PLACED, id: `order-placed-${again.orderId}`, key: again.customer, data: again });
  log(`→ orders.placed ${again.orderId} published again (a producer retry)`);

  const deadline = Date.now() + 30_000;
  const waitFor = async (done: () => boolean) => {
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  await waitFor(() => notified.size >= orders.length && billing.inbox.stats().duplicates >= 1);
  // A relay that crashed after publishing and before marking publishes its batch again.
  const first = orders[0] as OrderPlaced;
  const replayed = await billing.outbox.get(`invoice-issued-${first.orderId}`);
  if (replayed) {
    await adapter.publish({
      topic: INVOICE_ISSUED,
      id: replayed.id,
      key: replayed.key ?? first.customer,
      headers: replayed.headers,
      data: {
        invoiceId: `inv-${first.orderId}`,
        orderId: first.orderId,
        customer: first.customer,
        amountCents: first.totalCents,
      },
    });
    log(`→ invoices.issued ${replayed.id} published again (a relay crashed before marking it)`);
  }
  await waitFor(() => notifications.stats().duplicates >= 1);

  await relay.stop();
  await subscription.close();
  const orderIds = orders.map((order) => order.orderId);
  await downstream.close();
  const result: DemoResult = {
    ordersPublished: orders.length,
    orderDeliveries: billing.deliveries,
    invoices: await billing.countInvoices(orderIds),
    outboxEvents: await billing.countEvents(orderIds),
    notified: notified.size,
    duplicatesDropped: { billing: billing.inbox.stats().duplicates, notifications: notifications.stats().duplicates },
  };
  log(
    `done: ${result.ordersPublished} orders, ${result.orderDeliveries} deliveries, ${result.invoices.rows} invoices, ` +
      `${result.outboxEvents} events, ${result.notified} notified; duplicates dropped: billing ${result.duplicatesDropped.billing}, ` +
      `notifications ${result.duplicatesDropped.notifications}`,
  );
  return result;
}
