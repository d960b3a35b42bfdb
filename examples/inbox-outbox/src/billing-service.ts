import { type EventAdapter, EventportError, type Subscription } from '@eventport/core';
import { Inbox, PostgresInboxStore } from '@eventport/inbox';
import { OutboxRelay, PostgresOutboxStore } from '@eventport/outbox';
import type { Pool, PoolClient } from 'pg';

export const ORDER_PLACED = 'orders.placed';
export const INVOICE_ISSUED = 'invoices.issued';

export interface OrderPlaced {
  orderId: string;
  customer: string;
  totalCents: number;
}

export interface InvoiceIssued {
  invoiceId: string;
  orderId: string;
  customer: string;
  amountCents: number;
}

/**
 * The billing service. For each order it receives, in ONE PostgreSQL transaction (the inbox's):
 * the inbox records (group, message id) first, the invoice row is written, and the next event,
 * "invoices.issued", goes into the outbox. A duplicate delivery finds the record and is acked
 * without writing anything; a crash or an error anywhere rolls back the record, the invoice and
 * the event together, and the redelivery starts over. The relay publishes the outbox at least
 * once, with the event's id, so the next service deduplicates it the same way.
 *
 * The invoices table has no unique constraint on purpose: exactly one invoice per order comes from
 * the inbox, not from the schema.
 */
export class BillingService {
  readonly inbox: Inbox<PoolClient>;
  readonly outbox: PostgresOutboxStore;
  /** Deliveries of orders.placed, duplicates and failed attempts included. */
  deliveries = 0;
  private readonly invoices: string;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
    /** Called inside the transaction after both writes: a test hook to fail an attempt at the worst moment. */
    private readonly afterWrites: (order: OrderPlaced, attempt: number) => void = () => undefined,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new EventportError('INVALID_ARGUMENT', `schema must be a lower-case SQL identifier (got "${schema}")`);
    }
    this.invoices = `${schema}.invoices`;
    this.inbox = new Inbox({ store: new PostgresInboxStore({ pool, table: `${schema}.inbox` }) });
    this.outbox = new PostgresOutboxStore({ pool, table: `${schema}.outbox` });
  }

  async migrate(): Promise<void> {
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS ${this.invoices} (
        id text NOT NULL,
        order_id text NOT NULL,
        customer text NOT NULL,
        amount_cents integer NOT NULL,
        issued_at timestamptz NOT NULL DEFAULT now()
      )`);
    await (this.inbox.store as PostgresInboxStore).migrate();
    await this.outbox.migrate();
  }

  /** Consumes orders as consumer group "billing". */
  start(adapter: EventAdapter): Promise<Subscription> {
    const bill = this.inbox.handler<OrderPlaced>(async (message, tx) => {
      const order = message.data;
      const invoice: InvoiceIssued = {
        invoiceId: `inv-${order.orderId}`,
        orderId: order.orderId,
        customer: order.customer,
        amountCents: order.totalCents,
      };
      await tx.query(`INSERT INTO ${this.invoices} (id, order_id, customer, amount_cents) VALUES ($1, $2, $3, $4)`, [
        invoice.invoiceId,
        invoice.orderId,
        invoice.customer,
        invoice.amountCents,
      ]);
      // Same transaction: the event exists exactly when the invoice does. Its id is derived from
      // the order, so even a second run could not mint a second event id.
      await this.outbox.add(tx, {
        topic: INVOICE_ISSUED,
        id: `invoice-issued-${order.orderId}`,
        key: order.customer,
        data: invoice,
      });
      this.afterWrites(order, message.attempt);
    });
    return adapter.subscribe<OrderPlaced>(
      ORDER_PLACED,
      (message) => {
        this.deliveries++;
        return bill(message);
      },
      { group: 'billing', redeliveryDelayMs: () => 50 },
    );
  }

  relay(adapter: EventAdapter): OutboxRelay {
    return new OutboxRelay({ store: this.outbox, adapter, pollIntervalMs: 200 });
  }

  /** Invoice rows written for these orders (one per order when effectively-once holds). */
  async countInvoices(orderIds: readonly string[]): Promise<{ rows: number; orders: number }> {
    const { rows } = await this.pool.query<{ rows: string; orders: string }>(
      `SELECT count(*) AS rows, count(DISTINCT order_id) AS orders FROM ${this.invoices} WHERE order_id = ANY($1)`,
      [orderIds],
    );
    return { rows: Number(rows[0]?.rows ?? 0), orders: Number(rows[0]?.orders ?? 0) };
  }

  /** Outbox events written for these orders. */
  async countEvents(orderIds: readonly string[]): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${this.schema}.outbox WHERE id = ANY($1)`,
      [orderIds.map((orderId) => `invoice-issued-${orderId}`)],
    );
    return Number(rows[0]?.count ?? 0);
  }
}
