import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { type BacklogResult, measureBacklog } from './backlog.js';
import { ALL_STACKED, DECORATORS, loadDecorator, loadStack } from './decorators.js';
import { type EventStoreBenchResult, runEventStoreBench } from './event-store.js';
import { InProcessFloor } from './floor.js';
import { describe, log } from './log.js';
import {
  type Contender,
  contender,
  type MeasureSettings,
  measure,
  messagesOf,
  notRun,
  ratioOf,
  type Side,
  sideOf,
  WORKLOADS,
  type Workload,
} from './measure.js';
import {
  type DecoratorRow,
  type InboxOverhead,
  machine,
  markdown,
  type PeerComparison,
  type Results,
  type Row,
  type Skip,
} from './report.js';
import { benchScaling, type ScalingRow } from './scaling.js';
import { SdkTarget } from './sdk.js';
import { round } from './stats.js';
import type { BenchTarget } from './target.js';

/** The clients a run can measure; --side picks some (for profiling one alone: node --cpu-prof ...). */
const SIDES = ['sdk', 'raw', 'bare', 'floor', 'peers'] as const;
type SideName = (typeof SIDES)[number];

/** Backends with scaling tables: the in-process one and one broker. */
const SCALING_BACKENDS = ['memory', 'redis-streams'];
const DEFAULT_BACKLOGS = [10_000, 1_000_000];
/** Peer libraries have no batch call: compared on single publishes and end to end. */
const PEER_WORKLOADS: readonly Workload[] = ['publish', 'e2e'];

const HELP = `Usage: node bench/dist/main.js [options]

  --backend NAME     backend to run (repeatable or comma list): ${ALL_BACKENDS.join(', ')} (alias: redis).
                     Default: memory plus every broker that answers a quick probe.
  --messages N       messages per measured run (default: memory 100000, redis/rabbitmq/kafka/nats 5000,
                     pubsub 2000, kinesis 500 -- kinesis-local takes ~150-300 puts/s)
  --memory-messages N  messages per run on memory only (default: --messages, else 100000)
  --rounds N         measured runs per client and workload, clients alternating (default 3)
  --concurrency N    handlers at once / prefetch, and publishers in flight for single publishes (default 16)
  --batch-size N     messages per publishBatch call (default 100)
  --timeout MS       a run that takes longer is reported as failed (default 60000)
  --out FILE         JSON result (default bench-results/bench.json); the markdown goes next to it (.md)
  --no-decorators    skip the decorator-overhead rows on memory
  --no-event-store   skip the event-store rows (memory and PostgreSQL stores)
  --no-inbox         skip the inbox overhead rows (memory and redis-streams, per inbox store)
  --no-scaling       skip the scaling tables (keys, concurrency, subscriptions; memory backlog)
  --scaling-messages N  messages per scaling run (default: memory 20000, redis-streams its --messages)
  --backlog N        memory backlog sizes (repeatable or comma list; default ${DEFAULT_BACKLOGS.join(',')})
  --workload NAME    only these workloads (repeatable or comma list): ${WORKLOADS.join(', ')}
  --side NAME        only these clients (repeatable or comma list): ${SIDES.join(', ')}
                     (for profiling one alone: node --cpu-prof ...)
  -h, --help
`;

interface Settings extends MeasureSettings {
  backends: string[] | undefined;
  /** Unset: each backend's default (BackendSpec.defaultMessages). */
  brokerMessages: number | undefined;
  memoryMessages: number;
  out: string;
  decorators: boolean;
  eventStore: boolean;
  inbox: boolean;
  scaling: boolean;
  /** Unset: memory 20,000, brokers their run size. */
  scalingMessages: number | undefined;
  backlogs: readonly number[];
  workloads: readonly Workload[];
  sides: ReadonlySet<SideName>;
}

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
      'no-scaling': { type: 'boolean' },
      'scaling-messages': { type: 'string' },
      backlog: { type: 'string', multiple: true },
      workload: { type: 'string', multiple: true },
      side: { type: 'string', multiple: true },
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
    for (const name of list(values.backend)) {
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
    scaling: !values['no-scaling'],
    scalingMessages: positive('scaling-messages', values['scaling-messages']),
    backlogs: values.backlog
      ? list(values.backlog).map((size) => positive('backlog', size) as number)
      : DEFAULT_BACKLOGS,
    workloads: chosen('workload', WORKLOADS, values.workload),
    sides: new Set(chosen('side', SIDES, values.side)),
  };
}

