import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createAdapter, silentLogger } from '@eventport/core';
import {
  ALL_BACKENDS,
  applyLocalBrokerDefaults,
  BACKENDS,
  type BackendSpec,
  canonicalBackend,
  REPO_ROOT,
  sdkPackageStatus,
} from './backends.js';
import { DECORATORS, loadDecorator } from './decorators.js';
import { type EventStoreBenchResult, runEventStoreBench } from './event-store.js';
import { SdkTarget } from './sdk.js';
import { median, round } from './stats.js';
import type { BenchTarget, Consumer } from './target.js';
import {
  E2eSubscription,
  publishBatch,
  publishSingle,
  type RunResult,
  type WorkloadSettings,
  withTimeout,
} from './workloads.js';

const HELP = `Usage: node bench/dist/main.js [options]

  --backend NAME     backend to run (repeatable or comma list): ${ALL_BACKENDS.join(', ')} (alias: redis).
                     Default: memory plus every broker that answers a quick probe.
  --messages N       messages per measured run (default: memory 100000, redis/rabbitmq/kafka/nats 5000,
                     pubsub 2000, kinesis 500 -- kinesis-local takes ~150-300 puts/s)
  --memory-messages N  messages per run on memory only (default: --messages, else 100000)
  --rounds N         measured runs per client and workload, SDK and raw alternating (default 3)
  --concurrency N    handlers at once / prefetch, and publishers in flight for single publishes (default 16)
  --batch-size N     messages per publishBatch call (default 100)
  --timeout MS       a run that takes longer is reported as failed (default 60000)
  --out FILE         JSON result (default bench-results/bench.json); the markdown goes next to it (.md)
  --no-decorators    skip the decorator-overhead rows on memory
  --no-event-store   skip the event-store rows (memory and PostgreSQL stores)
  --no-inbox         skip the inbox overhead rows (memory and redis-streams, per inbox store)
  --workload NAME    only these workloads (repeatable or comma list): publish, publish-batch, e2e
  --side sdk|raw     run one client only on broker backends (for profiling: node --cpu-prof ...)
  -h, --help
`;

type Workload = 'publish' | 'publish-batch' | 'e2e';
const WORKLOADS: readonly Workload[] = ['publish', 'publish-batch', 'e2e'];

interface Settings extends WorkloadSettings {
  backends: string[] | undefined;
  /** Unset: each backend's default (BackendSpec.defaultMessages). */
  brokerMessages: number | undefined;
  memoryMessages: number;
  rounds: number;
  out: string;
  decorators: boolean;
  eventStore: boolean;
  inbox: boolean;
  workloads: readonly Workload[];
  /** Which clients run on broker backends (both unless --side; one side alone is for profiling). */
  sides: ReadonlySet<'sdk' | 'raw'>;
}

type Side =
  | { status: 'ok'; msgsPerSec: number; p50?: number; p99?: number; cpuUsPerMsg: number; rounds: RunResult[] }
  | { status: 'n/a' | 'failed'; reason: string; rounds?: RunResult[] };

interface Row {
  backend: string;
  workload: Workload;
  messages: number;
  sdk: Side;
  raw: Side;
  /** SDK / raw msgs/s. */
  ratio: number | null;
}

interface DecoratorRow {
  decorator: string;
  messages: number;
  with: Side;
  without: Side;
  /** with / without msgs/s. */
  ratio: number | null;
}

interface Skip {
  backend: string;
  reason: string;
}

const WORKLOAD_LABEL: Record<Workload, (settings: Settings) => string> = {
  publish: (s) => `publish, single (${s.concurrency} in flight)`,
  'publish-batch': (s) => `publishBatch (${s.batchSize}/call)`,
  e2e: (s) => `publish→handler→ack (concurrency ${s.concurrency})`,
};

const processStart = performance.now();
const log = (line: string) =>
  process.stderr.write(`[+${((performance.now() - processStart) / 1000).toFixed(1)}s] ${line}\n`);

