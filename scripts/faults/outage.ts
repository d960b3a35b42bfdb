/**
 * What a publisher sees during a broker outage longer than its retry budget, per backend: how long a
 * publish() made at the start of the outage and one made 30 s into it take to settle (and with which
 * code), how long health() takes to say "not ok", and how long the first publish after the outage
 * takes. The outage is real: a TCP pass-through in front of the local broker drops every connection
 * and refuses new ones (the Kafka mock's brokers are set down through its control FIFO instead, since
 * Kafka clients connect to the addresses the brokers advertise). Every backend's outage runs at once.
 *
 *   bash scripts/brokers/up.sh && source scripts/brokers/env.sh
 *   node -r ./scripts/register-ts.js scripts/faults/outage.ts [--outage-seconds 65] [backend ...]
 *   node -r ./scripts/register-ts.js scripts/faults/outage.ts --restarts [backend ...]
 *
 * --restarts instead cuts the broker twice for 2 s during 3,000 publishes at 200/s and counts the
 * publishes rejected (none should be: each outage is shorter than the publish budget).
 *
 * Prints one Markdown row per backend. A figure, not a test: the suite's assertions are in each
 * backend's fault tests and conformance case 22.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createAdapter, type EventAdapter, isEventportError, silentLogger } from '@eventport/core';
import { BrokerProxy } from './proxy';

const REPO = path.resolve(__dirname, '../..');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Outage {
  /** createAdapter overrides that route the backend through the outage. */
  prepare(): Promise<Record<string, unknown>>;
  begin(): Promise<void>;
  end(): Promise<void>;
}

const hostPort = (value: string) => {
  const url = new URL(value.includes('://') ? value : `tcp://${value}`);
  return { host: url.hostname, port: Number(url.port) };
};

function proxied(target: string, overrides: (port: number) => Record<string, unknown>): Outage {
  const { host, port } = hostPort(target);
  const proxy = new BrokerProxy(host, port);
  return {
    prepare: async () => overrides(await proxy.start()),
    begin: () => proxy.stop(),
    end: () => proxy.start().then(() => undefined),
  };
}

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: source scripts/brokers/env.sh`);
  return value;
};

const kafkaControl = (command: string) =>
  run('bash', [path.join(REPO, 'scripts/brokers/kafka-ctl.sh'), command], { timeout: 30_000 });

const OUTAGES: Record<string, () => Outage> = {
  'redis-streams': () => proxied(env('REDIS_URL'), (port) => ({ url: `redis://127.0.0.1:${port}` })),
  rabbitmq: () => proxied(env('RABBITMQ_URL'), (port) => ({ url: `amqp://guest:guest@127.0.0.1:${port}` })),
  nats: () => proxied(env('NATS_URL'), (port) => ({ url: `nats://127.0.0.1:${port}` })),
  kinesis: () => proxied(env('AWS_ENDPOINT_URL'), (port) => ({ endpoint: `http://127.0.0.1:${port}` })),
  pubsub: () =>
    proxied(env('PUBSUB_EMULATOR_HOST'), (port) => ({
      emulatorHost: `127.0.0.1:${port}`,
      projectId: process.env.GCP_PROJECT_ID ?? 'eventport-local',
    })),
  kafka: () => ({
    prepare: async () => ({ brokers: env('KAFKA_SERVER').split(','), topicAdmin: false }),
    begin: () => kafkaControl('down all').then(() => undefined),
    end: () => kafkaControl('up all').then(() => undefined),
  }),
};

interface Settled {
  ms: number;
  outcome: string;
}

async function timed(call: () => Promise<unknown>): Promise<Settled> {
  const started = Date.now();
  try {
    const value = await call();
    const ok = (value as { ok?: boolean } | undefined)?.ok;
    return { ms: Date.now() - started, outcome: ok === false ? 'ok: false' : ok === true ? 'ok: true' : 'accepted' };
  } catch (error) {
    const code = isEventportError(error) ? error.code : String(error);
    return { ms: Date.now() - started, outcome: code };
  }
}

/** An adapter routed through `outage` with a topic of its own; both are cleaned up after `run`. */
async function onFreshTopic(
  backend: string,
  outage: Outage,
  purpose: string,
  run: (adapter: EventAdapter, topic: string) => Promise<string>,
): Promise<string> {
  const overrides = await outage.prepare();
  const adapter = await createAdapter(backend, { ...overrides, logger: silentLogger });
  await adapter.connect();
  const topic = `${purpose}-${backend}-${Date.now()}`;
  if (adapter.capabilities.topicAdmin) await adapter.createTopic(topic);
  try {
    return await run(adapter, topic);
  } finally {
    if (adapter.capabilities.topicAdmin) await adapter.deleteTopic(topic).catch(() => undefined);
    await adapter.disconnect();
  }
}