/** Repeatable options that also take comma lists. */
const list = (values: string[]) =>
  values
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');

function chosen<T extends string>(option: string, all: readonly T[], values: string[] | undefined): readonly T[] {
  if (!values) return all;
  const names = list(values);
  for (const name of names) {
    if (!(all as readonly string[]).includes(name))
      throw new Error(`unknown --${option} "${name}"; use ${all.join(', ')}`);
  }
  return all.filter((name) => names.includes(name));
}

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`--${name} must be a positive integer (got "${value}")`);
  return number;
}

// --- broker backends ---------------------------------------------------------------------------------

/** A client that opened, or why it did not. */
type Opened = { target: BenchTarget; missing?: undefined } | { target?: undefined; missing: string };
const NOT_CHOSEN: Opened = { missing: 'not run (--side)' };

async function open(what: string, create: () => Promise<BenchTarget>, backend: string, skips: Skip[]): Promise<Opened> {
  try {
    return { target: await create() };
  } catch (error) {
    const missing = `${what} failed: ${describe(error)}`;
    skips.push({ backend, reason: missing });
    log(`[${backend}] ${missing}`);
    return { missing };
  }
}

async function openSdk(spec: BackendSpec, settings: Settings, skips: Skip[]): Promise<Opened> {
  if (!settings.sides.has('sdk')) return NOT_CHOSEN;
  const status = sdkPackageStatus(spec.name);
  if (!status.ok) {
    skips.push({ backend: spec.name, reason: `SDK: ${status.reason}; raw clients only` });
    log(`[${spec.name}] SDK skipped: @eventport/${spec.name} ${status.reason}; running the raw clients only`);
    return { missing: status.reason };
  }
  return open('SDK adapter', () => SdkTarget.create(spec.name), spec.name, skips);
}

const sideIfRun = (settings: Settings, side: SideName, contender: Contender | undefined, missing: string): Side =>
  settings.sides.has(side) ? sideOf(contender, missing) : notRun('not run (--side)');

