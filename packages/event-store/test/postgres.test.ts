import { type PgQueryable, PostgresEventStore } from '@eventport/event-store';
import { PostgresOutboxStore } from '@eventport/outbox';
import { describe, expect, it } from '@jest/globals';
import { Pool } from 'pg';
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

describe('postgres store specifics', () => {
  it('reports an unreachable database as a retryable CONNECTION error', async () => {
    const pool = new Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test', connectionTimeoutMillis: 2_000 });
    const store = new PostgresEventStore({ pool, schema: 'unreachable' });
    try {
      await expect(store.append('s', { type: 'T', data: 1 })).rejects.toMatchObject({
        code: 'CONNECTION',
        retryable: true,
      });
      await expect(store.headPosition()).rejects.toMatchObject({ code: 'CONNECTION' });
    } finally {
      await pool.end();
    }
  });

  it('refuses a missing pool and a schema that is not a plain identifier', () => {
    expect(() => new PostgresEventStore({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new PostgresEventStore({ pool: new Pool(), schema: 'a"; DROP TABLE x; --' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