function parseSettings(argv: string[]): Settings | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: 'string', multiple: true },
      messages: { type: 'string' },
      'memory-messages': { type: 'string' },
      rounds: { type: 'string' },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      'no-decorators': { type: 'boolean' },
      'no-event-store': { type: 'boolean' },
      'no-inbox': { type: 'boolean' },
      workload: { type: 'string', multiple: true },
      side: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return undefined;
  }
  let backends: string[] | undefined;
  if (values.backend) {
    backends = [];
    for (const name of values.backend.flatMap((value) => value.split(','))) {
      if (name.trim() === '') continue;
      const canonical = canonicalBackend(name);
      if (!canonical) throw new Error(`unknown backend "${name}"; use one of ${ALL_BACKENDS.join(', ')}`);
      if (!backends.includes(canonical)) backends.push(canonical);
    }
  }
  const messages = positive('messages', values.messages);
  const out = resolve(values.out ?? resolve(REPO_ROOT, 'bench-results', 'bench.json'));
  return {
    backends,
    brokerMessages: messages,
    memoryMessages: positive('memory-messages', values['memory-messages']) ?? messages ?? 100_000,
    rounds: positive('rounds', values.rounds) ?? 3,
    concurrency: positive('concurrency', values.concurrency) ?? 16,
    batchSize: positive('batch-size', values['batch-size']) ?? 100,
    timeoutMs: positive('timeout', values.timeout) ?? 60_000,
    out,
    decorators: !values['no-decorators'],
    eventStore: !values['no-event-store'],
    inbox: !values['no-inbox'],
    workloads: parseWorkloads(values.workload),
    sides: parseSide(values.side),
  };
}

function parseWorkloads(values: string[] | undefined): readonly Workload[] {
  if (!values) return WORKLOADS;
  const chosen = values.flatMap((value) => value.split(',')).filter((value) => value.trim() !== '');
  for (const name of chosen) {
    if (!(WORKLOADS as readonly string[]).includes(name)) {
      throw new Error(`unknown workload "${name}"; use ${WORKLOADS.join(', ')}`);
    }
  }
  return WORKLOADS.filter((workload) => chosen.includes(workload));
}

function parseSide(value: string | undefined): ReadonlySet<'sdk' | 'raw'> {
  if (value === undefined || value === 'both') return new Set(['sdk', 'raw']);
  if (value === 'sdk' || value === 'raw') return new Set([value]);
  throw new Error(`--side must be sdk, raw or both (got "${value}")`);
}

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`--${name} must be a positive integer (got "${value}")`);
  return number;
}

const describe = (error: unknown) => (error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));

/** Warm-up run size: enough to open connections, declare topology and get the JIT going. */
const warmupSize = (messages: number) => Math.max(100, Math.min(messages, 1_000, Math.ceil(messages / 5)));

function runWorkload(
  workload: Workload,
  target: BenchTarget,
  topic: string,
  messages: number,
  settings: Settings,
  e2e: E2eSubscription | undefined,
): Promise<RunResult> {
  if (workload === 'publish') return publishSingle(target, topic, messages, settings);
  if (workload === 'publish-batch') return publishBatch(target, topic, messages, settings);
  if (!e2e) throw new Error('end-to-end run without a subscription');
  return e2e.measure(target, topic, messages, settings);
}

function aggregate(rounds: RunResult[]): Side {
  const ok = rounds.filter((run) => run.error === undefined);
  if (ok.length === 0) return { status: 'failed', reason: rounds[0]?.error ?? 'no run', rounds };
  const side: Side = {
    status: 'ok',
    msgsPerSec: median(ok.map((run) => run.msgsPerSec)),
    cpuUsPerMsg: median(ok.map((run) => run.cpuUsPerMsg)),
    rounds,
  };
  const p50 = ok.flatMap((run) => (run.latency ? [run.latency.p50] : []));
  const p99 = ok.flatMap((run) => (run.latency ? [run.latency.p99] : []));
  if (p50.length) side.p50 = median(p50);
  if (p99.length) side.p99 = median(p99);
  return side;
}

const ratioOf = (a: Side, b: Side) => (a.status === 'ok' && b.status === 'ok' ? a.msgsPerSec / b.msgsPerSec : null);

interface Contender {
  label: string;
  target: BenchTarget;
  topic: string;
  e2e?: E2eSubscription;
  consumer?: Consumer;
  rounds: RunResult[];
  setupError?: string;
}

/**
 * One workload for several clients: set up each, warm each up once, then `rounds` measured runs per
 * client in rotating order (SDK, raw / raw, SDK / ...) so drift on a shared machine hits both alike.
 */
