import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import type { BacklogResult } from './backlog.js';
import type { EventStoreBenchResult } from './event-store.js';
import { cell, fmtCount, fmtMiB, fmtMs, fmtRate } from './format.js';
import { PACED_RATE, type Side, type Workload } from './measure.js';
import type { Dimension, ScalingRow } from './scaling.js';
import { round } from './stats.js';

/** eventport against another library on the same broker, same workload, same run. */
export interface PeerComparison {
  peer: string;
  /** Where its work differs from the SDK's. */
  note?: string;
  side: Side;
  /** SDK ÷ peer msgs/s. */
  ratio: number | null;
}

export interface Row {
  backend: string;
  workload: Workload;
  messages: number;
  sdk: Side;
  /** The raw client sending the headers the SDK writes. */
  raw: Side;
  /** The raw client sending the body alone. */
  bare: Side;
  /** SDK ÷ raw msgs/s. */
  ratio: number | null;
  /** SDK ÷ bare msgs/s. */
  ratioBare: number | null;
  /** Memory only: the in-process floor (src/floor.ts), and SDK ÷ floor msgs/s. */
  floor?: Side;
  ratioFloor?: number | null;
  peers?: PeerComparison[];
}

export interface DecoratorRow {
  decorator: string;
  messages: number;
  with: Side;
  without: Side;
  /** with / without msgs/s. */
  ratio: number | null;
}

export interface Skip {
  backend: string;
  reason: string;
}

export interface InboxOverhead {
  rows: unknown[];
  /** Markdown rows as packages/inbox/scripts/overhead.ts renders them. */
  table: string;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
}

export interface Results {
  settings: { rounds: number; concurrency: number; batchSize: number; memoryMessages: number };
  host: Machine;
  rows: Row[];
  decorators: DecoratorRow[];
  scaling: ScalingRow[];
  backlog: BacklogResult[];
  eventStore: EventStoreBenchResult[];
  inbox: InboxOverhead | undefined;
  skips: Skip[];
  startedAt: Date;
  seconds: number;
}

export const TARGET_RATIO = 0.95;

export const WORKLOAD_LABEL: Record<Workload, (settings: Results['settings']) => string> = {
  publish: (s) => `publish, single (${s.concurrency} in flight)`,
  'publish-batch': (s) => `publishBatch (${s.batchSize}/call)`,
  e2e: (s) => `publish→handler→ack (concurrency ${s.concurrency})`,
  paced: () => `publish→handler at ${PACED_RATE} msg/s`,
};

/** Latency the SDK may add at a modest rate (publish→handler p99 over the raw client's, or the floor's). */
export const TARGET_ADDED_P99_MS = 1;

export function machine(): Machine {
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

/** A ratio against the target: ⚠ below it. */
function fmtRatio(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined) return 'n/a';
  return `${ratio.toFixed(2)}${ratio < TARGET_RATIO ? ' ⚠' : ''}`;
}

const fmtPlainRatio = (ratio: number | null | undefined) =>
  ratio === null || ratio === undefined ? 'n/a' : ratio.toFixed(2);

