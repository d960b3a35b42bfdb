import { randomUUID } from 'node:crypto';
import { createAdapter, type EventAdapter, type ReceivedMessage, silentLogger } from '@eventport/core';
import { Inbox, PostgresInboxStore } from '@eventport/inbox';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { Pool, type PoolClient } from 'pg';
import {
  claimRabbitMqRestarts,
  deleteRabbitQueues,
  kafkaUnderTest,
  PrivateNats,
  PrivateRedis,
} from './support/brokers';
import { Consumers } from './support/consumers';
import { DATABASE_URL, NATS_URL, RABBITMQ_URL, REDIS_URL, until } from './support/env';

/**
 * The done-when case of the inbox, per backend: 1,000 messages, each applied as one row of a
 * PostgreSQL table with no unique constraint, by consumer processes that are SIGKILLed mid-stream
 * (and, where the backend has one, through a broker restart), must leave exactly 1,000 rows: no
 * duplicate, none missing, while the delivery counts show the broker's redeliveries.
 *
 * Every backend in the list runs; one whose broker is unreachable FAILS (start it with
 * `bash scripts/brokers/up.sh <broker>`), it is never skipped. Focus with jest -t, e.g.
 * `npx jest packages/inbox/test/crash.test.ts -t rabbitmq`.
 *
 * memory is in-process: there is no broker to outlive a killed process, so a crash test means
 * nothing there. It runs the same scenarios in one process, with the ack lost after the commit for
 * every tenth message instead of a SIGKILL (which is what a crash between commit and ack does).
 */
jest.setTimeout(420_000);

const MESSAGES = 1_000;
const KILL_AFTER = 300;
const CONCURRENCY = 8;
/**
 * Between the inbox's COMMIT and the ack: the window in which a SIGKILL makes the broker deliver a
 * handled message again. The test kills a consumer the moment it reports a commit, inside this window.
 */
const ACK_DELAY_MS = 50;

interface Restartable {
  /** Broker settings for this scenario's processes (redis-streams: a private, persistent Redis). */
  env: Record<string, string>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  /** The children's environment (besides DATABASE_URL) and the parent's, for createAdapter(name). */
  env(): Record<string, string>;
  /** createAdapter overrides, for the children and the parent (computed when the test runs). */
  overrides(): Record<string, unknown>;
  /** How long nothing may be delivered before the scenario is over (the backend's redelivery latency). */
  quietMs: number;
  /** The broker restart of the competing-consumers scenario; absent: the backend has none here. */
  restartable?(): Promise<Restartable | undefined>;
  cleanup?(topic: string, adapter: EventAdapter): Promise<void>;
}

const deleteTopic = async (topic: string, adapter: EventAdapter) => {
  if (adapter.capabilities.topicAdmin) await adapter.deleteTopic(topic).catch(() => undefined);
};
// Short enough that a killed consumer's pending entries are claimed within seconds.
const redisClaims = { claimIdleMs: 2_000, claimIntervalMs: 500 };

