import { randomUUID } from 'node:crypto';
import { type EventAdapter, EventportError } from '@eventport/core';
import { OutboxRelay, PostgresOutboxStore } from '@eventport/outbox';
import type { Pool } from 'pg';

export const ORDER_CREATED = 'orders.created';

export interface OrderCreated {
  orderId: string;
  customer: string;
  totalCents: number;
}

/**
 * The business side: an order row and its "created" event are written in one transaction, so
 * either both exist or neither does. Nothing here talks to the broker.
 */
export class OrderService {
  readonly outbox: PostgresOutboxStore;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new EventportError('INVALID_ARGUMENT', `schema must be a lower-case SQL identifier (got "${schema}")`);
    }
    this.outbox = new PostgresOutboxStore({ pool, table: `${schema}.outbox` });
  }

  async migrate(): Promise<void> {
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS ${this.schema}.orders (
        id uuid PRIMARY KEY,
        customer text NOT NULL,
        total_cents integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await this.outbox.migrate();
  }

  async placeOrder(customer: string, totalCents: number): Promise<OrderCreated> {
    const order: OrderCreated = { orderId: randomUUID(), customer, totalCents };
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${this.schema}.orders (id, customer, total_cents) VALUES ($1, $2, $3)`, [
        order.orderId,
        customer,
        totalCents,
      ]);
      await this.outbox.add(client, {
        topic: ORDER_CREATED,
        key: customer,
        id: `order-created-${order.orderId}`,
        data: order,
      });
      // A rule checked after both writes: failing it rolls back the order AND its event.
      if (totalCents <= 0)
        throw new EventportError('INVALID_ARGUMENT', `order total must be positive (got ${totalCents})`);
      await client.query('COMMIT');
      return order;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  async countOrders(): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(`SELECT count(*) AS count FROM ${this.schema}.orders`);
    return Number(rows[0]?.count ?? 0);
  }
}

export interface DemoOptions {
  pool: Pool;
  adapter: EventAdapter;
  schema: string;
  log?: (line: string) => void;
}

export interface DemoResult {
  placed: OrderCreated[];
  rejected: number;
  consumed: OrderCreated[];
}

/** Places three orders and one invalid one, relays the events, and prints what a consumer receives. */
export async function runOrderDemo({ pool, adapter, schema, log = console.log }: DemoOptions): Promise<DemoResult> {
  const service = new OrderService(pool, schema);
  await service.migrate();

  const consumed: OrderCreated[] = [];
  const placed: OrderCreated[] = [];
  let placing = true;
  let allConsumed: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    allConsumed = resolve;
  });
  const checkDone = () => {
    if (!placing && consumed.length >= placed.length) allConsumed();
  };
  // Subscribe before anything is published: some backends keep messages only for existing groups.
  const subscription = await adapter.subscribe<OrderCreated>(
    ORDER_CREATED,
    (event) => {
      consumed.push(event.data);
      log(
        `← shipping got ${event.data.orderId} for ${event.data.customer} (${event.data.totalCents} cents, id ${event.id})`,
      );
      checkDone();
    },
    { group: 'shipping' },
  );
  const relay = new OutboxRelay({ store: service.outbox, adapter, pollIntervalMs: 500 });
  relay.start();

  let rejected = 0;
  for (const [customer, totalCents] of [
    ['ada', 1250],
    ['grace', 0],
    ['linus', 4200],
    ['ada', 990],
  ] as const) {
    try {
      const order = await service.placeOrder(customer, totalCents);
      placed.push(order);
      log(`→ order ${order.orderId} for ${customer} committed with its event`);
    } catch (error) {
      rejected++;
      log(`✗ order for ${customer} rolled back, event included: ${(error as Error).message}`);
    }
  }
  placing = false;
  checkDone();

  const timeout = setTimeout(() => {
    log(`timed out waiting: ${consumed.length} of ${placed.length} events consumed`);
    allConsumed();
  }, 30_000);
  await done;
  clearTimeout(timeout);
  await relay.stop();
  await subscription.close();
  log(`done: ${placed.length} orders placed, ${rejected} rolled back, ${consumed.length} events consumed`);
  return { placed, rejected, consumed };
}
