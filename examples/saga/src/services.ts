import type { EventChannel, Subscription } from '@eventport/core';
import { type EventOf, emit, type SagaEvent } from './events.js';

type Channel = EventChannel<typeof SagaEvent>;

/** Inventory: reserves stock for placed orders and releases it when the saga asks. */
export async function startInventoryService(channel: Channel, stock: Map<string, number>): Promise<Subscription[]> {
  const reservations = new Map<string, { sku: string; quantity: number }>();
  return Promise.all([
    channel.pull(
      'order.placed',
      async (message) => {
        const order = message.data as EventOf<'order.placed'>;
        const available = stock.get(order.sku) ?? 0;
        if (available < order.quantity) {
          await emit(channel, {
            type: 'inventory.rejected',
            orderId: order.orderId,
            reason: `only ${available} of ${order.sku} left`,
          });
          return;
        }
        stock.set(order.sku, available - order.quantity);
        reservations.set(order.orderId, { sku: order.sku, quantity: order.quantity });
        await emit(channel, { type: 'inventory.reserved', orderId: order.orderId });
      },
      { group: 'inventory' },
    ),
    channel.pull(
      'inventory.release-requested',
      async (message) => {
        const { orderId } = message.data;
        const reservation = reservations.get(orderId);
        if (reservation) stock.set(reservation.sku, (stock.get(reservation.sku) ?? 0) + reservation.quantity);
        reservations.delete(orderId);
        await emit(channel, { type: 'inventory.released', orderId });
      },
      { group: 'inventory' },
    ),
  ]);
}

/** Payment: charges reserved orders; fails above a limit, which starts the compensation. */
export async function startPaymentService(
  channel: Channel,
  amounts: Map<string, number>,
  limitCents: number,
): Promise<Subscription> {
  return channel.pull(
    'inventory.reserved',
    async (message) => {
      const { orderId } = message.data;
      const amount = amounts.get(orderId) ?? 0;
      if (amount > limitCents) {
        await emit(channel, {
          type: 'payment.failed',
          orderId,
          reason: `amount ${amount} exceeds the ${limitCents} limit`,
        });
      } else {
        await emit(channel, { type: 'payment.charged', orderId });
      }
    },
    { group: 'payment' },
  );
}
