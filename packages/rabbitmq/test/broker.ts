import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from '@jest/globals';
import { connect } from 'amqplib';

const run = promisify(execFile);

export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/**
 * The real management plugin's HTTP API (scripts/brokers/up.sh enables it; env.sh exports this), for
 * the tests of listGroups. Credentials come from RABBITMQ_URL.
 */
export const RABBITMQ_MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';

const REPO_ROOT = path.resolve(__dirname, '../../..');

/**
 * Jest runs this package's test files in parallel, and a broker restart in one would break exact
 * assertions (delivery counts, connection counts) in another. Tests that need a steady broker hold a
 * marker while they run; a restart waits until none is held and keeps new ones out meanwhile.
 */
const MARKERS = path.join(os.tmpdir(), 'eventport-rabbitmq-tests');
const RESTARTING = 'restarting';
const MAX_WAIT_MS = 180_000;

function liveMarkers(): string[] {
  return readdirSync(MARKERS).filter((name) => {
    const pid = Number(name.split('-')[1]);
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      rmSync(path.join(MARKERS, name), { force: true });
      return false;
    }
  });
}

/**
 * Registers hooks that keep broker restarts out while this file's setup, each test and its cleanup
 * run; a restart from another file happens between two tests.
 */
export function keepBrokerSteadyDuringEachTest(cleanup?: () => Promise<void>): void {
  let release: (() => void) | undefined;
  const acquire = async () => {
    release ??= await holdBrokerSteady();
  };
  const drop = () => {
    release?.();
    release = undefined;
  };
  beforeAll(acquire, MAX_WAIT_MS + 10_000);
  beforeEach(acquire, MAX_WAIT_MS + 10_000);
  afterEach(drop);
  afterAll(async () => {
    await acquire();
    try {
      await cleanup?.();
    } finally {
      drop();
    }
  }, MAX_WAIT_MS + 120_000);
}

/** Keeps restarts out until the returned release() is called (or the process exits). */
async function holdBrokerSteady(): Promise<() => void> {
  mkdirSync(MARKERS, { recursive: true });
  const marker = path.join(MARKERS, `steady-${process.pid}-${Math.random().toString(36).slice(2)}`);
  for (const started = Date.now(); ; ) {
    writeFileSync(marker, '');
    if (!liveMarkers().some((name) => name.startsWith(`${RESTARTING}-`)) || Date.now() - started > MAX_WAIT_MS) break;
    rmSync(marker, { force: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return () => rmSync(marker, { force: true });
}

/** Announces a restart and waits until no steady test runs; the returned function ends the announcement. */
async function claimRestarts(): Promise<() => void> {
  mkdirSync(MARKERS, { recursive: true });
  const marker = path.join(MARKERS, `${RESTARTING}-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(marker, '');
  const started = Date.now();
  while (liveMarkers().some((name) => name.startsWith('steady-')) && Date.now() - started < MAX_WAIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return () => rmSync(marker, { force: true });
}

/**
 * Claims the broker for the tests whose name matches before they start, so their restarts hit
 * traffic in flight rather than waiting for other files' tests to finish first.
 */
export function claimRestartsFor(testName: RegExp): void {
  let release: (() => void) | undefined;
  beforeEach(async () => {
    if (testName.test(expect.getState().currentTestName ?? '')) release = await claimRestarts();
  }, MAX_WAIT_MS + 10_000);
  afterEach(() => {
    release?.();
    release = undefined;
  });
}

/** `rabbitmqctl stop_app && start_app`, returning once 5672 answers the AMQP handshake again. */
export async function restartRabbitMq(): Promise<void> {
  const release = await claimRestarts();
  try {
    await run('bash', [path.join(REPO_ROOT, 'scripts/brokers/restart.sh'), 'rabbitmq'], { timeout: 180_000 });
  } finally {
    release();
  }
}

/** Server-side close of the connections whose connection_name starts with `prefix` (as an operator would). */
export async function closeConnectionsNamed(prefix: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', [
    '-q',
    'list_connections',
    'pid',
    'client_properties',
    '--no-table-headers',
  ]);
  // Lines look like: <rabbit@host.1.2.0>\t[{"connection_name","name (publisher)"},{"product","amqplib"},...]
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${prefix}`))
    .map((line) => line.split('\t')[0] as string);
  await Promise.all(
    pids.map((pid) => run('rabbitmqctl', ['-q', 'close_connection', pid, 'eventport test: simulated drop'])),
  );
  return pids.length;
}

/** Deletes the queues and exchanges whose names match, so test runs do not pile up on a shared broker. */
export async function deleteTopology(names: RegExp, vhost = '/'): Promise<void> {
  const list = async (kind: 'list_queues' | 'list_exchanges') =>
    (await run('rabbitmqctl', ['-q', kind, '-p', vhost, 'name', '--no-table-headers'])).stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => names.test(name));
  const [queues, exchanges] = await Promise.all([list('list_queues'), list('list_exchanges')]);
  const model = await connect(urlForVhost(vhost));
  try {
    const channel = await model.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
    await channel.close();
  } finally {
    await model.close();
  }
}

/** RABBITMQ_URL pointed at another vhost. */
export function urlForVhost(vhost: string): string {
  const url = new URL(RABBITMQ_URL);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return url.toString();
}

/** rabbitmqctl with its output, for assertions on what the broker holds. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  return (await run('rabbitmqctl', ['-q', ...args])).stdout;
}

/**
 * The groups of `topic` as the broker holds them, read with `rabbitmqctl list_bindings` (no plugin
 * needed): the queues `<topic>.<group>` bound to the topic's exchange.
 */
export async function groupsBoundTo(topic: string, vhost = '/'): Promise<string[]> {
  const bindings = JSON.parse(
    await rabbitmqctl(
      'list_bindings',
      '-p',
      vhost,
      'source_name',
      'destination_name',
      'destination_kind',
      '--formatter',
      'json',
    ),
  ) as { source_name: string; destination_name: string; destination_kind: string }[];
  const prefix = `${topic}.`;
  const groups = bindings
    .filter(
      (row) => row.source_name === topic && row.destination_kind === 'queue' && row.destination_name.startsWith(prefix),
    )
    .map((row) => row.destination_name.slice(prefix.length));
  return [...new Set(groups)];
}