async function measure(
  workload: Workload,
  contenders: Contender[],
  messages: number,
  settings: Settings,
  group: string,
  prepare: boolean,
  context: string,
): Promise<void> {
  for (const contender of contenders) {
    try {
      if (workload === 'e2e') {
        contender.e2e = new E2eSubscription();
        const subscribing = contender.target.subscribe(
          contender.topic,
          group,
          settings.concurrency,
          contender.e2e.onMessage,
        );
        try {
          contender.consumer = await withTimeout(subscribing, settings.timeoutMs, 'subscribe');
        } catch (error) {
          // A subscribe that succeeds after the timeout still gets closed.
          subscribing
            .then(
              (late) => late.close(),
              () => undefined,
            )
            .catch(() => undefined);
          throw error;
        }
      } else if (prepare) {
        await withTimeout(contender.target.prepare(contender.topic, group), settings.timeoutMs, 'prepare');
      }
      await runWorkload(workload, contender.target, contender.topic, warmupSize(messages), settings, contender.e2e);
    } catch (error) {
      contender.setupError = describe(error);
      log(`[${context}] ${workload} ${contender.label}: setup/warm-up failed: ${contender.setupError}`);
    }
  }
  for (let roundIndex = 0; roundIndex < settings.rounds; roundIndex++) {
    const order = contenders.map((_, index) => contenders[(index + roundIndex) % contenders.length] as Contender);
    for (const contender of order) {
      if (contender.setupError !== undefined) continue;
      let result: RunResult;
      try {
        result = await runWorkload(workload, contender.target, contender.topic, messages, settings, contender.e2e);
      } catch (error) {
        result = {
          messages,
          seconds: Number.NaN,
          msgsPerSec: Number.NaN,
          cpuUsPerMsg: Number.NaN,
          error: describe(error),
        };
      }
      contender.rounds.push(result);
      log(
        `[${context}] ${workload} ${contender.label} round ${roundIndex + 1}: ${
          result.error ??
          `${fmtRate(result.msgsPerSec)} msg/s, p50 ${fmtMs(result.latency?.p50)} ms, p99 ${fmtMs(result.latency?.p99)} ms, ${Math.round(result.cpuUsPerMsg)} µs CPU/msg`
        }`,
      );
    }
  }
  await Promise.allSettled(contenders.map((contender) => contender.consumer?.close()));
}

function sideOf(contender: Contender | undefined, missing: string): Side {
  if (!contender) return { status: 'n/a', reason: missing };
  if (contender.setupError !== undefined) return { status: 'failed', reason: contender.setupError };
  return aggregate(contender.rounds);
}

async function benchBroker(spec: BackendSpec, settings: Settings, tag: string, skips: Skip[]): Promise<Row[]> {
  const messages = settings.brokerMessages ?? spec.defaultMessages;
  let sdk: SdkTarget | undefined;
  let sdkMissing = '';
  const status = sdkPackageStatus(spec.name);
  if (!settings.sides.has('sdk')) {
    sdkMissing = 'not run (--side raw)';
  } else if (!status.ok) {
    sdkMissing = status.reason;
    skips.push({ backend: spec.name, reason: `SDK: ${status.reason}; raw client only` });
    log(`[${spec.name}] SDK skipped: @eventport/${spec.name} ${status.reason}; running the raw client only`);
  } else {
    try {
      sdk = await SdkTarget.create(spec.name);
    } catch (error) {
      sdkMissing = `adapter failed: ${describe(error)}`;
      skips.push({ backend: spec.name, reason: `SDK ${sdkMissing}` });
      log(`[${spec.name}] SDK ${sdkMissing}`);
    }
  }
  let raw: BenchTarget | undefined;
  let rawMissing = '';
  try {
    raw = await spec.raw();
  } catch (error) {
    rawMissing = `raw client failed: ${describe(error)}`;
    skips.push({ backend: spec.name, reason: rawMissing });
    log(`[${spec.name}] ${rawMissing}`);
  }
  const rows: Row[] = [];
  const group = `bench-${tag}`;
  try {
    for (const workload of settings.workloads) {
      const topicOf = (kind: string) => `bench-${tag}-${workload}-${kind}`;
      const contenders: Contender[] = [];
      const sdkContender = sdk && { label: 'sdk', target: sdk, topic: topicOf('sdk'), rounds: [] };
      const rawContender = raw && { label: 'raw', target: raw, topic: topicOf('raw'), rounds: [] };
      if (sdkContender) contenders.push(sdkContender);
      // The raw client is created even with --side sdk: it deletes what the run created.
      if (rawContender && settings.sides.has('raw')) contenders.push(rawContender);
      if (contenders.length === 0) continue;
      try {
        await measure(workload, contenders, messages, settings, group, spec.publishNeedsGroup, spec.name);
      } finally {
        for (const contender of contenders) {
          const cleaning = raw ? raw.cleanup(contender.topic, [group]) : sdk?.adapter.deleteTopic(contender.topic);
          await cleaning?.catch((error: unknown) =>
            log(`[${spec.name}] cleanup of ${contender.topic}: ${describe(error)}`),
          );
        }
      }
      const sdkSide = sideOf(sdkContender, sdkMissing);
      const rawSide = settings.sides.has('raw')
        ? sideOf(rawContender, rawMissing)
        : ({ status: 'n/a', reason: 'not run (--side sdk)' } as Side);
      rows.push({
        backend: spec.name,
        workload,
        messages,
        sdk: sdkSide,
        raw: rawSide,
        ratio: ratioOf(sdkSide, rawSide),
      });
    }
  } finally {
    await Promise.allSettled([sdk?.close(), raw?.close()]);
  }
  return rows;
}