function table(header: readonly string[], align: readonly ('l' | 'r')[], body: readonly string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${align.map((side) => (side === 'r' ? '--:' : '---')).join('|')}|`,
    ...body.map((cells) => `| ${cells.map(cell).join(' | ')} |`),
  ];
}

/** Rows measured for throughput; the paced rows have a table of their own. */
const throughputRows = (results: Results) => results.rows.filter((row) => row.workload !== 'paced');

function mainTable(results: Results): string[] {
  const body = throughputRows(results).map((row) => {
    const sdk = fmtSide(row.sdk);
    const raw = fmtSide(row.raw);
    const bare = fmtSide(row.bare);
    return [
      row.backend,
      WORKLOAD_LABEL[row.workload](results.settings),
      fmtCount(row.messages),
      sdk.rate,
      raw.rate,
      bare.rate,
      fmtRatio(row.ratio),
      fmtRatio(row.ratioBare),
      sdk.latency,
      raw.latency,
      `${sdk.cpu} / ${raw.cpu} / ${bare.cpu}`,
    ];
  });
  return [
    ...table(
      [
        'backend',
        'workload',
        'msgs',
        'SDK msg/s',
        'raw msg/s',
        'bare msg/s',
        'SDK/raw',
        'SDK/bare',
        'SDK p50 / p99 ms',
        'raw p50 / p99 ms',
        'CPU µs/msg SDK / raw / bare',
      ],
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      body,
    ),
    '',
    'raw: the broker client sending the headers the SDK writes (correlation id and the CloudEvents attributes, in the ' +
      "backend's binding); bare: the same client sending the body alone. Latency: publish rows, from the call to its " +
      'resolution (per publish, or per batch call); publish→handler rows, from handing the message to publish until its ' +
      'handler runs. CPU: user+system time of the bench process per message (client side; the broker runs elsewhere). ' +
      `⚠ = below the ${TARGET_RATIO} target.`,
  ];
}

function floorTable(results: Results): string[] {
  const rows = throughputRows(results).filter((row) => row.floor !== undefined);
  if (rows.length === 0) return [];
  const body = rows.map((row) => {
    const sdk = fmtSide(row.sdk);
    const floor = fmtSide(row.floor as Side);
    return [
      WORKLOAD_LABEL[row.workload](results.settings),
      fmtCount(row.messages),
      sdk.rate,
      floor.rate,
      fmtPlainRatio(row.ratioFloor),
      `${sdk.cpu} / ${floor.cpu}`,
      sdk.latency,
      floor.latency,
    ];
  });
  return [
    '',
    '### Memory against the in-process floor',
    '',
    ...table(
      [
        'workload',
        'msgs',
        'SDK msg/s',
        'floor msg/s',
        'SDK/floor',
        'CPU µs/msg SDK / floor',
        'SDK p50 / p99 ms',
        'floor p50 / p99 ms',
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      body,
    ),
    '',
    'Floor: only the unavoidable work per message. Publish: randomUUID, an ISO time, JSON.stringify of the payload ' +
      'to a Buffer; end to end, also one promise hop, JSON.parse and the awaited handler, at the same concurrency.',
  ];
}

function latencyTable(results: Results): string[] {
  const body = results.rows
    .filter((row) => row.workload === 'paced')
    .map((row) => {
      const [label, base] = row.floor ? ['floor', row.floor] : ['raw', row.raw];
      const added = row.sdk.status === 'ok' && base.status === 'ok' ? (row.sdk.p99 ?? NaN) - (base.p99 ?? NaN) : NaN;
      const verdict = Number.isNaN(added) ? 'n/a' : `${fmtMs(added)}${added >= TARGET_ADDED_P99_MS ? ' ⚠' : ''}`;
      return [
        row.backend,
        fmtCount(row.messages),
        fmtSide(row.sdk).latency,
        `${fmtSide(base).latency} (${label})`,
        verdict,
      ];
    });
  if (body.length === 0) return [];
  return [
    '',
    `### Latency at ${PACED_RATE} msg/s (publish→handler, one publish every ${1000 / PACED_RATE} ms)`,
    '',
    ...table(
      ['backend', 'msgs', 'SDK p50 / p99 ms', 'baseline p50 / p99 ms', 'p99 the SDK adds, ms'],
      ['l', 'r', 'r', 'r', 'r'],
      body,
    ),
    '',
    'Baseline: the raw client sending the same headers, or on memory the in-process floor. Messages are sent on ' +
      'schedule whether or not the last publish resolved, at a rate no backend here is near saturating, so the ' +
      `latency is the work per message, not a queue. ⚠ = the SDK adds ${TARGET_ADDED_P99_MS} ms or more at p99.`,
  ];
}

function peerTable(results: Results): string[] {
  const body = results.rows.flatMap((row) =>
    (row.peers ?? []).map((peer) => {
      const sdk = fmtSide(row.sdk);
      const other = fmtSide(peer.side);
      return [
        row.backend,
        peer.peer,
        WORKLOAD_LABEL[row.workload](results.settings),
        fmtCount(row.messages),
        sdk.rate,
        other.rate,
        fmtPlainRatio(peer.ratio),
        `${sdk.cpu} / ${other.cpu}`,
        sdk.latency,
        other.latency,
      ];
    }),
  );
  if (body.length === 0) return [];
  const notes = new Map(
    results.rows.flatMap((row) => (row.peers ?? []).flatMap(({ peer, note }) => (note ? [[peer, note]] : []))),
  );
  return [
    '',
    '### eventport against other libraries (same broker, same run)',
    '',
    ...table(
      [
        'backend',
        'library',
        'workload',
        'msgs',
        'eventport msg/s',
        'library msg/s',
        'eventport/library',
        'CPU µs/msg eventport / library',
        'eventport p50 / p99 ms',
        'library p50 / p99 ms',
      ],
      ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      body,
    ),
    '',
    'Same broker topology, payload, concurrency and acks as the eventport rows, and the same headers (or the ' +
      `library's own id, type and time); method in bench/README.md.${[...notes].map(([peer, note]) => ` ${peer} ${note}.`).join('')}`,
  ];
}

const DIMENSION_TITLE: Record<Dimension, string> = {
  keys: 'distinct keys (message `s` gets key `k<s mod keys>`)',
  concurrency: 'handler concurrency',
  subscriptions: 'subscriptions on one adapter (one topic each; batches spread over them)',
};

