import type { EventChannel, Subscription } from '@eventport/core';
import { type EventOf, emit, SAGA_EVENT_TYPES, type SagaEvent, type SagaEventType } from './events.js';

export type OrderState = 'placed' | 'reserved' | 'compensating' | 'confirmed' | 'cancelled';

export interface OrderSagaState {
  orderId: string;
  state: OrderState;
  history: SagaEventType[];
}

/**
 * The orchestrator. Its state is a fold over the order's events, so a restarted saga rebuilds it by
 * replaying them (on backends that retain history) instead of keeping a database of its own.
 */
export class OrderSaga {
  readonly orders = new Map<string, OrderSagaState>();
  private subscriptions: Subscription[] = [];

  constructor(private readonly channel: EventChannel<typeof SagaEvent>) {}

  /**
   * Folds one event into the state and returns what the saga publishes next, if anything. The state
   * is derived from the set of events seen, not their order: a replay reads each event type from its
   * own topic, so events of one order can come back in a different order across topics.
   */
  apply(event: SagaEvent): SagaEvent | undefined {
    const order = this.orders.get(event.orderId) ?? {
      orderId: event.orderId,
      state: 'placed' as OrderState,
      history: [],
    };
    order.history.push(event.type);
    order.state = deriveState(new Set(order.history));
    this.orders.set(event.orderId, order);
    return nextStep(event);
  }

  /** Live: reacts to every event of the flow and publishes the next step. */
  async start(): Promise<void> {
    this.subscriptions = await Promise.all(
      SAGA_EVENT_TYPES.filter((type) => !type.startsWith('order.') || type === 'order.placed').map((type) =>
        this.channel.pull(
          type,
          async (message) => {
            const next = this.apply(message.data);
            if (next) await emit(this.channel, next);
          },
          { group: 'order-saga' },
        ),
      ),
    );
  }

  /**
   * After a restart: replays every retained event of the flow into the state, publishing nothing
   * (the steps were published the first time). Returns once `idleMs` passes without an event.
   */
  async rebuild(options: { idleMs?: number } = {}): Promise<void> {
    const group = `order-saga-rebuild-${Date.now()}`;
    let lastEventAt = Date.now();
    const replaying = await Promise.all(
      SAGA_EVENT_TYPES.map((type) =>
        this.channel.pull(
          type,
          (message) => {
            lastEventAt = Date.now();
            this.apply(message.data);
          },
          { group, fromBeginning: true, concurrency: 1 },
        ),
      ),
    );
    const idleMs = options.idleMs ?? 500;
    while (Date.now() - lastEventAt < idleMs) await new Promise((resolve) => setTimeout(resolve, 50));
    await Promise.all(replaying.map((subscription) => subscription.close()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.subscriptions.map((subscription) => subscription.close()));
  }
}

function deriveState(seen: Set<SagaEventType>): OrderState {
  if (seen.has('order.cancelled') || seen.has('inventory.released') || seen.has('inventory.rejected'))
    return 'cancelled';
  if (seen.has('order.confirmed') || seen.has('payment.charged')) return 'confirmed';
  if (seen.has('payment.failed') || seen.has('inventory.release-requested')) return 'compensating';
  if (seen.has('inventory.reserved')) return 'reserved';
  return 'placed';
}

function nextStep(event: SagaEvent): SagaEvent | undefined {
  switch (event.type) {
    case 'inventory.rejected':
      return {
        type: 'order.cancelled',
        orderId: event.orderId,
        reason: (event as EventOf<'inventory.rejected'>).reason,
      };
    case 'payment.charged':
      return { type: 'order.confirmed', orderId: event.orderId };
    case 'payment.failed':
      return { type: 'inventory.release-requested', orderId: event.orderId };
    case 'inventory.released':
      return { type: 'order.cancelled', orderId: event.orderId, reason: 'payment failed; inventory released' };
    default:
      return undefined;
  }
}
