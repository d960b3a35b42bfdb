/**
 * A billing service that consumes "orders.placed" and, in one PostgreSQL transaction, records the
 * message in its inbox, writes the invoice and puts "invoices.issued" into its outbox; a relay
 * publishes the event; a notification service consumes it through its own inbox. Duplicates on
 * both hops are dropped: each order gets one invoice and one notification.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test EVENT_TYPE=memory node dist/main.js
 *
 * EVENT_TYPE picks the broker (memory by default); INBOX_DEMO_SCHEMA the schema (default billing_demo).
 */
import { createAdapter } from '@eventport/core';
import { Pool } from 'pg';
import { runInboxOutboxDemo } from './demo.js';

async function main(): Promise<void> {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
  // An idle pooled connection that drops emits here; without a listener it would crash the process.
  pool.on('error', (error) => console.error(`postgres connection lost: ${error.message}`));
  const adapter = await createAdapter();
  console.log(`backend: ${adapter.backend}`);
  try {
    const result = await runInboxOutboxDemo({ pool, adapter, schema: process.env.INBOX_DEMO_SCHEMA ?? 'billing_demo' });
    if (result.invoices.rows !== result.ordersPublished || result.notified !== result.ordersPublished)
      process.exitCode = 1;
  } finally {
    await adapter.disconnect();
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