function scalingTables(results: Results): string[] {
  if (results.scaling.length === 0) return [];
  const lines: string[] = [];
  const { concurrency } = results.settings;
  for (const dimension of Object.keys(DIMENSION_TITLE) as Dimension[]) {
    const rows = results.scaling.filter((row) => row.dimension === dimension);
    if (rows.length === 0) continue;
    const body = rows.map((row) => {
      const side = fmtSide(row.side);
      // More keys than messages: every message of a run has a key of its own.
      const value =
        dimension === 'keys' && row.value > row.messages
          ? `${fmtCount(row.value)} (${fmtCount(row.messages)} in a run)`
          : fmtCount(row.value);
      return [
        row.backend,
        value,
        fmtCount(row.messages),
        side.rate,
        fmtPlainRatio(row.vsBaseline),
        side.cpu,
        side.latency,
      ];
    });
    lines.push(
      '',
      `### Scaling: ${DIMENSION_TITLE[dimension]}`,
      '',
      ...table(
        ['backend', dimension, 'msgs', 'SDK msg/s', 'vs baseline', 'CPU µs/msg', 'p50 / p99 ms'],
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
        body,
      ),
    );
  }
  lines.push(
    '',
    `publish→handler→ack through the SDK; each dimension varies from the baseline (no key, concurrency ${concurrency}, ` +
      'one subscription), and "vs baseline" is msgs/s ÷ the baseline\'s, measured in the same alternating rounds.',
  );
  return lines;
}

function backlogTable(results: Results): string[] {
  if (results.backlog.length === 0) return [];
  const body = results.backlog.map((row) =>
    'error' in row
      ? [fmtCount(row.messages), `failed: ${row.error}`, '', '', '', '']
      : [
          fmtCount(row.messages),
          fmtRate(row.publishMsgsPerSec),
          fmtRate(row.drainMsgsPerSec),
          fmtCount(Math.round(row.retainedBytesPerMessage)),
          fmtCount(Math.round(row.heapBytesPerMessage)),
          fmtMiB(row.peakRssBytes),
        ],
  );
  return [
    '',
    '### Backlog (memory: published while the group reads nothing, then drained)',
    '',
    ...table(
      [
        'backlog',
        'publish msg/s',
        `drain msg/s (concurrency ${results.settings.concurrency})`,
        'retained bytes/msg (heap + external)',
        'of which heap',
        'peak RSS MiB',
      ],
      ['r', 'r', 'r', 'r', 'r', 'r'],
      body,
    ),
    '',
    'Each size in a process of its own (node --expose-gc), memory after a full GC against before publishing; ' +
      'peak RSS is that process’s maxRSS. A message is 1 KiB of JSON plus the SDK’s headers.',
  ];
}

function decoratorTable(results: Results): string[] {
  if (results.decorators.length === 0) return [];
  const body = results.decorators.map((row) => {
    const withSide = fmtSide(row.with);
    const without = fmtSide(row.without);
    return [
      row.decorator,
      withSide.rate,
      without.rate,
      fmtPlainRatio(row.ratio),
      withSide.latency,
      `${withSide.cpu} / ${without.cpu}`,
    ];
  });
  return [
    '',
    `### Decorator overhead (memory, publish→handler→ack, ${fmtCount(results.settings.memoryMessages)} msgs)`,
    '',
    ...table(
      ['decorator', 'msg/s with', 'msg/s without', 'with/without', 'p50 / p99 ms with', 'CPU µs/msg with / without'],
      ['l', 'r', 'r', 'r', 'r', 'r'],
      body,
    ),
  ];
}

function eventStoreTable(results: Results): string[] {
  if (results.eventStore.length === 0) return [];
  const body = results.eventStore.map((store) => [
    store.backend,
    fmtCount(store.singleAppendsPerSecond),
    `${fmtCount(store.batchOf100AppendsPerSecond)} (${fmtCount(store.batchOf100EventsPerSecond)})`,
    fmtCount(store.readAllEventsPerSecond),
    `${store.loadWithoutSnapshotsMs} ms / ${store.loadWithSnapshotsMs} ms (tail ${store.snapshotTail})`,
    `${store.snapshotSpeedup}×`,
  ]);
  return [
    '',
    `### Event store (${results.eventStore[0]?.writers} concurrent writers)`,
    '',
    ...table(
      [
        'store',
        'single-event appends/s',
        'appends of 100 /s (events/s)',
        'readAll events/s',
        'load 10,000-event aggregate, no snapshots / snapshot + tail',
        'ratio',
      ],
      ['l', 'r', 'r', 'r', 'r', 'r'],
      body,
    ),
  ];
}

export function markdown(results: Results): string {
  const { host, settings } = results;
  const lines: string[] = [
    `## eventport benchmark — ${results.startedAt.toISOString()}`,
    '',
    `${host.cpus} CPU (${host.cpuModel}), ${host.memoryGiB} GiB, node ${host.node}, ${host.platform}. ` +
      `1 KiB JSON payload; median of ${settings.rounds} alternating runs per client ` +
      `after one warm-up each; took ${Math.round(results.seconds)} s.`,
    '',
    ...mainTable(results),
    ...floorTable(results),
    ...latencyTable(results),
    ...peerTable(results),
    ...scalingTables(results),
    ...backlogTable(results),
    ...decoratorTable(results),
    ...eventStoreTable(results),
  ];
  if (results.inbox) {
    lines.push(
      '',
      '### Inbox overhead (publish→handler→ack, with/without `inbox.handler`, per store)',
      '',
      results.inbox.table,
    );
  }
  if (results.skips.length > 0) {
    lines.push('');
    for (const skip of results.skips) lines.push(`- ${skip.backend}: ${cell(skip.reason)}`);
  }
  return `${lines.join('\n')}\n`;
}