async function benchMemory(settings: Settings, tag: string): Promise<{ rows: Row[]; decorators: DecoratorRow[] }> {
  const messages = settings.memoryMessages;
  const rows: Row[] = [];
  if (!settings.sides.has('sdk')) return { rows, decorators: [] };
  const noRaw: Side = { status: 'n/a', reason: 'in-process backend: no raw client' };
  const sdk = await SdkTarget.create('memory');
  try {
    for (const workload of settings.workloads) {
      const contender: Contender = { label: 'sdk', target: sdk, topic: `bench-${tag}-${workload}-sdk`, rounds: [] };
      await measure(workload, [contender], messages, settings, `bench-${tag}`, false, 'memory');
      await sdk.adapter.deleteTopic(contender.topic).catch(() => undefined);
      rows.push({ backend: 'memory', workload, messages, sdk: sideOf(contender, ''), raw: noRaw, ratio: null });
    }
  } finally {
    await sdk.close();
  }
  const decorators: DecoratorRow[] = [];
  if (!settings.decorators) return { rows, decorators };
  const adapters: SdkTarget[] = [];
  const newMemoryAdapter = () => createAdapter('memory', { logger: silentLogger });
  try {
    const plain: Contender = {
      label: 'without decorators',
      target: new SdkTarget(await newMemoryAdapter()),
      topic: `bench-${tag}-plain`,
      rounds: [],
    };
    adapters.push(plain.target as SdkTarget);
    const contenders: Contender[] = [plain];
    const unavailable = new Map<string, string>();
    for (const spec of DECORATORS) {
      const decorate = loadDecorator(spec);
      if (typeof decorate === 'string') {
        unavailable.set(spec.name, decorate);
        log(`[memory] ${spec.name}: ${decorate}`);
        continue;
      }
      try {
        const target = new SdkTarget(decorate(await newMemoryAdapter()));
        adapters.push(target);
        contenders.push({ label: spec.name, target, topic: `bench-${tag}-${spec.name}`, rounds: [] });
      } catch (error) {
        unavailable.set(spec.name, `n/a (${spec.name}() failed: ${describe(error)})`);
      }
    }
    await measure('e2e', contenders, messages, settings, `bench-${tag}`, false, 'memory decorators');
    const without = sideOf(plain, '');
    for (const spec of DECORATORS) {
      const contender = contenders.find(({ label }) => label === spec.name);
      const side: Side = contender
        ? sideOf(contender, '')
        : { status: 'n/a', reason: unavailable.get(spec.name) ?? 'n/a' };
      decorators.push({ decorator: spec.name, messages, with: side, without, ratio: ratioOf(side, without) });
    }
    for (const contender of contenders) {
      await (contender.target as SdkTarget).adapter.deleteTopic(contender.topic).catch(() => undefined);
    }
  } finally {
    await Promise.allSettled(adapters.map((target) => target.close()));
  }
  return { rows, decorators };
}

// --- output -----------------------------------------------------------------------------------------

function fmtRate(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return Math.round(value).toLocaleString('en-US');
}

