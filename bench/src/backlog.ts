/**
 * Memory backend backlog: `messages` published to a topic whose group reads nothing, then drained by
 * one subscription. Reported: publish msgs/s into the backlog, retained bytes per message (heap and
 * external memory after a full GC, against before publishing), drain msgs/s, and the process's peak
 * RSS. Each size runs in a child process of its own (`node --expose-gc bench/dist/backlog.js`), so the
 * heap and peak RSS are that backlog's and nothing else's.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createAdapter, silentLogger } from '@eventport/core';
import { describe } from './log.js';
import { SdkTarget } from './sdk.js';
import { publishBatch, withTimeout } from './workloads.js';

export interface BacklogRow {
  messages: number;
  publishMsgsPerSec: number;
  /** (heapUsed + external) after the backlog minus before it, per message, after a full GC each time. */
  retainedBytesPerMessage: number;
  heapBytesPerMessage: number;
  drainMsgsPerSec: number;
  /** process.resourceUsage().maxRSS of the child: its peak resident set. */
  peakRssBytes: number;
}

export type BacklogResult = BacklogRow | { messages: number; error: string };

export interface BacklogSettings {
  concurrency: number;
  batchSize: number;
  timeoutMs: number;
}

/** Per phase (publish, drain): the run's timeout, or longer for backlogs that need it at 5,000 msgs/s. */
const phaseTimeout = (messages: number, timeoutMs: number) => Math.max(timeoutMs, messages / 5);

/** Runs one backlog size in its own process and returns what it measured. */
export function measureBacklog(messages: number, settings: BacklogSettings): BacklogResult {
  try {
    const printed = execFileSync(
      process.execPath,
      [
        '--expose-gc',
        // A million 1 KiB messages with their headers: more than the default heap limit on small machines.
        '--max-old-space-size=8192',
        __filename,
        `--messages=${messages}`,
        `--concurrency=${settings.concurrency}`,
        `--batch-size=${settings.batchSize}`,
        `--timeout=${settings.timeoutMs}`,
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 3 * phaseTimeout(messages, settings.timeoutMs),
      },
    );
    return JSON.parse(printed) as BacklogRow;
  } catch (error) {
    return { messages, error: describe(error) };
  }
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
}

async function runChild(messages: number, settings: BacklogSettings): Promise<BacklogRow> {
  const adapter = await createAdapter('memory', { logger: silentLogger });
  const target = new SdkTarget(adapter);
  const group = 'backlog';
  const topic = `bench-backlog-${process.pid}`;
  const warmup = `${topic}-warmup`;
  try {
    await publishBatch(target, warmup, 1_000, settings);
    await adapter.deleteTopic(warmup);
    await target.prepare(topic, group);
    collectGarbage();
    const before = process.memoryUsage();
    const timeoutMs = phaseTimeout(messages, settings.timeoutMs);
    const published = await publishBatch(target, topic, messages, { ...settings, timeoutMs });
    collectGarbage();
    const after = process.memoryUsage();
    let received = 0;
    let drained: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      drained = resolve;
    });
    const drainStart = performance.now();
    const subscription = await adapter.subscribe(
      topic,
      () => {
        if (++received === messages) drained();
      },
      { group, concurrency: settings.concurrency },
    );
    await withTimeout(done, timeoutMs, 'drain', () => received);
    const drainSeconds = (performance.now() - drainStart) / 1000;
    await subscription.close();
    return {
      messages,
      publishMsgsPerSec: published.msgsPerSec,
      retainedBytesPerMessage: (after.heapUsed + after.external - before.heapUsed - before.external) / messages,
      heapBytesPerMessage: (after.heapUsed - before.heapUsed) / messages,
      drainMsgsPerSec: messages / drainSeconds,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await adapter.deleteTopic(topic).catch(() => undefined);
    await target.close();
  }
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string' },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      timeout: { type: 'string' },
    },
  });
  runChild(Number(values.messages), {
    concurrency: Number(values.concurrency),
    batchSize: Number(values['batch-size']),
    timeoutMs: Number(values.timeout),
  }).then(
    (row) => {
      process.stdout.write(`${JSON.stringify(row)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`backlog of ${values.messages}: ${describe(error)}\n`);
      process.exit(1);
    },
  );
}
