import { EventportError } from '@eventport/core';

/**
 * Thrown by publish/publishBatch/connect while the circuit is open: nothing was sent. Retry after
 * `retryAfterMs` (0 means the cool-down is over and the next call is the half-open probe).
 */
export class CircuitOpenError extends EventportError {
  readonly retryAfterMs: number;

  constructor(backend: string, retryAfterMs: number, lastFailure?: unknown) {
    super(
      'CIRCUIT_OPEN',
      `circuit open for ${backend}: failing fast without calling the broker; retry in ${retryAfterMs} ms`,
      lastFailure === undefined ? {} : { cause: lastFailure },
    );
    this.retryAfterMs = retryAfterMs;
  }
}
