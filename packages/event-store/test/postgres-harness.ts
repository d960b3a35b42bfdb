import { randomUUID } from 'node:crypto';
import { PostgresEventStore, type PostgresEventStoreOptions } from '@eventport/event-store';
import { Pool, type PoolConfig } from 'pg';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test run uses. */
export const uniqueSchema = (label: string) => `es_${label}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

/**
 * Pools and schemas for one test file, all dropped by close(). The first connection fails the
 * file loudly when PostgreSQL is not there: these tests never skip.
 */
export class PostgresTestDatabase {
  private readonly pools: Pool[] = [];
  private readonly schemas: string[] = [];
  readonly pool: Pool;

  constructor() {
    this.pool = this.newPool();
  }

  newPool(config: PoolConfig = {}): Pool {
    const pool = new Pool({ connectionString: DATABASE_URL, max: 4, ...config });
    pool.on('error', () => undefined); // an idle client killed with its backend; the next query reports it
    this.pools.push(pool);
    return pool;
  }

  async reachable(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      throw new Error(
        `PostgreSQL is needed for these tests and is not reachable at ${DATABASE_URL.replace(/:[^:@/]*@/, ':***@')} ` +
          `(${(error as Error).message}). Start it with: npm run brokers:up (or set DATABASE_URL).`,
      );
    }
  }

  /** A migrated store in a new schema. */
  async store(
    label: string,
    options: Omit<PostgresEventStoreOptions, 'pool' | 'schema'> = {},
    pool = this.pool,
  ): Promise<PostgresEventStore> {
    const schema = this.schema(label);
    const store = new PostgresEventStore({ ...options, pool, schema });
    await store.migrate();
    return store;
  }

  schema(label: string): string {
    const schema = uniqueSchema(label);
    this.schemas.push(schema);
    return schema;
  }

  async close(): Promise<void> {
    for (const schema of this.schemas) await this.pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await Promise.all(this.pools.map((pool) => pool.end()));
  }
}
