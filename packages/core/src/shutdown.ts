import { constants } from 'node:os';
import type { EventAdapter } from './adapter.js';
import { describeError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';

export interface ShutdownOptions {
  /**
   * How long disconnect() (which stops fetching and waits for running handlers) may take before the
   * process exits anyway, with 1. Keep it under Kubernetes' terminationGracePeriodSeconds (30 s by
   * default) and at most the subscriptions' drainTimeoutMs. Default 25 s.
   */
  graceMs?: number;
  /** Default SIGTERM (Kubernetes, docker stop, systemd) and SIGINT (Ctrl-C). */
  signals?: readonly NodeJS.Signals[];
  /** Exit once drained: 0 when disconnect finished within graceMs, else 1. false leaves the process running (tests). */
  exit?: boolean;
  /** Called once after the drain (or the grace period), before exiting: close your database pool here. */
  onShutdown?: (result: ShutdownResult) => void | Promise<void>;
  logger?: Logger;
}

export interface ShutdownResult {
  signal: NodeJS.Signals;
  /** disconnect() finished within graceMs (and without error). */
  drained: boolean;
  durationMs: number;
  /** What the process exits with (or would, with exit: false): 0 drained, 1 not, 128 + n after a second signal. */
  exitCode: number;
  /** disconnect() or onShutdown failed with this. */
  error?: unknown;
  /** A second signal cut the drain short. */
  forced?: boolean;
}

export interface ShutdownHandle {
  /** Resolves once a shutdown has run (never, if no signal arrives). */
  readonly done: Promise<ShutdownResult>;
  /** Removes the signal handlers (a shutdown already running goes on). */
  dispose(): void;
}

export const DEFAULT_SHUTDOWN_GRACE_MS = 25_000;

/**
 * On the first of `signals`: disconnect `adapter` (draining every subscription) within graceMs, run
 * onShutdown, then exit 0 if it drained in time, else 1. A second signal exits at once, with
 * 128 + its number (130 for SIGINT, 143 for SIGTERM).
 */
export function shutdownOnSignals(adapter: EventAdapter, options: ShutdownOptions = {}): ShutdownHandle {
  const graceMs = options.graceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  const signals = options.signals ?? (['SIGTERM', 'SIGINT'] as const);
  const exit = options.exit ?? true;
  const logger = options.logger ?? consoleLogger();
  let finish: (result: ShutdownResult) => void = () => undefined;
  const done = new Promise<ShutdownResult>((resolve) => {
    finish = resolve;
  });
  let started: { signal: NodeJS.Signals; at: number } | undefined;

  const onSignal = (signal: NodeJS.Signals) => {
    if (started) {
      const exitCode = 128 + (constants.signals[signal] ?? 0);
      logger.warn(`${signal} again: exiting without waiting for the drain`, { exitCode });
      const result: ShutdownResult = {
        signal: started.signal,
        drained: false,
        durationMs: Date.now() - started.at,
        exitCode,
        forced: true,
      };
      finish(result);
      if (exit) process.exit(exitCode);
      return;
    }
    started = { signal, at: Date.now() };
    logger.info(`${signal}: draining subscriptions and disconnecting`, { graceMs });
    void shutDown(signal, started.at);
  };

  const shutDown = async (signal: NodeJS.Signals, at: number) => {
    let error: unknown;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      adapter.disconnect().then(
        () => true,
        (failure: unknown) => {
          error = failure;
          return false;
        },
      ),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!drained && error === undefined) {
      logger.warn(`the drain did not finish within ${graceMs} ms; exiting anyway (unacked messages are redelivered)`);
    } else if (error !== undefined) {
      logger.error('disconnect failed during shutdown', { error: describeError(error) });
    }
    const result: ShutdownResult = { signal, drained, durationMs: Date.now() - at, exitCode: drained ? 0 : 1 };
    if (error !== undefined) result.error = error;
    try {
      await options.onShutdown?.(result);
    } catch (hookError) {
      logger.error('onShutdown failed', { error: describeError(hookError) });
      result.error ??= hookError;
      result.exitCode = 1;
    }
    finish(result);
    if (exit) process.exit(result.exitCode);
  };

  for (const signal of signals) process.on(signal, onSignal);
  return {
    done,
    dispose() {
      for (const signal of signals) process.off(signal, onSignal);
    },
  };
}
