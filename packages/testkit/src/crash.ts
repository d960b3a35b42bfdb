import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { EventAdapter } from '@eventport/core';
import { eventually, sleep, Tally } from './tally.js';

export interface CrashWorkerOptions {
  /** Environment of the child: EVENT_TYPE and the backend's env vars. */
  env: Record<string, string>;
  /** Backend overrides for the child's createAdapter() (e.g. short session or claim timeouts). */
  overrides?: Record<string, unknown>;
}

export interface CrashWorkerTask {
  topic: string;
  group: string;
  fromBeginning: boolean;
  handlerDelayMs: number;
  overrides: Record<string, unknown>;
}

const WORKER = path.resolve(__dirname, '../dist/crash-worker.js');

/**
 * Publishes 2,000 messages, lets a child process consume part of them, SIGKILLs it mid-stream, then
 * consumes with `adapter` in the same group. Every message must be handled by one or the other.
 */
export async function runCrashCase(
  adapter: EventAdapter,
  worker: CrashWorkerOptions,
  topic: string,
  timeoutMs: number,
): Promise<{ tally: Tally; ackedByWorker: number }> {
  const group = 'g17';
  const fromBeginning = adapter.capabilities.replayFromStart;
  if (!fromBeginning) await (await adapter.subscribe(topic, () => undefined, { group })).close();
  const tally = new Tally();
  for (let chunk = 0; chunk < 8; chunk++) {
    const sent = await adapter.publishBatch(
      Array.from({ length: 250 }, (_, n) => ({ topic, data: { n: chunk * 250 + n } })),
    );
    tally.expect(sent.map((message) => message.id));
  }

  const child = startWorker(
    worker,
    { topic, group, fromBeginning, handlerDelayMs: 2, overrides: worker.overrides ?? {} },
    tally,
  );
  const reachedMidStream = await eventually(() => child.handled >= 300 || child.process.exitCode !== null, timeoutMs);
  child.process.kill('SIGKILL');
  await child.exited;
  const handledByWorker = child.handled;
  if (!reachedMidStream || handledByWorker === 0) return { tally, ackedByWorker: handledByWorker };

  const subscription = await adapter.subscribe(topic, (message) => tally.record(message.id), {
    group,
    fromBeginning,
    concurrency: 32,
  });
  await tally.waitForAll(timeoutMs * 2);
  await subscription.close();
  return { tally, ackedByWorker: handledByWorker };
}

/** A consumer process running the crash worker; counts what it handled into `tally`. */
function startWorker(worker: CrashWorkerOptions, task: CrashWorkerTask, tally: Tally) {
  const child = spawn(process.execPath, [WORKER], {
    env: { ...process.env, ...worker.env, EVENTPORT_CRASH_TASK: JSON.stringify(task) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const state = {
    process: child,
    handled: 0,
    exited: new Promise<void>((resolve) => child.once('exit', () => resolve())),
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, id] = line.split(' ');
    if (kind === 'handled' && id) {
      tally.record(id);
      state.handled++;
    }
  });
  return state;
}

/**
 * Two consumer processes in one group share 1,000 messages: together they handle each, and not each
 * of them all of them (what an in-process checkpoint store used to do on Kinesis).
 */
export async function runCompetingCase(
  adapter: EventAdapter,
  worker: CrashWorkerOptions,
  topic: string,
  timeoutMs: number,
): Promise<{ tally: Tally; shares: number[] }> {
  const group = 'g24';
  const fromBeginning = adapter.capabilities.replayFromStart;
  if (!fromBeginning) await (await adapter.subscribe(topic, () => undefined, { group })).close();
  const tally = new Tally();
  const task: CrashWorkerTask = { topic, group, fromBeginning, handlerDelayMs: 5, overrides: worker.overrides ?? {} };
  const workers = [startWorker(worker, task, tally), startWorker(worker, task, tally)];
  try {
    for (let chunk = 0; chunk < 4; chunk++) {
      const sent = await adapter.publishBatch(
        Array.from({ length: 250 }, (_, n) => ({ topic, data: { n: chunk * 250 + n } })),
      );
      tally.expect(sent.map((message) => message.id));
    }
    await tally.waitForAll(timeoutMs * 2);
    // Let late duplicates show before counting.
    await sleep(1_000);
  } finally {
    for (const child of workers) child.process.kill('SIGKILL');
    await Promise.all(workers.map((child) => child.exited));
  }
  return { tally, shares: workers.map((child) => child.handled) };
}
