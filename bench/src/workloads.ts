import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LatencySummary, summarize } from './stats.js';
import { type BenchTarget, makePayload, type OnMessage, type Payload } from './target.js';

export interface RunResult {
  messages: number;
  seconds: number;
  msgsPerSec: number;
  /** publish rows: publish call → resolved (per call); e2e rows: publish → handler. Milliseconds. */
  latency?: LatencySummary;
  /** CPU time (user + system) of this process per message, microseconds: client-side cost, robust to a busy machine. */
  cpuUsPerMsg: number;
  /** Set when the run did not complete (timeout, error). */
  error?: string;
}

export interface WorkloadSettings {
  concurrency: number;
  batchSize: number;
  timeoutMs: number;
}

const runId = () => randomUUID().slice(0, 8);

/** `concurrency` callers, each awaiting its own publish() before the next. */
export async function publishSingle(
  target: BenchTarget,
  topic: string,
  messages: number,
  settings: WorkloadSettings,
): Promise<RunResult> {
  const run = runId();
  const latencies = new Float64Array(messages);
  let next = 0;
  const started = start();
  const worker = async () => {
    for (let seq = next++; seq < messages; seq = next++) {
      const payload = makePayload(run, seq);
      await target.publish(topic, payload);
      latencies[seq] = performance.now() - payload.t;
    }
  };
  const publishing = Promise.all(Array.from({ length: settings.concurrency }, worker)).then(() =>
    target.stored?.(topic),
  );
  await withTimeout(publishing, settings.timeoutMs, 'publish');
  return finish(messages, started, latencies);
}

/** One batch of `batchSize` in flight at a time (publishBatch / the client's batch call). */
export async function publishBatch(
  target: BenchTarget,
  topic: string,
  messages: number,
  settings: WorkloadSettings,
): Promise<RunResult> {
  const run = runId();
  const latencies: number[] = [];
  const started = start();
  const loop = async () => {
    for (let seq = 0; seq < messages; ) {
      const batch: Payload[] = [];
      for (const end = Math.min(messages, seq + settings.batchSize); seq < end; seq++)
        batch.push(makePayload(run, seq));
      const sent = performance.now();
      await target.publishBatch(topic, batch);
      latencies.push(performance.now() - sent);
    }
    await target.stored?.(topic);
  };
  await withTimeout(loop(), settings.timeoutMs, 'publishBatch');
  return finish(messages, started, Float64Array.from(latencies));
}

/**
 * Subscriptions (one per topic, all feeding one onMessage) that outlive several runs: they keep
 * consuming between runs, and count only the messages of the run in progress (others are still acked
 * by the handler returning).
 */
export class E2eSubscription {
  private current: E2eRun | undefined;
  readonly onMessage: OnMessage = (payload) => this.current?.receive(payload);

  /** Publishes `messages` in batches, batch i to topics[i mod topics], until every one reached a handler. */
  measure(
    target: BenchTarget,
    topics: readonly string[],
    messages: number,
    settings: WorkloadSettings,
  ): Promise<RunResult> {
    return this.run(messages, settings.timeoutMs, 'end-to-end', async (id) => {
      // The producer uses the batch call so the consume path, not publishing, is what limits the run.
      for (let seq = 0, batchIndex = 0; seq < messages; batchIndex++) {
        const batch: Payload[] = [];
        for (const end = Math.min(messages, seq + settings.batchSize); seq < end; seq++) {
          batch.push(makePayload(id, seq));
        }
        await target.publishBatch(topics[batchIndex % topics.length] as string, batch);
      }
    });
  }

  /**
   * One publish every 1/rate s, each sent on time whether or not the last resolved: latency from
   * publish to handler where neither the client nor the broker is saturated.
   */
  measurePaced(
    target: BenchTarget,
    topic: string,
    messages: number,
    ratePerSec: number,
    timeoutMs: number,
  ): Promise<RunResult> {
    const startedAt = performance.now();
    return this.run(messages, timeoutMs, 'paced end-to-end', async (id) => {
      const sends: Promise<void>[] = [];
      for (let seq = 0; seq < messages; seq++) {
        const wait = startedAt + (seq * 1000) / ratePerSec - performance.now();
        if (wait > 0) await sleep(wait);
        sends.push(target.publish(topic, makePayload(id, seq)));
      }
      await Promise.all(sends);
    });
  }

  /** Runs `produce` (given the run id) until it is done and every message of the run reached a handler. */
  private async run(
    messages: number,
    timeoutMs: number,
    what: string,
    produce: (id: string) => Promise<void>,
  ): Promise<RunResult> {
    const run = new E2eRun(runId(), messages);
    this.current = run;
    const started = start();
    try {
      await withTimeout(Promise.all([produce(run.id), run.done]), timeoutMs, what, () => run.received);
      return finish(messages, started, run.latencies);
    } finally {
      this.current = undefined;
    }
  }
}

class E2eRun {
  readonly latencies: Float64Array;
  private readonly seen: Uint8Array;
  received = 0;
  private resolve: () => void = () => undefined;
  readonly done = new Promise<void>((resolve) => {
    this.resolve = resolve;
  });

  constructor(
    readonly id: string,
    private readonly expected: number,
  ) {
    this.latencies = new Float64Array(expected);
    this.seen = new Uint8Array(expected);
  }

  receive(payload: Payload): void {
    const now = performance.now();
    if (payload.r !== this.id || this.seen[payload.s] === 1) return;
    this.seen[payload.s] = 1;
    this.latencies[this.received++] = now - payload.t;
    if (this.received === this.expected) this.resolve();
  }
}

interface Start {
  at: number;
  cpu: NodeJS.CpuUsage;
}

function start(): Start {
  return { at: performance.now(), cpu: process.cpuUsage() };
}

function finish(messages: number, started: Start, latencies: Float64Array): RunResult {
  const seconds = (performance.now() - started.at) / 1000;
  const cpu = process.cpuUsage(started.cpu);
  const result: RunResult = {
    messages,
    seconds,
    msgsPerSec: messages / seconds,
    cpuUsPerMsg: (cpu.user + cpu.system) / messages,
  };
  const latency = summarize(latencies);
  if (latency) result.latency = latency;
  return result;
}

export class RunTimeout extends Error {}

export async function withTimeout<T>(
  work: Promise<T>,
  timeoutMs: number,
  what: string,
  progress?: () => number,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RunTimeout(`${what} did not finish within ${timeoutMs} ms${progress ? ` (${progress()} received)` : ''}`),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