const BACKENDS: Backend[] = [
  {
    name: 'redis-streams',
    env: () => ({ REDIS_URL }),
    overrides: () => redisClaims,
    quietMs: 5_000,
    restartable: async () => {
      // Never the shared Redis (it keeps nothing on disk): a private one with an fsynced AOF.
      const redis = new PrivateRedis(true);
      await redis.start();
      return { env: { REDIS_URL: redis.url }, restart: () => redis.restart(), close: () => redis.stop() };
    },
    cleanup: deleteTopic,
  },
  {
    name: 'rabbitmq',
    env: () => ({ RABBITMQ_URL }),
    overrides: () => ({}),
    quietMs: 3_000,
    restartable: async () => {
      // Claimed before the consumers start, so the restart hits them mid-stream instead of waiting.
      const claim = await claimRabbitMqRestarts();
      return { env: { RABBITMQ_URL }, restart: claim.restart, close: async () => claim.release() };
    },
    cleanup: (topic) => deleteRabbitQueues(topic),
  },
  {
    name: 'kafka',
    env: () => ({ KAFKA_SERVER: kafkaUnderTest().servers }),
    overrides: () => ({
      // A short session so the group drops a SIGKILLed member quickly and hands its partitions on.
      sessionTimeout: 6_000,
      heartbeatInterval: 500,
      // librdkafka's mock cannot serve kafkajs' CreateTopics/DeleteTopics (see the kafka conformance
      // harness); a delete sent to it leaves it answering INVALID_REQUEST to the next group join.
      topicAdmin: !kafkaUnderTest().isMock,
    }),
    quietMs: 12_000,
    restartable: async () => {
      const kafka = kafkaUnderTest();
      if (!kafka.restart) return undefined;
      return { env: { KAFKA_SERVER: kafka.servers }, restart: kafka.restart, close: async () => {} };
    },
    cleanup: deleteTopic,
  },
  {
    name: 'kinesis',
    env: () => ({
      AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL || 'http://127.0.0.1:4568',
      AWS_REGION: process.env.AWS_REGION || 'us-east-1',
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || 'local',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || 'local',
    }),
    // Checkpoints in Redis, so every consumer process shares the group's progress.
    overrides: () => ({
      checkpointStore: { type: 'redis', url: REDIS_URL, keyPrefix: 'eventport:inbox-crash' },
      idlePollIntervalMs: 200,
      leaseTtlMs: 5_000,
    }),
    quietMs: 12_000,
    cleanup: deleteTopic,
  },
  {
    name: 'pubsub',
    env: () => ({
      PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST || '127.0.0.1:8085',
      GCP_PROJECT_ID: process.env.GCP_PROJECT_ID || 'eventport-local',
      METADATA_SERVER_DETECTION: 'none',
    }),
    // A killed consumer's leased messages come back after the ack deadline.
    overrides: () => ({ ackDeadlineSeconds: 10 }),
    quietMs: 15_000,
    cleanup: deleteTopic,
  },
  {
    name: 'nats',
    env: () => ({ NATS_URL }),
    // A killed consumer's unacked deliveries come back after the ack wait.
    overrides: () => ({ ackWaitMs: 5_000 }),
    quietMs: 8_000,
    restartable: async () => {
      // Never the shared server: a private one with file storage, which keeps streams and consumers.
      const nats = new PrivateNats();
      await nats.start();
      return { env: { NATS_URL: nats.url }, restart: () => nats.restart(), close: () => nats.stop() };
    },
    cleanup: deleteTopic,
  },
];

interface Report {
  backend: string;
  scenario: string;
  published: number;
  deliveries: number;
  duplicatesDropped: number;
  rows: number;
  distinct: number;
  note: string;
}
const reports: Report[] = [];

const pool = new Pool({ connectionString: DATABASE_URL, max: 6 });
pool.on('error', () => undefined);
const schemas: string[] = [];

afterAll(async () => {
  for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await pool.end();
  const lines = reports.map(
    (r) =>
      `| ${r.backend} | ${r.scenario} | ${r.published} | ${r.deliveries} | ${r.duplicatesDropped} | ${r.rows} | ${r.rows - r.distinct} | ${MESSAGES - r.distinct} | ${r.note} |`,
  );
  console.log(
    [
      'inbox crash test:',
      '| backend | scenario | published | deliveries | duplicates dropped | rows | duplicate rows | missing | note |',
      '|---|---|--:|--:|--:|--:|--:|--:|---|',
      ...lines,
    ].join('\n'),
  );
});

/** A schema with the inbox table and the effects table (one row per applied delivery, no unique constraint). */
async function prepareTables(): Promise<{ inboxTable: string; effectsTable: string; count: () => Promise<Counts> }> {
  const schema = `inbox_crash_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  schemas.push(schema);
  await pool.query(`CREATE SCHEMA ${schema}`);
  const effectsTable = `${schema}.effects`;
  await pool.query(
    `CREATE TABLE ${effectsTable} (message_id text NOT NULL, worker text NOT NULL, attempt int NOT NULL, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  );
  const inboxTable = `${schema}.inbox`;
  await new PostgresInboxStore({ pool, table: inboxTable }).migrate();
  return {
    inboxTable,
    effectsTable,
    count: async () => {
      const { rows } = await pool.query<{ rows: string; distinct: string }>(
        `SELECT count(*) AS rows, count(DISTINCT message_id) AS distinct FROM ${effectsTable}`,
      );
      return { rows: Number(rows[0]?.rows), distinct: Number(rows[0]?.distinct) };
    },
  };
}
interface Counts {
  rows: number;
  distinct: number;
}

