/**
 * An order service using the transactional outbox: each order and its "orders.created" event are
 * written in one PostgreSQL transaction; a relay publishes the event; a consumer prints it.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test EVENT_TYPE=memory node dist/main.js
 *
 * EVENT_TYPE picks the broker (memory by default); ORDER_DEMO_SCHEMA the schema (default order_demo).
 */
import { createAdapter } from '@eventport/core';
import { Pool } from 'pg';
import { runOrderDemo } from './order-service.js';

async function main(): Promise<void> {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
  // An idle pooled connection that drops emits here; without a listener it would crash the process.
  pool.on('error', (error) => console.error(`postgres connection lost: ${error.message}`));
  const adapter = await createAdapter();
  console.log(`backend: ${adapter.backend}`);
  try {
    const result = await runOrderDemo({ pool, adapter, schema: process.env.ORDER_DEMO_SCHEMA ?? 'order_demo' });
    if (result.consumed.length < result.placed.length) process.exitCode = 1;
  } finally {
    await adapter.disconnect();
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