async function benchBroker(spec: BackendSpec, settings: Settings, tag: string, skips: Skip[]): Promise<Row[]> {
  const messages = settings.brokerMessages ?? spec.defaultMessages;
  const sdk = await openSdk(spec, settings, skips);
  // The raw client is opened even when it is not measured: it deletes what the run created.
  const raw = await open('raw client', () => spec.raw('sdk-headers'), spec.name, skips);
  const bare = settings.sides.has('bare')
    ? await open('bare client', () => spec.raw('bare'), spec.name, skips)
    : NOT_CHOSEN;
  const peers = settings.sides.has('peers')
    ? await Promise.all(
        spec.peers.map(async (peer) => ({ peer, ...(await open(peer.pkg, peer.create, spec.name, skips)) })),
      )
    : [];
  const rows: Row[] = [];
  try {
    for (const workload of settings.workloads) {
      const contenderOf = (label: string, opened: Opened) => {
        const slug = label.replace(/\W+/g, '');
        return (
          opened.target && contender(label, opened.target, [`bench-${tag}-${workload}-${slug}`], `bench-${tag}-${slug}`)
        );
      };
      const sdkContender = contenderOf('sdk', sdk);
      const rawContender = settings.sides.has('raw') ? contenderOf('raw', raw) : undefined;
      const bareContender = contenderOf('bare', bare);
      const peerContenders = PEER_WORKLOADS.includes(workload)
        ? peers.map((opened) => ({ opened, contender: contenderOf(opened.peer.pkg, opened) }))
        : [];
      const measured = [sdkContender, rawContender, bareContender, ...peerContenders.map((each) => each.contender)];
      const contenders = measured.filter((each): each is Contender => each !== undefined);
      if (contenders.length === 0) continue;
      try {
        await measure(workload, contenders, messages, settings, spec.publishNeedsGroup, spec.name);
      } finally {
        for (const each of contenders) {
          // The SDK's topic has the same broker-side names as the raw client's: the raw client deletes it.
          const cleaner = each === sdkContender ? raw.target : each.target;
          const topic = each.topics[0] as string;
          const cleaning = cleaner ? cleaner.cleanup(topic, [each.group]) : sdkAdapterOf(sdk)?.deleteTopic(topic);
          await cleaning?.catch((error: unknown) => log(`[${spec.name}] cleanup of ${topic}: ${describe(error)}`));
        }
      }
      const sdkSide = sideOf(sdkContender, sdk.missing ?? '');
      const rawSide = sideIfRun(settings, 'raw', rawContender, raw.missing ?? '');
      const bareSide = sideIfRun(settings, 'bare', bareContender, bare.missing ?? '');
      const row: Row = {
        backend: spec.name,
        workload,
        messages: messagesOf(workload, messages),
        sdk: sdkSide,
        raw: rawSide,
        bare: bareSide,
        ratio: ratioOf(sdkSide, rawSide),
        ratioBare: ratioOf(sdkSide, bareSide),
      };
      if (peerContenders.length > 0) {
        row.peers = peerContenders.map(({ opened, contender: each }): PeerComparison => {
          const side = sideOf(each, opened.missing ?? '');
          const comparison: PeerComparison = { peer: opened.peer.pkg, side, ratio: ratioOf(sdkSide, side) };
          if (opened.peer.note) comparison.note = opened.peer.note;
          return comparison;
        });
      }
      rows.push(row);
    }
  } finally {
    const opened = [sdk, raw, bare, ...peers].flatMap(({ target }) => (target ? [target] : []));
    await Promise.allSettled(opened.map((target) => target.close()));
  }
  return rows;
}

const sdkAdapterOf = (opened: Opened) => (opened.target instanceof SdkTarget ? opened.target.adapter : undefined);

// --- memory ------------------------------------------------------------------------------------------

async function benchMemory(settings: Settings, tag: string): Promise<Row[]> {
  const messages = settings.memoryMessages;
  const rows: Row[] = [];
  const inProcess = notRun('in-process');
  const sdk = settings.sides.has('sdk') ? await SdkTarget.create('memory') : undefined;
  const floor = new InProcessFloor();
  try {
    for (const workload of settings.workloads) {
      const topic = (label: string) => [`bench-${tag}-${workload}-${label}`];
      const group = `bench-${tag}`;
      const sdkContender = sdk && contender('sdk', sdk, topic('sdk'), group);
      const floorContender = settings.sides.has('floor') ? contender('floor', floor, topic('floor'), group) : undefined;
      const contenders = [sdkContender, floorContender].filter((each): each is Contender => each !== undefined);
      if (contenders.length === 0) continue;
      await measure(workload, contenders, messages, settings, false, 'memory');
      if (sdkContender) await sdk?.adapter.deleteTopic(sdkContender.topics[0] as string).catch(() => undefined);
      const sdkSide = sideOf(sdkContender, 'not run (--side)');
      const floorSide = sideIfRun(settings, 'floor', floorContender, '');
      rows.push({
        backend: 'memory',
        workload,
        messages: messagesOf(workload, messages),
        sdk: sdkSide,
        raw: inProcess,
        bare: inProcess,
        ratio: null,
        ratioBare: null,
        floor: floorSide,
        ratioFloor: ratioOf(sdkSide, floorSide),
      });
    }
  } finally {
    await sdk?.close();
  }
  return rows;
}

