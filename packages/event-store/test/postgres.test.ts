import { type PgQueryable, PostgresEventStore } from '@eventport/event-store';
import { PostgresOutboxStore } from '@eventport/outbox';
import { PostgresTestDatabase } from './postgres-harness';
import { describeEventStore } from './store-suite';

describeEventStore<PgQueryable>('postgres', async () => {
  const database = new PostgresTestDatabase();
  await database.reachable();
  return {
    fresh: (options) => database.store('suite', options),
    async freshWithOutbox(routing) {
      const schema = database.schema('outbox');
      const outbox = new PostgresOutboxStore({ pool: database.pool, table: `${schema}.outbox` });
      await outbox.migrate();
      const store = new PostgresEventStore({ pool: database.pool, schema, outbox: { store: outbox, ...routing } });
      await store.migrate();
      return { store, outbox };
    },
    close: () => database.close(),
  };
});
