import { type EventAdapter, EventChannel } from '@eventport/core';
import { z } from 'zod';

/** Every event of the order flow, one topic per type under the "saga" prefix. */
export const SagaEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('order.placed'),
    orderId: z.string(),
    sku: z.string(),
    quantity: z.number().int().positive(),
    amountCents: z.number().int().positive(),
  }),
  z.object({ type: z.literal('inventory.reserved'), orderId: z.string() }),
  z.object({ type: z.literal('inventory.rejected'), orderId: z.string(), reason: z.string() }),
  z.object({ type: z.literal('payment.charged'), orderId: z.string() }),
  z.object({ type: z.literal('payment.failed'), orderId: z.string(), reason: z.string() }),
  z.object({ type: z.literal('inventory.release-requested'), orderId: z.string() }),
  z.object({ type: z.literal('inventory.released'), orderId: z.string() }),
  z.object({ type: z.literal('order.confirmed'), orderId: z.string() }),
  z.object({ type: z.literal('order.cancelled'), orderId: z.string(), reason: z.string() }),
]);
export type SagaEvent = z.infer<typeof SagaEvent>;
export type SagaEventType = SagaEvent['type'];
export type EventOf<T extends SagaEventType> = Extract<SagaEvent, { type: T }>;

export const SAGA_EVENT_TYPES = SagaEvent.options.map((option) => option.shape.type.value) as SagaEventType[];

export function sagaChannel(adapter: EventAdapter, prefix = 'saga'): EventChannel<typeof SagaEvent> {
  return new EventChannel({ schema: SagaEvent, topicPrefix: prefix, adapter });
}

/** Publishes an event on its own topic, keyed by order so each order's events stay in order. */
export function emit(channel: EventChannel<typeof SagaEvent>, event: SagaEvent) {
  return channel.push(event.type, event, { key: event.orderId });
}