async function benchDecorators(settings: Settings, tag: string): Promise<DecoratorRow[]> {
  const messages = settings.memoryMessages;
  const decorators: DecoratorRow[] = [];
  const adapters: SdkTarget[] = [];
  const newMemoryAdapter = () => createAdapter('memory', { logger: silentLogger });
  try {
    const plainTarget = new SdkTarget(await newMemoryAdapter());
    adapters.push(plainTarget);
    const group = `bench-${tag}`;
    const plain = contender('without decorators', plainTarget, [`bench-${tag}-plain`], group);
    const contenders: Contender[] = [plain];
    const unavailable = new Map<string, string>();
    const rows = DECORATORS.map((spec) => ({ name: spec.name, decorate: loadDecorator(spec) }));
    rows.push({ name: ALL_STACKED, decorate: loadStack() });
    for (const { name, decorate } of rows) {
      if (typeof decorate === 'string') {
        unavailable.set(name, decorate);
        log(`[memory] ${name}: ${decorate}`);
        continue;
      }
      try {
        const target = new SdkTarget(decorate(await newMemoryAdapter()));
        adapters.push(target);
        contenders.push(contender(name, target, [`bench-${tag}-${name.replace(/ /g, '-')}`], group));
      } catch (error) {
        unavailable.set(name, `n/a (${name}() failed: ${describe(error)})`);
      }
    }
    await measure('e2e', contenders, messages, settings, false, 'memory decorators');
    const without = sideOf(plain, '');
    for (const { name } of rows) {
      const decorated = contenders.find(({ label }) => label === name);
      const side = decorated ? sideOf(decorated, '') : notRun(unavailable.get(name) ?? 'n/a');
      decorators.push({ decorator: name, messages, with: side, without, ratio: ratioOf(side, without) });
    }
    for (const each of contenders) {
      await (each.target as SdkTarget).adapter.deleteTopic(each.topics[0] as string).catch(() => undefined);
    }
  } finally {
    await Promise.allSettled(adapters.map((target) => target.close()));
  }
  return decorators;
}

// --- inbox -------------------------------------------------------------------------------------------

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

// --- main --------------------------------------------------------------------------------------------

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
    rows.push(...(await benchMemory(settings, tag)));
    if (settings.decorators && settings.sides.has('sdk')) decorators = await benchDecorators(settings, tag);
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
  const scaling: ScalingRow[] = [];
  const backlog: BacklogResult[] = [];
  if (settings.scaling && settings.sides.has('sdk')) {
    const reachable = ['memory', ...brokers.map((spec) => spec.name)];
    for (const backend of SCALING_BACKENDS.filter((name) => requested.includes(name) && reachable.includes(name))) {
      if (backend !== 'memory' && !sdkPackageStatus(backend).ok) continue;
      const messages =
        settings.scalingMessages ??
        (backend === 'memory' ? 20_000 : (settings.brokerMessages ?? BACKENDS[backend]?.defaultMessages ?? 5_000));
      log(`[${backend}] scaling`);
      try {
        scaling.push(...(await benchScaling(backend, messages, settings, tag)));
      } catch (error) {
        skips.push({ backend: `${backend} scaling`, reason: `failed: ${describe(error)}` });
        log(`[${backend}] scaling failed: ${describe(error)}`);
      }
    }
    if (requested.includes('memory')) {
      for (const size of settings.backlogs) {
        log(`[memory] backlog of ${size.toLocaleString('en-US')}`);
        backlog.push(measureBacklog(size, settings));
      }
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
  const results: Results = {
    settings,
    host: machine(),
    rows,
    decorators,
    scaling,
    backlog,
    eventStore,
    inbox,
    skips,
    startedAt,
    seconds,
  };
  const json = {
    startedAt: startedAt.toISOString(),
    seconds: round(seconds, 1),
    machine: results.host,
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
      sides: [...settings.sides],
    },
    rows,
    decorators,
    scaling: { rows: scaling, backlog },
    eventStore,
    inbox: inbox?.rows,
    skipped: skips,
  };
  const md = markdown(results);
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
