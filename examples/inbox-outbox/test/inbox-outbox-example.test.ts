import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Pool } from 'pg';
import { runInboxOutboxDemo } from '../src/demo';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
const uniqueSchema = () => {
  const schema = `billing_demo_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  schemas.push(schema);
  return schema;
};

describe('examples/inbox-outbox on memory + PostgreSQL', () => {
  const pool = new Pool({ connectionString: DATABASE_URL, max: 6 });
  afterAll(async () => {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  it('one invoice, one event and one notification per order, through a duplicate, a failed attempt and a relay re-publish', async () => {
    const schema = uniqueSchema();
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    const lines: string[] = [];
    const result = await runInboxOutboxDemo({ pool, adapter, schema, log: (line) => lines.push(line) });
    await adapter.disconnect();
    expect(result).toEqual({
      ordersPublished: 3,
      // 3 orders + the producer's duplicate + the failed first attempt's redelivery.
      orderDeliveries: 5,
      invoices: { rows: 3, orders: 3 },
      outboxEvents: 3,
      notified: 3,
      duplicatesDropped: { billing: 1, notifications: 1 },
    });
    // The failed attempt wrote its invoice and its event before failing: both rolled back.
    const { rows } = await pool.query(`SELECT count(*)::int AS count FROM ${schema}.outbox WHERE published_at IS NULL`);
    expect(rows[0].count).toBe(0);
    expect(lines.filter((line) => line.startsWith('← notifications'))).toHaveLength(3);
    expect(lines.at(-1)).toBe(
      'done: 3 orders, 5 deliveries, 3 invoices, 3 events, 3 notified; duplicates dropped: billing 1, notifications 1',
    );
  });

  // Runs the built entry point (`npx tsc -b examples/inbox-outbox` first), as a user would.
  it('runs as a program with EVENT_TYPE=memory and DATABASE_URL, twice on the same schema', async () => {
    const schema = uniqueSchema();
    for (let run = 0; run < 2; run++) {
      const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, '..', 'dist', 'main.js')], {
        env: { ...process.env, EVENT_TYPE: 'memory', DATABASE_URL, INBOX_DEMO_SCHEMA: schema },
        timeout: 60_000,
      });
      expect(stdout).toContain('backend: memory');
      expect(stdout).toContain(
        'done: 3 orders, 5 deliveries, 3 invoices, 3 events, 3 notified; duplicates dropped: billing 1, notifications 1',
      );
    }
  });
});
