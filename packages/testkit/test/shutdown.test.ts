// shutdownOnSignals lives in @eventport/core; it is tested here because its test spawns processes
// through the repository's TypeScript hook (scripts/register-ts.js).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type Logger, type ShutdownResult, shutdownOnSignals } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';

const HOOK = path.resolve(__dirname, '../../../scripts/register-ts.js');
const CHILD = path.resolve(__dirname, 'fixtures/shutdown-child.ts');
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

interface Child {
  lines: string[];
  stderr: () => string;
  kill(signal: NodeJS.Signals): number;
  exited: Promise<number>;
  count(prefix: string): number;
  result(): ShutdownResult | undefined;
}

function service(env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['-r', HOOK, CHILD], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal ? -128 : -1))),
  );
  return {
    lines,
    stderr: () => stderr,
    kill(signal) {
      child.kill(signal);
      return Date.now();
    },
    exited,
    count: (prefix) => lines.filter((line) => line.startsWith(`${prefix} `)).length,
    result() {
      const line = lines.find((each) => each.startsWith('shutdown '));
      return line ? (JSON.parse(line.slice('shutdown '.length)) as ShutdownResult) : undefined;
    },
  };
}

async function allStarted(child: Child, count: number): Promise<void> {
  const started = await eventually(() => child.count('started') >= count, 15_000);
  if (!started) throw new Error(`handlers did not start:\n${child.lines.join('\n')}\n${child.stderr()}`);
}

describe('shutdownOnSignals in a process of its own (memory, slow handlers)', () => {
  test.each<[NodeJS.Signals]>([['SIGTERM'], ['SIGINT']])(
    'the first %s drains: running handlers finish, nothing new starts, exit 0',
    async (signal) => {
      const child = service({ HANDLER_MS: '800', GRACE_MS: '10000', MESSAGES: '8', CONCURRENCY: '4' });
      await allStarted(child, 4);
      const sent = child.kill(signal);
      expect(await child.exited).toBe(0);
      expect(child.count('finished')).toBe(4);
      // The four that had not started were given back, not run.
      expect(child.count('started')).toBe(4);
      expect(child.result()).toMatchObject({ signal, drained: true, exitCode: 0 });
      // Exited once the handlers were done, not after the grace period.
      expect(Date.now() - sent).toBeLessThan(5_000);
      // onShutdown ran after the last handler finished.
      const lastFinished = child.lines.map((line) => line.startsWith('finished ')).lastIndexOf(true);
      expect(child.lines.findIndex((line) => line.startsWith('shutdown '))).toBeGreaterThan(lastFinished);
    },
    30_000,
  );

  test('handlers still running when graceMs is up: exit 1 without waiting for them', async () => {
    const child = service({ HANDLER_MS: '20000', GRACE_MS: '300', MESSAGES: '2', CONCURRENCY: '2' });
    await allStarted(child, 2);
    const sent = child.kill('SIGTERM');
    expect(await child.exited).toBe(1);
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(child.count('finished')).toBe(0);
    expect(child.result()).toMatchObject({ signal: 'SIGTERM', drained: false, exitCode: 1 });
  }, 30_000);

  test('a second signal exits at once with 128 + its number', async () => {
    const child = service({ HANDLER_MS: '20000', GRACE_MS: '20000', MESSAGES: '1', CONCURRENCY: '1' });
    await allStarted(child, 1);
    const sent = child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGINT');
    expect(await child.exited).toBe(130);
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(child.count('finished')).toBe(0);
  }, 30_000);
});

describe('shutdownOnSignals with exit: false (in this process)', () => {
  // A signal nobody else here listens to, emitted as an event: no real signal is sent to jest.
  const SIGNAL: NodeJS.Signals = 'SIGUSR2';

  test('resolves done with the result, calls onShutdown, and dispose() removes its handlers', async () => {
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silent });
    const started: number[] = [];
    const finished: number[] = [];
    await adapter.subscribe<{ n: number }>(
      'shutdown.inline',
      async (message) => {
        started.push(message.data.n);
        await new Promise((resolve) => setTimeout(resolve, 200));
        finished.push(message.data.n);
      },
      { concurrency: 2 },
    );
    const seen: ShutdownResult[] = [];
    const listeners = process.listenerCount(SIGNAL);
    const handle = shutdownOnSignals(adapter, {
      graceMs: 5_000,
      signals: [SIGNAL],
      exit: false,
      logger: silent,
      onShutdown: (result) => void seen.push(result),
    });
    expect(process.listenerCount(SIGNAL)).toBe(listeners + 1);
    await adapter.publishBatch([
      { topic: 'shutdown.inline', data: { n: 1 } },
      { topic: 'shutdown.inline', data: { n: 2 } },
    ]);
    expect(await eventually(() => started.length === 2, 5_000)).toBe(true);
    process.emit(SIGNAL, SIGNAL);
    const result = await handle.done;
    expect(result).toMatchObject({ signal: SIGNAL, drained: true, exitCode: 0 });
    expect(finished.sort()).toEqual([1, 2]);
    expect(seen).toEqual([result]);
    handle.dispose();
    expect(process.listenerCount(SIGNAL)).toBe(listeners);
  });

  test('a second signal resolves done at once as forced; a failing onShutdown makes the exit code 1', async () => {
    const adapter = createMemoryAdapter({ broker: new MemoryBroker(), logger: silent });
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    await adapter.subscribe('shutdown.stuck', () => blocked, { drainTimeoutMs: 10_000 });
    const handle = shutdownOnSignals(adapter, {
      graceMs: 10_000,
      signals: [SIGNAL],
      exit: false,
      logger: silent,
      onShutdown: () => {
        throw new Error('pool.end failed');
      },
    });
    try {
      await adapter.publish({ topic: 'shutdown.stuck', data: 1 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      process.emit(SIGNAL, SIGNAL);
      process.emit(SIGNAL, SIGNAL);
      await expect(handle.done).resolves.toMatchObject({
        drained: false,
        forced: true,
        exitCode: 128 + constants.signals[SIGNAL],
      });
    } finally {
      release();
      handle.dispose();
      await adapter.disconnect();
    }

    const second = createMemoryAdapter({ broker: new MemoryBroker(), logger: silent });
    const failing = shutdownOnSignals(second, {
      signals: [SIGNAL],
      exit: false,
      logger: silent,
      onShutdown: () => {
        throw new Error('pool.end failed');
      },
    });
    process.emit(SIGNAL, SIGNAL);
    const result = await failing.done;
    failing.dispose();
    expect(result).toMatchObject({ drained: true, exitCode: 1 });
    expect(String(result.error)).toMatch(/pool.end failed/);
  });
});
