/**
 * Waits `ms`, or less when `signal` aborts: resolves true when the time elapsed, false when it was cut
 * short (a backoff or poll interval that closing must not wait out). Never rejects, leaves no timer.
 */
export function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const finish = (elapsed: boolean) => () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      resolve(elapsed);
    };
    const aborted = finish(false);
    const timer = setTimeout(finish(true), ms);
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/**
 * Exponential backoff with "equal jitter": half the ceiling plus a random half, so clients that lost
 * the same broker do not come back in lockstep. Attempt 1 waits up to `initialDelayMs`.
 */
export function backoffDelay(attempt: number, initialDelayMs = 100, maxDelayMs = 5_000): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * Runs `operation` until it succeeds, retrying with backoff while `isRetryable` says the failure is
 * transient (a broker mid-restart or mid-rebalance refusing a join it accepts a moment later). Each
 * try gets the time that is left; the last failure is rethrown once no retry fits before `deadlineMs`
 * or `signal` aborts.
 */
export async function retryWithin<T>(
  deadlineMs: number,
  isRetryable: (error: unknown) => boolean,
  operation: (remainingMs: number) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const giveUpAt = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(Math.max(1, giveUpAt - Date.now()));
    } catch (error) {
      const delay = backoffDelay(attempt, 100, 2_000);
      if (!isRetryable(error) || signal?.aborted || Date.now() + delay >= giveUpAt) throw error;
      await pause(delay, signal);
    }
  }
}
