/**
 * What the inbox costs, per store: the same publish→handler→ack workload with and without it.
 *
 *   node -r ./scripts/register-ts.js packages/inbox/scripts/overhead.ts
 *   ... overhead.ts --backend memory,redis-streams --messages 20000 --rounds 3 --out overhead.json
 *
 * Runs from sources (no build; scripts/register-ts.js); npm run bench runs it for its inbox rows.
 * Brokers and databases from the usual variables (scripts/brokers/env.sh): REDIS_URL, DATABASE_URL.
 *
 * Workload (as the bench's decorator rows): one subscription, concurrency 16; a producer publishing
 * batches of 100 as fast as they are confirmed; a run ends when every message's handler resolved.
 * Rows, per backend:
 *   no-op handler:        nothing vs inbox.handler(nothing) with the memory, Redis and PostgreSQL stores
 *   handler writes a row: an autocommit INSERT vs the same INSERT inside the PostgreSQL inbox's transaction
 * Each pair runs one warm-up each, then `rounds` measured runs in alternating order (without, with,
 * then with, without, ...); the table shows medians. CPU is this process's user+system time per
 * message: the database's and Redis' own CPU is not in it (they run elsewhere, or on the same cores).
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createAdapter, type EventAdapter, type MessageHandler, silentLogger } from '@eventport/core';
import { Inbox, type InboxStore, MemoryInboxStore, PostgresInboxStore, RedisInboxStore } from '@eventport/inbox';
import { Redis } from 'ioredis';
import { Pool, type PoolClient } from 'pg';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'memory,redis-streams' },
    messages: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    stores: { type: 'string', default: 'memory,redis,postgres' },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'overhead.ts [--backend memory,redis-streams] [--stores memory,redis,postgres] [--messages N] [--rounds 3] [--out file.json]',
  );
  process.exit(0);
}
const BACKENDS = (values.backend ?? '').split(',').filter(Boolean);
const ROUNDS = Number(values.rounds);
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const CONCURRENCY = 16;
const BATCH = 100;
const PAYLOAD = { p: 'x'.repeat(1000) };

type Store = 'memory' | 'redis' | 'postgres';
interface Pair {
  label: string;
  store: Store;
  /** The handler without the inbox, and what the inbox wraps. */
  effect: 'none' | 'pg-row';
}
const STORES = new Set((values.stores ?? '').split(',').filter(Boolean));
const PAIRS: Pair[] = (
  [
    { label: 'no-op handler', store: 'memory', effect: 'none' },
    { label: 'no-op handler', store: 'redis', effect: 'none' },
    { label: 'no-op handler', store: 'postgres', effect: 'none' },
    { label: 'handler writes a row', store: 'postgres', effect: 'pg-row' },
  ] as const
).filter((pair) => STORES.has(pair.store));

interface Run {
  msgPerSec: number;
  cpuUsPerMsg: number;
}
interface Row {
  backend: string;
  store: Store;
  handler: string;
  messages: number;
  with: Run;
  without: Run;
  ratio: number;
  rounds: { with: Run[]; without: Run[] };
}

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const medianRun = (runs: Run[]): Run => ({
  msgPerSec: median(runs.map((run) => run.msgPerSec)),
  cpuUsPerMsg: median(runs.map((run) => run.cpuUsPerMsg)),
});

