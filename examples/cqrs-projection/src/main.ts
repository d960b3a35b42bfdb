/**
 * Builds a balance read model from account events, then rebuilds it from scratch by replaying them.
 *   node examples/cqrs-projection/dist/main.js                                   (memory read model)
 *   READ_MODEL=postgres DATABASE_URL=postgres://postgres@localhost/test node ...   (PostgreSQL read model)
 */
import { createAdapter } from '@eventport/core';
import { Pool } from 'pg';
import {
  type AccountEvent,
  accountChannel,
  MemoryReadModel,
  PostgresReadModel,
  Projection,
  type ReadModel,
} from './projection.js';

export async function runProjectionDemo(log: (line: string) => void = console.log) {
  const adapter = await createAdapter();
  const channel = accountChannel(adapter, `bank-${Date.now().toString(36)}`);
  const pool =
    process.env.READ_MODEL === 'postgres' ? new Pool({ connectionString: process.env.DATABASE_URL }) : undefined;
  const postgres = pool && new PostgresReadModel(pool, `account_view_${Date.now().toString(36)}`);
  await postgres?.migrate();
  const model: ReadModel = postgres ?? new MemoryReadModel();
  const projection = new Projection(channel, model);
  await projection.start();

  const events: AccountEvent[] = [
    { type: 'opened', accountId: 'acc-1', owner: 'Ada' },
    { type: 'opened', accountId: 'acc-2', owner: 'Grace' },
    { type: 'deposited', accountId: 'acc-1', amountCents: 10_000 },
    { type: 'deposited', accountId: 'acc-2', amountCents: 2_500 },
    { type: 'withdrawn', accountId: 'acc-1', amountCents: 3_000 },
  ];
  for (const event of events) await channel.push('events', event, { key: event.accountId });
  const deadline = Date.now() + 30_000;
  const appliedAll = async () => (await model.all()).reduce((sum, view) => sum + view.events, 0) === events.length;
  while (!(await appliedAll()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const live = await model.all();
  for (const view of live)
    log(`live: ${view.accountId} (${view.owner}) balance ${view.balanceCents} after ${view.events} events`);

  let rebuilt = live;
  if (adapter.capabilities.replayFromStart) {
    await projection.rebuild();
    rebuilt = await model.all();
    for (const view of rebuilt)
      log(`rebuilt: ${view.accountId} (${view.owner}) balance ${view.balanceCents} after ${view.events} events`);
  } else {
    log(`${adapter.backend} does not replay history for a new group; rebuild needs a backend that retains events`);
  }
  await projection.stop();
  await adapter.disconnect();
  await postgres?.drop();
  await pool?.end();
  return { live, rebuilt };
}

if (require.main === module) {
  runProjectionDemo().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  });
}
