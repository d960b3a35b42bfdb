import { fmtMs, fmtRate } from './format.js';
import { describe, log } from './log.js';
import { median } from './stats.js';
import type { BenchTarget, Consumer } from './target.js';
import {
  E2eSubscription,
  publishBatch,
  publishSingle,
  type RunResult,
  type WorkloadSettings,
  withTimeout,
} from './workloads.js';

export type Workload = 'publish' | 'publish-batch' | 'e2e' | 'paced';
export const WORKLOADS: readonly Workload[] = ['publish', 'publish-batch', 'e2e', 'paced'];

/** The paced run: a rate every backend here sustains with room to spare, so latency is not queueing. */
export const PACED_RATE = 200;
/** Two seconds at PACED_RATE: enough for a p99 (its fifth-largest sample), short enough for every backend. */
const pacedMessages = (messages: number) => Math.min(messages, 400);

/** How many messages a workload really sends when `messages` was asked for. */
export const messagesOf = (workload: Workload, messages: number) =>
  workload === 'paced' ? pacedMessages(messages) : messages;

export interface MeasureSettings extends WorkloadSettings {
  /** Measured runs per contender. */
  rounds: number;
}

/** One client's result for one workload: medians of its rounds, or why there is none. */
export type Side =
  | { status: 'ok'; msgsPerSec: number; p50?: number; p99?: number; cpuUsPerMsg: number; rounds: RunResult[] }
  | { status: 'n/a' | 'failed'; reason: string; rounds?: RunResult[] };

export const notRun = (reason: string): Side => ({ status: 'n/a', reason });

/** a ÷ b msgs/s, where both ran. */
export const ratioOf = (a: Side, b: Side) =>
  a.status === 'ok' && b.status === 'ok' ? a.msgsPerSec / b.msgsPerSec : null;

/** One client measured in a workload, with what it keeps between rounds. */
export interface Contender {
  label: string;
  target: BenchTarget;
  /** Publish runs use the first; an end-to-end run subscribes to each and spreads its batches over them. */
  topics: readonly string[];
  /** Its consumer group: one per contender, since members of one Kafka group on different topics rebalance each other. */
  group: string;
  /** Handlers at once per subscription, where it differs from the settings' concurrency. */
  concurrency?: number;
  e2e?: E2eSubscription;
  consumers: Consumer[];
  rounds: RunResult[];
  setupError?: string;
}

export function contender(
  label: string,
  target: BenchTarget,
  topics: readonly string[],
  group: string,
  concurrency?: number,
): Contender {
  const created: Contender = { label, target, topics, group, consumers: [], rounds: [] };
  if (concurrency !== undefined) created.concurrency = concurrency;
  return created;
}

/** Warm-up run size: enough to open connections, declare topology and get the JIT going. */
const warmupSize = (messages: number) => Math.max(100, Math.min(messages, 1_000, Math.ceil(messages / 5)));

function runWorkload(
  workload: Workload,
  contender: Contender,
  messages: number,
  settings: MeasureSettings,
): Promise<RunResult> {
  const { target, topics } = contender;
  const run = { ...settings, concurrency: contender.concurrency ?? settings.concurrency };
  if (workload === 'publish') return publishSingle(target, topics[0] as string, messages, run);
  if (workload === 'publish-batch') return publishBatch(target, topics[0] as string, messages, run);
  if (!contender.e2e) throw new Error('end-to-end run without a subscription');
  if (workload === 'paced') {
    return contender.e2e.measurePaced(target, topics[0] as string, pacedMessages(messages), PACED_RATE, run.timeoutMs);
  }
  return contender.e2e.measure(target, topics, messages, run);
}

/**
 * One workload for several contenders: set up each (subscriptions live for all its runs), warm each
 * up once, then `rounds` measured runs per contender in rotating order (A, B, C / B, C, A / ...) so
 * drift on a shared machine hits all alike. `prepare`: create each group first for publish-only runs.
 */
export async function measure(
  workload: Workload,
  contenders: Contender[],
  messages: number,
  settings: MeasureSettings,
  prepare: boolean,
  context: string,
): Promise<void> {
  for (const contender of contenders) {
    try {
      if (workload === 'e2e' || workload === 'paced') await subscribe(contender, settings);
      else if (prepare) {
        const { target, topics, group } = contender;
        await withTimeout(target.prepare(topics[0] as string, group), settings.timeoutMs, 'prepare');
      }
      await runWorkload(workload, contender, warmupSize(messages), settings);
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
        result = await runWorkload(workload, contender, messages, settings);
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
  await Promise.allSettled(contenders.flatMap((contender) => contender.consumers.map((consumer) => consumer.close())));
}

async function subscribe(contender: Contender, settings: MeasureSettings): Promise<void> {
  const e2e = new E2eSubscription();
  contender.e2e = e2e;
  const concurrency = contender.concurrency ?? settings.concurrency;
  for (const topic of contender.topics) {
    const subscribing = contender.target.subscribe(topic, contender.group, concurrency, e2e.onMessage);
    try {
      contender.consumers.push(await withTimeout(subscribing, settings.timeoutMs, 'subscribe'));
    } catch (error) {
      // A subscribe that succeeds after the timeout still gets closed.
      subscribing.then((late) => late.close()).catch(() => undefined);
      throw error;
    }
  }
}

/** The contender's medians, its setup error, or `missing` when it never existed. */
export function sideOf(contender: Contender | undefined, missing: string): Side {
  if (!contender) return notRun(missing);
  if (contender.setupError !== undefined) return { status: 'failed', reason: contender.setupError };
  const { rounds } = contender;
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
