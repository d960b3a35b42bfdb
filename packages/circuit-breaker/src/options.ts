import { type ErrorCode, EventportError, isEventportError, type Logger } from '@eventport/core';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitStateChange {
  from: CircuitState;
  to: CircuitState;
  /** Milliseconds since the epoch. */
  at: number;
  /** On opening: how long calls fail fast before the half-open probe. */
  retryAfterMs?: number;
  /** On opening: the failure that tripped the breaker (already an EventportError for adapter failures). */
  cause?: unknown;
}

export interface FailureRatioPolicy {
  /** Share of failed calls, 0 < threshold <= 1, that opens the circuit. */
  threshold: number;
  /** Sliding window the ratio is computed over. Default 10 s. */
  windowMs?: number;
  /** Below this many calls per second the ratio is ignored, so a handful of failures at low load does not trip it. Default 5. */
  minimumRps?: number;
}

export interface ConnectRetryOptions {
  /** Total attempts of one connect() call, including the first. Default 5. */
  attempts?: number;
  /** First backoff delay; later ones grow exponentially with jitter. Default 200 ms. */
  initialDelayMs?: number;
  /** Default 10 s. */
  maxDelayMs?: number;
}

export interface BufferWhileOpenOptions {
  /** Publishes held while open; beyond this they fail fast with CircuitOpenError. */
  maxMessages: number;
}

export interface CircuitBreakerOptions {
  /** Opens after this many broker failures in a row. Default 5 (unless failureRatio is given). */
  consecutiveFailures?: number;
  /** Opens on a failure ratio over a time window instead of a run of consecutive failures. */
  failureRatio?: FailureRatioPolicy;
  /** Cool-down before the next call is let through as a probe (half-open). Default 10 s. */
  halfOpenAfterMs?: number;
  /** Which errors count against the broker. Default: isBrokerFailure (caller mistakes never count). */
  isFailure?: (error: unknown) => boolean;
  /** Called on every state change; a throwing listener is logged, never propagated. */
  onStateChange?: (change: CircuitStateChange) => void;
  /** Backoff for connect(); every attempt goes through the breaker, so an open circuit ends the retries. */
  connectRetry?: ConnectRetryOptions;
  /**
   * Hold publishes while open (in memory, bounded) and send them once a probe closes the circuit,
   * instead of failing fast. Off by default: held messages are lost if the process dies, and the
   * caller's publish() stays pending meanwhile.
   */
  bufferWhileOpen?: BufferWhileOpenOptions;
  /** Where failing state-change listeners are reported. Default: core's consoleLogger(). */
  logger?: Logger;
}

/** Errors that say the broker (or the way to it) is unwell, as opposed to a bad call. */
export const BROKER_FAILURE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONNECTION',
  'TIMEOUT',
  'RESOURCE_EXHAUSTED',
  'INTERNAL',
]);

/**
 * The default failure filter: connection, timeout, throttling and unclassified broker errors count;
 * caller mistakes (INVALID_ARGUMENT, PAYLOAD_TOO_LARGE, NOT_FOUND, CLOSED...) and CIRCUIT_OPEN do not.
 */
export function isBrokerFailure(error: unknown): boolean {
  if (isEventportError(error)) return BROKER_FAILURE_CODES.has(error.code);
  return true;
}

export interface ResolvedOptions {
  policy:
    | { kind: 'consecutive'; failures: number }
    | { kind: 'ratio'; threshold: number; windowMs: number; minimumRps: number };
  halfOpenAfterMs: number;
  isFailure: (error: unknown) => boolean;
  onStateChange: ((change: CircuitStateChange) => void) | undefined;
  connectRetry: Required<ConnectRetryOptions>;
  bufferWhileOpen: BufferWhileOpenOptions | undefined;
}

/** Applies defaults and rejects nonsense before the decorator touches the adapter. */
export function resolveOptions(options: CircuitBreakerOptions): ResolvedOptions {
  if (options.consecutiveFailures !== undefined && options.failureRatio !== undefined) {
    throw invalid('give either consecutiveFailures or failureRatio, not both');
  }
  const halfOpenAfterMs = positiveInteger('halfOpenAfterMs', options.halfOpenAfterMs ?? 10_000);
  const connectRetry = {
    attempts: positiveInteger('connectRetry.attempts', options.connectRetry?.attempts ?? 5),
    initialDelayMs: positiveInteger('connectRetry.initialDelayMs', options.connectRetry?.initialDelayMs ?? 200),
    maxDelayMs: positiveInteger('connectRetry.maxDelayMs', options.connectRetry?.maxDelayMs ?? 10_000),
  };
  if (options.bufferWhileOpen !== undefined)
    positiveInteger('bufferWhileOpen.maxMessages', options.bufferWhileOpen.maxMessages);
  return {
    policy: options.failureRatio
      ? resolveRatio(options.failureRatio)
      : {
          kind: 'consecutive',
          failures: positiveInteger('consecutiveFailures', options.consecutiveFailures ?? 5),
        },
    halfOpenAfterMs,
    isFailure: options.isFailure ?? isBrokerFailure,
    onStateChange: options.onStateChange,
    connectRetry,
    bufferWhileOpen: options.bufferWhileOpen,
  };
}

function resolveRatio(ratio: FailureRatioPolicy): ResolvedOptions['policy'] {
  const { threshold } = ratio;
  if (!(typeof threshold === 'number' && threshold > 0 && threshold <= 1)) {
    throw invalid(`failureRatio.threshold must be in (0, 1] (got ${threshold})`);
  }
  const minimumRps = ratio.minimumRps ?? 5;
  if (!(typeof minimumRps === 'number' && minimumRps >= 0)) {
    throw invalid(`failureRatio.minimumRps must be >= 0 (got ${minimumRps})`);
  }
  return {
    kind: 'ratio',
    threshold,
    windowMs: positiveInteger('failureRatio.windowMs', ratio.windowMs ?? 10_000),
    minimumRps,
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw invalid(`${name} must be a positive integer (got ${value})`);
  return value;
}

function invalid(message: string): EventportError {
  return new EventportError('INVALID_ARGUMENT', `circuit breaker: ${message}`);
}
