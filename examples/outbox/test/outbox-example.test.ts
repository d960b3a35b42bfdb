import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Pool } from 'pg';
import { OrderService, runOrderDemo } from '../src/order-service';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
const uniqueSchema = () => {
  const schema = `order_demo_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  schemas.push(schema);
  return schema;
};

describe('examples/outbox on memory + PostgreSQL', () => {
  const pool = new Pool({ connectionString: DATABASE_URL, max: 4 });
  afterAll(async () => {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  it('publishes exactly the committed orders; the rolled-back one leaves neither row nor event', async () => {
    const schema = uniqueSchema();
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    const lines: string[] = [];
    const result = await runOrderDemo({ pool, adapter, schema, log: (line) => lines.push(line) });
    await adapter.disconnect();
    expect(result.placed).toHaveLength(3);
    expect(result.rejected).toBe(1);
    expect(result.consumed).toEqual(result.placed);
    expect(result.consumed.map((order) => order.customer)).not.toContain('grace');
    expect(await new OrderService(pool, schema).countOrders()).toBe(3);
    expect(await new OrderService(pool, schema).outbox.countPending()).toBe(0);
    expect(lines.at(-1)).toBe('done: 3 orders placed, 1 rolled back, 3 events consumed');
  });

  // Runs the built entry point (`npx tsc -b examples/outbox` first), as a user would.
  it('runs as a program with EVENT_TYPE=memory and DATABASE_URL', async () => {
    const schema = uniqueSchema();
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, '..', 'dist', 'main.js')], {
      env: { ...process.env, EVENT_TYPE: 'memory', DATABASE_URL, ORDER_DEMO_SCHEMA: schema },
      timeout: 60_000,
    });
    expect(stdout).toContain('backend: memory');
    expect(stdout).toContain('done: 3 orders placed, 1 rolled back, 3 events consumed');
    expect(stdout.match(/← shipping got/g)).toHaveLength(3);
  });
});