function fmtMs(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const TARGET_RATIO = 0.95;

function fmtSide(side: Side): { rate: string; latency: string; cpu: string } {
  if (side.status !== 'ok') {
    return { rate: side.status === 'n/a' ? `n/a (${side.reason})` : `failed: ${side.reason}`, latency: '', cpu: '–' };
  }
  return {
    rate: fmtRate(side.msgsPerSec),
    latency: `${fmtMs(side.p50)} / ${fmtMs(side.p99)}`,
    cpu: String(Math.round(side.cpuUsPerMsg)),
  };
}

function fmtRatio(ratio: number | null): string {
  if (ratio === null) return 'n/a';
  return `${ratio.toFixed(2)}${ratio < TARGET_RATIO ? ' ⚠' : ''}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
}

function machine(): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('model name'));
    if (line) cpuModel = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // Not Linux: os.cpus() it is.
  }
  return {
    cpus: availableParallelism(),
    cpuModel,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

function markdown(
  settings: Settings,
  host: Machine,
  rows: Row[],
  decorators: DecoratorRow[],
  eventStore: EventStoreBenchResult[],
  inbox: InboxOverhead | undefined,
  skips: Skip[],
  startedAt: Date,
  seconds: number,
): string {
  const lines: string[] = [];
  lines.push(`## eventport benchmark — ${startedAt.toISOString()}`);
  lines.push('');
  lines.push(
    `${host.cpus} CPU (${host.cpuModel}), ${host.memoryGiB} GiB, node ${host.node}, ${host.platform}. ` +
      `1 KiB JSON payload; median of ${settings.rounds} alternating runs per client ` +
      `after one warm-up each; took ${Math.round(seconds)} s.`,
  );
  lines.push('');
  lines.push(
    '| backend | workload | msgs | SDK msg/s | raw msg/s | SDK/raw | SDK p50 / p99 ms | raw p50 / p99 ms | CPU µs/msg SDK / raw |',
  );
  lines.push('|---|---|--:|--:|--:|--:|--:|--:|--:|');
  for (const row of rows) {
    const sdk = fmtSide(row.sdk);
    const raw = fmtSide(row.raw);
    lines.push(
      `| ${row.backend} | ${cell(WORKLOAD_LABEL[row.workload](settings))} | ${row.messages.toLocaleString('en-US')} | ${cell(sdk.rate)} | ${cell(raw.rate)} | ${fmtRatio(row.ratio)} | ${sdk.latency} | ${raw.latency} | ${sdk.cpu} / ${raw.cpu} |`,
    );
  }
  lines.push('');
  lines.push(
    'Latency: publish rows, from the call to its resolution (per publish, or per batch call); publish→handler rows, from handing the message to publish until its handler runs. ' +
      `CPU: user+system time of the bench process per message (client side; the broker runs elsewhere). ⚠ = below the ${TARGET_RATIO} target.`,
  );
  if (decorators.length > 0) {
    lines.push('');
    lines.push(
      `### Decorator overhead (memory, publish→handler→ack, ${settings.memoryMessages.toLocaleString('en-US')} msgs)`,
    );
    lines.push('');
    lines.push(
      '| decorator | msg/s with | msg/s without | with/without | p50 / p99 ms with | CPU µs/msg with / without |',
    );
    lines.push('|---|--:|--:|--:|--:|--:|');
    for (const row of decorators) {
      const withSide = fmtSide(row.with);
      const without = fmtSide(row.without);
      lines.push(
        `| ${row.decorator} | ${cell(withSide.rate)} | ${cell(without.rate)} | ${row.ratio === null ? 'n/a' : row.ratio.toFixed(2)} | ${withSide.latency} | ${withSide.cpu} / ${without.cpu} |`,
      );
    }
  }
  if (eventStore.length > 0) {
    lines.push('');
    lines.push(`### Event store (${eventStore[0]?.writers} concurrent writers)`);
    lines.push('');
    lines.push(
      '| store | single-event appends/s | appends of 100 /s (events/s) | readAll events/s | load 10,000-event aggregate, no snapshots / snapshot + tail | ratio |',
    );
    lines.push('|---|--:|--:|--:|--:|--:|');
    for (const store of eventStore) {
      lines.push(
        `| ${store.backend} | ${store.singleAppendsPerSecond.toLocaleString('en-US')} | ${store.batchOf100AppendsPerSecond.toLocaleString('en-US')} (${store.batchOf100EventsPerSecond.toLocaleString('en-US')}) | ${store.readAllEventsPerSecond.toLocaleString('en-US')} | ${store.loadWithoutSnapshotsMs} ms / ${store.loadWithSnapshotsMs} ms (tail ${store.snapshotTail}) | ${store.snapshotSpeedup}× |`,
      );
    }
  }
  if (inbox) {
    lines.push(
      '',
      '### Inbox overhead (publish→handler→ack, with/without `inbox.handler`, per store)',
      '',
      inbox.table,
    );
  }
  if (skips.length > 0) {
    lines.push('');
    for (const skip of skips) lines.push(`- ${skip.backend}: ${cell(skip.reason)}`);
  }
  return `${lines.join('\n')}\n`;
}

interface InboxOverhead {
  rows: unknown[];
  /** Markdown rows as packages/inbox/scripts/overhead.ts renders them. */
  table: string;
}

/**
 * The inbox's own overhead script (it runs from the package's sources), in a child process so its
 * database pools and Redis clients end with it.
 */
function runInboxOverhead(outDir: string): InboxOverhead {
  const inbox = join(REPO_ROOT, 'packages', 'inbox', 'scripts');
  const out = join(outDir, 'inbox-overhead.json');
  mkdirSync(outDir, { recursive: true });
  const printed = execFileSync(
    process.execPath,
    [
      '-r',
      join(REPO_ROOT, 'scripts', 'register-ts.js'),
      join(inbox, 'overhead.ts'),
      '--messages',
      '10000',
      '--out',
      out,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { rows } = JSON.parse(readFileSync(out, 'utf8')) as { rows: unknown[] };
  const table = printed.slice(printed.indexOf('| backend |')).trim();
  return { rows, table };
}

// --- main -------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  if (!settings) return;
  applyLocalBrokerDefaults();
  const startedAt = new Date();
  const started = performance.now();
  const tag = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const skips: Skip[] = [];
  const requested = settings.backends ?? ALL_BACKENDS;
  const brokers: BackendSpec[] = [];
  for (const name of requested) {
    const spec = BACKENDS[name];
    if (!spec) continue;
    if (await spec.probe(1_000)) {
      brokers.push(spec);
    } else {
      skips.push({ backend: name, reason: `skipped: no broker answers at ${spec.address()}` });
      log(`[${name}] skipped: no broker answers at ${spec.address()}`);
    }
  }
  const rows: Row[] = [];
  let decorators: DecoratorRow[] = [];
  if (requested.includes('memory')) {
    log('[memory] running');
    const memory = await benchMemory(settings, tag);
    rows.push(...memory.rows);
    decorators = memory.decorators;
  }
  for (const spec of brokers) {
    log(`[${spec.name}] running against ${spec.address()}`);
    try {
      rows.push(...(await benchBroker(spec, settings, tag, skips)));
    } catch (error) {
      skips.push({ backend: spec.name, reason: `failed: ${describe(error)}` });
      log(`[${spec.name}] failed: ${describe(error)}`);
    }
  }
  const eventStore: EventStoreBenchResult[] = [];
  if (settings.eventStore) {
    for (const backend of ['memory', 'postgres'] as const) {
      log(`[event-store ${backend}] running`);
      try {
        eventStore.push(await runEventStoreBench({ backend }));
      } catch (error) {
        skips.push({ backend: `event-store ${backend}`, reason: `failed: ${describe(error)}` });
      }
    }
  }
  let inbox: InboxOverhead | undefined;
  if (settings.inbox) {
    log('[inbox] running');
    try {
      inbox = runInboxOverhead(dirname(settings.out));
    } catch (error) {
      skips.push({ backend: 'inbox', reason: `failed: ${describe(error)}` });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const host = machine();
  const md = markdown(settings, host, rows, decorators, eventStore, inbox, skips, startedAt, seconds);
  const json = {
    startedAt: startedAt.toISOString(),
    seconds: round(seconds, 1),
    machine: host,
    settings: {
      backends: requested,
      brokerMessages:
        settings.brokerMessages ??
        Object.fromEntries(Object.values(BACKENDS).map((spec) => [spec.name, spec.defaultMessages])),
      memoryMessages: settings.memoryMessages,
      payloadBytes: 1024,
      rounds: settings.rounds,
      concurrency: settings.concurrency,
      batchSize: settings.batchSize,
      timeoutMs: settings.timeoutMs,
    },
    rows,
    decorators,
    eventStore,
    inbox: inbox?.rows,
    skipped: skips,
  };
  const mdPath = settings.out.replace(/\.json$/i, '') + '.md';
  mkdirSync(dirname(settings.out), { recursive: true });
  writeFileSync(settings.out, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(mdPath, md);
  process.stdout.write(md);
  log(`wrote ${settings.out} and ${mdPath}`);
}

main().then(
  // Client libraries keep timers and sockets alive after close (kafkajs, gRPC): the results are written.
  () => process.exit(0),
  (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
