/**
 * A bank account kept as events. With DATABASE_URL the events live in PostgreSQL (schema
 * BANK_DEMO_SCHEMA, default bank_demo); without it, in the embedded memory store.
 *
 *   node dist/main.js
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node dist/main.js
 */
import { MemoryEventStore, PostgresEventStore } from '@eventport/event-store';
import { Pool } from 'pg';
import { ACCOUNT_EVENTS } from './account.js';
import { MemoryBalances, PostgresBalances } from './balances.js';
import { runBankDemo } from './demo.js';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.log('store: memory');
    await runBankDemo({ store: new MemoryEventStore({ events: ACCOUNT_EVENTS }), balances: new MemoryBalances() });
    return;
  }
  const schema = process.env.BANK_DEMO_SCHEMA ?? 'bank_demo';
  const pool = new Pool({ connectionString: url });
  // An idle pooled connection that drops emits here; without a listener it would crash the process.
  pool.on('error', (error) => console.error(`postgres connection lost: ${error.message}`));
  try {
    const store = new PostgresEventStore({ pool, schema, events: ACCOUNT_EVENTS });
    await store.migrate();
    const balances = new PostgresBalances(pool, schema);
    await balances.migrate();
    console.log(`store: postgres (schema ${schema})`);
    await runBankDemo({ store, balances });
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
