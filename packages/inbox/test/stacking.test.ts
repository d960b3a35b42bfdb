import { randomUUID } from 'node:crypto';
import { type EventAdapter, type MessageHandler, type ReceivedMessage, silentLogger } from '@eventport/core';
import { listDeadLetters, replay, withDeadLetters } from '@eventport/dlq';
import { Inbox, inboxTransaction, PostgresInboxStore, withInbox } from '@eventport/inbox';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { type MetricsAdapter, withMetrics } from '@eventport/metrics';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Pool, type PoolClient } from 'pg';
import { Registry } from 'prom-client';
import { DATABASE_URL, until } from './support/env';

/**
 * The inbox with withDeadLetters and withMetrics, in every order: each retry is its own
 * transaction (a failed attempt's writes never commit), a dead-lettered message is never recorded
 * (so its replay is handled), duplicates are dropped and metrics count them as acks. The order that
 * cannot work (withDeadLetters above withInbox) is refused with an error that says why.
 */
const schema = `inbox_stack_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const pool = new Pool({ connectionString: DATABASE_URL, max: 8 });
pool.on('error', () => undefined);
const dlqPolicy = { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5, logger: silentLogger };

beforeAll(async () => {
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query(`CREATE TABLE ${schema}.effects (stack text, message_id text, attempt int)`);
});
afterAll(async () => {
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
});

interface Stack {
  name: string;
  /** The adapter to subscribe on, and the metrics decorator in it. */
  build(base: EventAdapter, inbox: Inbox<PoolClient>): { adapter: EventAdapter; metrics: MetricsAdapter };
  /**
   * How the handler is attached: wrapped by inbox.handler; subscribed on withInbox, taking the
   * transaction as its second argument; or subscribed through withMetrics above withInbox, which
   * calls it with the message only (the transaction is then in inboxTransaction()).
   */
  wrap: 'handler' | 'decorator' | 'decorator, in context';
}

const stacks: Stack[] = [
  {
    name: 'inbox.handler under withMetrics(withDeadLetters(adapter))',
    wrap: 'handler',
    build: (base) => {
      const metrics = withMetrics(withDeadLetters(base, dlqPolicy), { registry: new Registry() });
      return { adapter: metrics, metrics };
    },
  },
  {
    name: 'inbox.handler under withDeadLetters(withMetrics(adapter))',
    wrap: 'handler',
    build: (base) => {
      const metrics = withMetrics(base, { registry: new Registry() });
      return { adapter: withDeadLetters(metrics, dlqPolicy), metrics };
    },
  },
  {
    name: 'withInbox(withDeadLetters(withMetrics(adapter)))',
    wrap: 'decorator',
    build: (base, inbox) => {
      const metrics = withMetrics(base, { registry: new Registry() });
      return { adapter: withInbox(withDeadLetters(metrics, dlqPolicy), { inbox }), metrics };
    },
  },
  {
    name: 'withInbox(withMetrics(withDeadLetters(adapter)))',
    wrap: 'decorator',
    build: (base, inbox) => {
      const metrics = withMetrics(withDeadLetters(base, dlqPolicy), { registry: new Registry() });
      return { adapter: withInbox(metrics, { inbox }), metrics };
    },
  },
  {
    name: 'withMetrics(withInbox(withDeadLetters(adapter)))',
    wrap: 'decorator, in context',
    build: (base, inbox) => {
      const metrics = withMetrics(withInbox(withDeadLetters(base, dlqPolicy), { inbox }), { registry: new Registry() });
      return { adapter: metrics, metrics };
    },
  },
];

describe.each(stacks)('$name', ({ name, build, wrap }) => {
  it('retries in fresh transactions, never records a dead letter, drops duplicates, replays', async () => {
    const store = new PostgresInboxStore({
      pool,
      table: `${schema}.inbox_${stacks.findIndex((s) => s.name === name)}`,
    });
    await store.migrate();
    const inbox = new Inbox({ store, logger: silentLogger });
    const base = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    const { adapter, metrics } = build(base, inbox);
    const topic = `stack-${randomUUID().slice(0, 8)}`;
    let poisonFixed = false;
    const handled: string[] = [];

    const effect = async (message: ReceivedMessage<{ kind: string }>, tx: PoolClient) => {
      await tx.query(`INSERT INTO ${schema}.effects (stack, message_id, attempt) VALUES ($1, $2, $3)`, [
        name,
        message.id,
        message.attempt,
      ]);
      // Each failure comes after the write: only a rollback keeps it out of the table.
      if (message.data.kind === 'flaky' && message.attempt < 3) throw new Error('flaky failure');
      if (message.data.kind === 'poison' && !poisonFixed) throw new Error('poison');
      handled.push(message.id);
    };
    const handlers: Record<Stack['wrap'], MessageHandler<{ kind: string }>> = {
      handler: inbox.handler(effect),
      // withInbox's subscribe passes (message, tx); typed here through the plain EventAdapter.
      decorator: ((message: ReceivedMessage<{ kind: string }>, tx: PoolClient) =>
        effect(message, tx)) as MessageHandler<{ kind: string }>,
      'decorator, in context': (message) => effect(message, inboxTransaction<PoolClient>()),
    };
    const handler = handlers[wrap];
    const subscription = await adapter.subscribe(topic, handler, { group: 'stacked', concurrency: 4 });

    for (const [id, kind] of [
      ['ok-1', 'ok'],
      ['ok-1', 'ok'],
      ['flaky-1', 'flaky'],
      ['poison-1', 'poison'],
      ['ok-2', 'ok'],
    ] as const) {
      await adapter.publish({ topic, id, data: { kind } });
    }
    expect(
      await until(
        async () => (await listDeadLetters(adapter, topic, { startTimeoutMs: 200, idleMs: 100 })).length === 1,
        20_000,
      ),
    ).toBe(true);
    expect(await until(() => handled.length === 3, 10_000)).toBe(true);

    const rows = async () =>
      (
        await pool.query(
          `SELECT message_id, attempt FROM ${schema}.effects WHERE stack = $1 ORDER BY message_id, attempt`,
          [name],
        )
      ).rows;
    expect(await rows()).toEqual([
      { message_id: 'flaky-1', attempt: 3 },
      { message_id: 'ok-1', attempt: 1 },
      { message_id: 'ok-2', attempt: 1 },
    ]);
    expect(await store.has('stacked', 'poison-1')).toBe(false);
    expect(inbox.stats()).toMatchObject({ handled: 3, duplicates: 1 });

    poisonFixed = true;
    expect(await replay(adapter, topic, { startTimeoutMs: 500, idleMs: 200 })).toEqual({ replayed: 1, skipped: 0 });
    expect(await until(() => handled.includes('poison-1'), 10_000)).toBe(true);
    expect(await store.has('stacked', 'poison-1')).toBe(true);
    expect((await rows()).filter((row) => row.message_id === 'poison-1')).toHaveLength(1);

    // Metrics saw every delivery settle; the duplicate is an ack (metrics has no "duplicate" outcome).
    await until(() => metrics.getMetrics().inFlight === 0, 5_000);
    expect(metrics.getMetrics().acked).toBeGreaterThanOrEqual(5);
    await subscription.close();
    await adapter.disconnect();
  });
});

describe('the order that cannot work', () => {
  const refusal = /withDeadLetters is stacked above withInbox.*withInbox\(withDeadLetters\(adapter\)/;
  const store = new PostgresInboxStore({ pool, table: `${schema}.refused` });

  it('withDeadLetters(withInbox(adapter)) is refused on subscribe, saying which order works', async () => {
    const adapter = withDeadLetters(
      withInbox(createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger }), {
        store,
        logger: silentLogger,
      }),
      dlqPolicy,
    );
    await expect(adapter.subscribe('refused', () => undefined)).rejects.toThrow(refusal);
    await adapter.disconnect();
  });

  it('and so is withMetrics(withDeadLetters(withInbox(adapter)))', async () => {
    const adapter = withMetrics(
      withDeadLetters(
        withInbox(createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger }), {
          store,
          logger: silentLogger,
        }),
        dlqPolicy,
      ),
      { registry: new Registry() },
    );
    await expect(adapter.subscribe('refused', () => undefined)).rejects.toThrow(refusal);
    await adapter.disconnect();
  });
});