/** Runs `fn` with `env` in process.env (createAdapter reads the backend's variables from there). */
async function withEnv<R>(env: Record<string, string>, fn: () => Promise<R>): Promise<R> {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

async function connectOrExplain(backend: Backend, env: Record<string, string>): Promise<EventAdapter> {
  try {
    const adapter = await withEnv(env, () =>
      createAdapter(backend.name, { ...backend.overrides(), logger: silentLogger }),
    );
    await adapter.connect();
    return adapter;
  } catch (error) {
    throw new Error(
      `${backend.name} is not usable for the inbox crash test (start it: bash scripts/brokers/up.sh; source scripts/brokers/env.sh): ${String(error)}`,
      { cause: error },
    );
  }
}

/** Publishes the scenario's messages; on a backend that does not replay, the group exists first. */
async function publishAll(adapter: EventAdapter, topic: string, group: string): Promise<string[]> {
  if (!adapter.capabilities.replayFromStart) await (await adapter.subscribe(topic, () => undefined, { group })).close();
  const ids: string[] = [];
  for (let chunk = 0; chunk < MESSAGES / 100; chunk++) {
    const sent = await adapter.publishBatch(
      Array.from({ length: 100 }, (_, n) => ({
        topic,
        id: `${topic}-${chunk * 100 + n}`,
        data: { n: chunk * 100 + n },
      })),
    );
    ids.push(...sent.map((message) => message.id));
  }
  return ids;
}

async function runProcesses(backend: Backend, scenario: 'crash' | 'competing'): Promise<void> {
  const restartable = scenario === 'competing' ? await backend.restartable?.() : undefined;
  const env = { ...backend.env(), ...restartable?.env, EVENT_TYPE: backend.name, DATABASE_URL };
  const adapter = await connectOrExplain(backend, env);
  const topic = `inbox-crash-${backend.name}-${scenario}-${randomUUID().slice(0, 8)}`;
  // A group of its own: a member SIGKILLed in an earlier scenario may still sit in that one's group.
  const group = `ledger-${scenario}-${randomUUID().slice(0, 8)}`;
  const tables = await prepareTables();
  const consumers = new Consumers();
  const note: string[] = [];
  try {
    await publishAll(adapter, topic, group);
    const task = {
      backend: backend.name,
      overrides: backend.overrides(),
      topic,
      group,
      fromBeginning: adapter.capabilities.replayFromStart,
      concurrency: CONCURRENCY,
      inboxTable: tables.inboxTable,
      effectsTable: tables.effectsTable,
      ackDelayMs: ACK_DELAY_MS,
    };
    consumers.start('A', task, env);
    if (scenario === 'competing') consumers.start('B', task, env);
    const handledAtLeast = async (count: number) => {
      const reached = await until(() => {
        for (const each of consumers.processes) consumers.assertAlive(each);
        return consumers.done >= count;
      }, 120_000);
      expect({ reached, diagnostics: reached ? '' : consumers.diagnostics }).toEqual({
        reached: true,
        diagnostics: '',
      });
    };
    if (restartable) {
      // Both consumers are running: the restart drops the connections of both, mid-stream.
      await handledAtLeast(KILL_AFTER / 2);
      const before = await tables.count();
      await restartable.restart();
      note.push(`broker restarted at ${before.distinct} rows`);
      expect(before.distinct).toBeLessThan(MESSAGES);
      await handledAtLeast(consumers.done + KILL_AFTER / 2);
    } else {
      await handledAtLeast(KILL_AFTER);
      if (scenario === 'competing') note.push('no broker restart for this backend');
    }
    const killed = await consumers.killAtNextCommit();
    note.push(
      `${killed.name} SIGKILLed after a commit, at ${(await tables.count()).distinct} rows (it handled ${killed.done})`,
    );
    const finisher = consumers.processes.find((each) => each !== killed) ?? consumers.start('B', task, env);
    // Every message applied, then quiet for longer than the backend takes to redeliver.
    const complete = await until(async () => {
      consumers.assertAlive(finisher);
      return (await tables.count()).distinct >= MESSAGES && Date.now() - consumers.lastDeliveryAt > backend.quietMs;
    }, 300_000);
    await consumers.stop(finisher);
    const counts = await tables.count();
    reports.push({
      backend: backend.name,
      scenario: scenario === 'crash' ? 'SIGKILL, then a new consumer' : 'two competing consumers, one SIGKILLed',
      published: MESSAGES,
      deliveries: consumers.deliveries,
      duplicatesDropped: consumers.duplicatesDropped,
      ...counts,
      note: note.join('; '),
    });
    expect({ complete, ...counts }).toEqual({ complete: true, rows: MESSAGES, distinct: MESSAGES });
    // The broker did deliver again what the killed process had committed and not acked.
    expect(consumers.duplicatesDropped).toBeGreaterThan(0);
    expect(consumers.deliveries).toBeGreaterThanOrEqual(MESSAGES + consumers.duplicatesDropped);
  } finally {
    await consumers.killAll();
    await backend.cleanup?.(topic, adapter).catch(() => undefined);
    await adapter.disconnect().catch(() => undefined);
    await restartable?.close();
  }
}

describe.each(BACKENDS)('inbox effectively-once on $name (PostgreSQL effects)', (backend) => {
  it('SIGKILL mid-stream, then a new consumer: 1,000 rows, 0 duplicates, 0 missing', async () => {
    await runProcesses(backend, 'crash');
  });

  it('two competing consumers, one SIGKILLed mid-stream, broker restarted where it can be: 1,000 rows', async () => {
    await runProcesses(backend, 'competing');
  });
});

describe('inbox effectively-once on memory (in-process: acks lost after the commit instead of a SIGKILL)', () => {
  async function runInProcess(subscribers: number): Promise<void> {
    const tables = await prepareTables();
    const inbox = new Inbox({
      store: new PostgresInboxStore({ pool, table: tables.inboxTable }),
      logger: silentLogger,
    });
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger });
    const topic = `inbox-crash-memory-${randomUUID().slice(0, 8)}`;
    let deliveries = 0;
    let lostAcks = 0;
    const apply = inbox.handler(async (message: ReceivedMessage<{ n: number }>, tx: PoolClient) => {
      await tx.query(`INSERT INTO ${tables.effectsTable} (message_id, worker, attempt) VALUES ($1, 'memory', $2)`, [
        message.id,
        message.attempt,
      ]);
    });
    const handler = async (message: ReceivedMessage<{ n: number }>) => {
      deliveries++;
      await apply(message);
      // Committed; the ack never reaches the broker, as when the process dies right here.
      if (message.attempt === 1 && message.data.n % 10 === 0) {
        lostAcks++;
        throw new Error('ack lost after commit');
      }
    };
    const subscriptions = [];
    for (let n = 0; n < subscribers; n++) {
      subscriptions.push(
        await adapter.subscribe(topic, handler, {
          group: 'ledger',
          concurrency: CONCURRENCY,
          redeliveryDelayMs: () => 5,
        }),
      );
    }
    await publishAll(adapter, topic, 'ledger');
    const complete = await until(
      async () =>
        (await tables.count()).distinct >= MESSAGES && inbox.stats().duplicates >= lostAcks && lostAcks >= 100,
      60_000,
    );
    for (const subscription of subscriptions) await subscription.close();
    await adapter.disconnect();
    const counts = await tables.count();
    reports.push({
      backend: 'memory',
      scenario: subscribers === 1 ? 'one consumer, acks lost' : 'two competing subscriptions, acks lost',
      published: MESSAGES,
      deliveries,
      duplicatesDropped: inbox.stats().duplicates,
      ...counts,
      note: `in-process (no crash possible); ${lostAcks} acks lost after commit`,
    });
    expect({ complete, ...counts }).toEqual({ complete: true, rows: MESSAGES, distinct: MESSAGES });
    expect(inbox.stats().duplicates).toBe(lostAcks);
    expect(deliveries).toBe(MESSAGES + lostAcks);
  }

  it('one consumer: 1,000 rows, every lost ack redelivered and dropped', () => runInProcess(1));
  it('two competing subscriptions: 1,000 rows', () => runInProcess(2));
});