async function measure(backend: string, outage: Outage, outageMs: number): Promise<string> {
  return onFreshTopic(backend, outage, 'outage', async (adapter, topic) => {
    const warm = await timed(() => adapter.publish({ topic, data: { n: 0 } }));
    if (warm.outcome !== 'accepted') throw new Error(`${backend}: publish before the outage: ${warm.outcome}`);

    await outage.begin();
    const began = Date.now();
    const [first, health] = await Promise.all([
      timed(() => adapter.publish({ topic, data: { n: 1 } })),
      timed(() => adapter.health()),
    ]);
    await sleep(Math.max(0, 30_000 - (Date.now() - began)));
    const late = await timed(() => adapter.publish({ topic, data: { n: 2 } }));
    const lateSettledBeforeEnd = Date.now() - began < outageMs;
    await sleep(Math.max(0, outageMs - (Date.now() - began)));
    await outage.end();
    const restored = Date.now();
    let after: Settled;
    let attempts = 0;
    do {
      attempts++;
      after = await timed(() => adapter.publish({ topic, data: { n: 3 } }));
    } while (after.outcome !== 'accepted' && Date.now() - restored < 120_000);
    const recovered = Date.now() - restored;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    return `| ${backend} | ${s(first.ms)} (${first.outcome}) | ${s(late.ms)} (${late.outcome})${lateSettledBeforeEnd ? '' : ' after the outage'} | ${s(health.ms)} (${health.outcome}) | ${s(recovered)} (${attempts} attempt${attempts === 1 ? '' : 's'}, ${after.outcome}) |`;
  });
}

/**
 * Short outages, shorter than the publish budget: 3,000 publishes at 200/s (16 in flight at most) while
 * the broker is cut twice for 2 s. None should be rejected; each one's outcome is counted.
 */
async function measureRestarts(backend: string, outage: Outage): Promise<string> {
  return onFreshTopic(backend, outage, 'restarts', async (adapter, topic) => {
    const outcomes = new Map<string, number>();
    const began = Date.now();
    const cuts = (async () => {
      for (const at of [3_000, 9_000]) {
        await sleep(Math.max(0, at - (Date.now() - began)));
        await outage.begin();
        await sleep(2_000);
        await outage.end();
      }
    })();
    const inFlight = new Set<Promise<void>>();
    let slowest = 0;
    for (let n = 0; n < 3_000; n++) {
      await sleep(Math.max(0, n * 5 - (Date.now() - began)));
      if (inFlight.size >= 16) await Promise.race(inFlight);
      const publish = timed(() => adapter.publish({ topic, data: { n } })).then(({ ms, outcome }) => {
        slowest = Math.max(slowest, ms);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        inFlight.delete(publish);
      });
      inFlight.add(publish);
    }
    await Promise.all([...inFlight, cuts]);
    const rejected = 3_000 - (outcomes.get('accepted') ?? 0);
    const codes = [...outcomes]
      .filter(([outcome]) => outcome !== 'accepted')
      .map(([code, count]) => `${code} ${count}`);
    return `| ${backend} | ${outcomes.get('accepted') ?? 0} | ${rejected}${codes.length ? ` (${codes.join(', ')})` : ''} | ${(slowest / 1000).toFixed(1)} s |`;
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const secondsFlag = args.indexOf('--outage-seconds');
  const outageMs = secondsFlag >= 0 ? Number(args.splice(secondsFlag, 2)[1]) * 1000 : 65_000;
  const restartsFlag = args.indexOf('--restarts');
  if (restartsFlag >= 0) args.splice(restartsFlag, 1);
  const backends = args.length > 0 ? args : Object.keys(OUTAGES);
  const rows = await Promise.all(
    backends.map((backend) => {
      const outage = OUTAGES[backend];
      if (!outage) throw new Error(`unknown backend ${backend}; one of ${Object.keys(OUTAGES).join(', ')}`);
      const measured = restartsFlag >= 0 ? measureRestarts(backend, outage()) : measure(backend, outage(), outageMs);
      return measured.catch((error: Error) => `| ${backend} | failed: ${error.message} |`);
    }),
  );
  const header =
    restartsFlag >= 0
      ? [
          'Two 2 s outages during 3,000 publishes at 200/s (default deadlines: publish 30 s with its retries):',
          '| backend | accepted | rejected | slowest publish |',
          '|---|--:|--:|--:|',
        ]
      : [
          `Outage of ${outageMs / 1000} s (default deadlines: publish 30 s with its retries, health 5 s):`,
          '| backend | publish at the start | publish 30 s in | health | first publish after it ends |',
          '|---|---|---|---|---|',
        ];
  console.log([...header, ...rows].join('\n'));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
