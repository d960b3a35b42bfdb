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
