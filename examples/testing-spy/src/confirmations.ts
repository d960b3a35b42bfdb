/**
 * The service under test: for every order placed, charge the customer, then announce the order as
 * confirmed. A declined card throws, so the message is retried and, with withDeadLetters around
 * the adapter, dead-lettered; an order that fails the schema never reaches the handler.
 */
import { type EventAdapter, EventChannel, type Subscription } from '@eventport/core';
import { z } from 'zod';

export const OrderPlaced = z.object({
  orderId: z.string().min(1),
  customer: z.string().min(1),
  totalCents: z.number().int().positive(),
});
export const OrderConfirmed = z.object({ orderId: z.string(), chargeId: z.string() });

export interface PaymentGateway {
  /** Resolves with the charge's id; rejects when the card is declined. */
  charge(customer: string, cents: number): Promise<string>;
}

export const TOPICS = { placed: 'shop.order-placed', confirmed: 'shop.order-confirmed' } as const;

export async function startConfirmations(adapter: EventAdapter, payments: PaymentGateway): Promise<Subscription> {
  const placed = new EventChannel({ schema: OrderPlaced, topicPrefix: 'shop', adapter });
  const confirmed = new EventChannel({ schema: OrderConfirmed, topicPrefix: 'shop', adapter });
  return placed.pull(
    'order-placed',
    async (event) => {
      const chargeId = await payments.charge(event.data.customer, event.data.totalCents);
      // Keyed by order: every event of one order stays in order on backends that order by key.
      await confirmed.push('order-confirmed', { orderId: event.data.orderId, chargeId }, { key: event.data.orderId });
    },
    { group: 'confirmations' },
  );
}