async function main(): Promise<void> {
  const pool = new Pool({ connectionString: DATABASE_URL, max: CONCURRENCY + 4 });
  pool.on('error', () => undefined);
  const redis = new Redis(REDIS_URL);
  const schema = `inbox_overhead_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query(`CREATE TABLE ${schema}.effects (message_id text NOT NULL, n int NOT NULL)`);
  const redisPrefix = `eventport:inbox-overhead:${randomUUID().slice(0, 8)}`;
  const stores: Record<Store, InboxStore<unknown>> = {
    memory: new MemoryInboxStore(),
    redis: new RedisInboxStore({ client: redis, ttlMs: 600_000, keyPrefix: redisPrefix }),
    postgres: new PostgresInboxStore({ pool, table: `${schema}.inbox`, logger: silentLogger }),
  };
  await (stores.postgres as PostgresInboxStore).migrate();

  const rows: Row[] = [];
  const started = Date.now();
  try {
    for (const backend of BACKENDS) {
      const messages = Number(values.messages ?? (backend === 'memory' ? 20_000 : 5_000));
      const adapter = await createAdapter(backend, { logger: silentLogger });
      const topics: string[] = [];
      const measure = async (pair: Pair, withInbox: boolean, count: number): Promise<Run> => {
        const topic = `inbox-overhead-${randomUUID().slice(0, 8)}`;
        topics.push(topic);
        const handler = handlerFor(pair, withInbox ? stores[pair.store] : undefined, pool, schema);
        return runOnce(adapter, topic, handler, count);
      };
      for (const pair of PAIRS) {
        process.stderr.write(`${backend} / ${pair.store} / ${pair.label}: warm-up\n`);
        const warmup = Math.min(1_000, Math.ceil(messages / 5));
        await measure(pair, false, warmup);
        await measure(pair, true, warmup);
        const runs = { with: [] as Run[], without: [] as Run[] };
        for (let round = 0; round < ROUNDS; round++) {
          const order = round % 2 === 0 ? [false, true] : [true, false];
          for (const withInbox of order) {
            const run = await measure(pair, withInbox, messages);
            (withInbox ? runs.with : runs.without).push(run);
            process.stderr.write(
              `  round ${round + 1} ${withInbox ? 'with   ' : 'without'}: ${Math.round(run.msgPerSec)} msg/s, ${run.cpuUsPerMsg.toFixed(0)} µs CPU/msg\n`,
            );
          }
        }
        const withRun = medianRun(runs.with);
        const withoutRun = medianRun(runs.without);
        rows.push({
          backend,
          store: pair.store,
          handler: pair.label,
          messages,
          with: withRun,
          without: withoutRun,
          ratio: withRun.msgPerSec / withoutRun.msgPerSec,
          rounds: runs,
        });
      }
      if (adapter.capabilities.topicAdmin) {
        await Promise.allSettled(topics.map((topic) => adapter.deleteTopic(topic)));
      }
      await adapter.disconnect();
    }
  } finally {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
    const keys = await redis.keys(`${redisPrefix}:*`);
    for (let index = 0; index < keys.length; index += 1_000) await redis.del(...keys.slice(index, index + 1_000));
    redis.disconnect();
  }

  const cpu = os.cpus();
  const header = `${cpu.length} CPU (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}; ${BATCH}-message batches, concurrency ${CONCURRENCY}, 1 KiB JSON; median of ${ROUNDS} alternating rounds after one warm-up each; took ${Math.round((Date.now() - started) / 1000)} s.`;
  const lines = [
    header,
    '',
    '| backend | store | handler | msgs | msg/s with | msg/s without | with/without | CPU µs/msg with / without |',
    '|---|---|---|--:|--:|--:|--:|--:|',
    ...rows.map(
      (row) =>
        `| ${row.backend} | ${row.store} | ${row.handler} | ${row.messages.toLocaleString('en-US')} | ${Math.round(row.with.msgPerSec).toLocaleString('en-US')} | ${Math.round(row.without.msgPerSec).toLocaleString('en-US')} | ${row.ratio.toFixed(2)} | ${row.with.cpuUsPerMsg.toFixed(0)} / ${row.without.cpuUsPerMsg.toFixed(0)} |`,
    ),
  ];
  console.log(lines.join('\n'));
  if (values.out) writeFileSync(values.out, `${JSON.stringify({ header, rows }, null, 2)}\n`);
}

function handlerFor(
  pair: Pair,
  store: InboxStore<unknown> | undefined,
  pool: Pool,
  schema: string,
): MessageHandler<{ n: number }> {
  const write = (db: Pick<PoolClient, 'query'>, id: string, n: number) =>
    db.query(`INSERT INTO ${schema}.effects (message_id, n) VALUES ($1, $2)`, [id, n]);
  if (!store) {
    return pair.effect === 'pg-row'
      ? async (message) => void (await write(pool, message.id, message.data.n))
      : () => {};
  }
  const inbox = new Inbox({ store, logger: silentLogger });
  return inbox.handler<{ n: number }>(async (message, tx) => {
    if (pair.effect === 'pg-row') await write(tx as PoolClient, message.id, message.data.n);
  });
}

/** Publishes `count` messages in batches while one subscription handles them; resolves when all were handled. */
async function runOnce(
  adapter: EventAdapter,
  topic: string,
  handler: MessageHandler<{ n: number }>,
  count: number,
): Promise<Run> {
  let handled = 0;
  let allHandled: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    allHandled = resolve;
  });
  const subscription = await adapter.subscribe<{ n: number }>(
    topic,
    async (message) => {
      await handler(message);
      if (++handled === count) allHandled();
    },
    {
      group: 'overhead',
      concurrency: CONCURRENCY,
      ...(adapter.capabilities.replayFromStart ? { fromBeginning: true } : {}),
    },
  );
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  for (let sent = 0; sent < count; sent += BATCH) {
    const size = Math.min(BATCH, count - sent);
    await adapter.publishBatch(Array.from({ length: size }, (_, n) => ({ topic, data: { n: sent + n, ...PAYLOAD } })));
  }
  await done;
  const seconds = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await subscription.close();
  return { msgPerSec: count / seconds, cpuUsPerMsg: (cpu.user + cpu.system) / count };
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
