import { type ErrorCode, isEventportError, type Logger, parseOptions } from '@eventport/core';
import { z } from 'zod';

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

const positiveInteger = z.number().int().positive();

const CircuitBreakerOptionsSchema = z
  .object({
    consecutiveFailures: positiveInteger.optional(),
    failureRatio: z
      .object({
        threshold: z.number().gt(0).lte(1),
        windowMs: positiveInteger.default(10_000),
        minimumRps: z.number().nonnegative().default(5),
      })
      .optional(),
    halfOpenAfterMs: positiveInteger.default(10_000),
    connectRetry: z
      .object({
        attempts: positiveInteger.default(5),
        initialDelayMs: positiveInteger.default(200),
        maxDelayMs: positiveInteger.default(10_000),
      })
      .prefault({}),
    bufferWhileOpen: z.object({ maxMessages: positiveInteger }).optional(),
  })
  .refine((options) => options.consecutiveFailures === undefined || options.failureRatio === undefined, {
    path: ['failureRatio'],
    message: 'give either consecutiveFailures or failureRatio, not both',
  });

/** Applies defaults and rejects nonsense before the decorator touches the adapter. */
export function resolveOptions(options: CircuitBreakerOptions): ResolvedOptions {
  const { consecutiveFailures, failureRatio, halfOpenAfterMs, connectRetry, bufferWhileOpen } = parseOptions(
    CircuitBreakerOptionsSchema,
    options,
    'circuit breaker',
    'INVALID_ARGUMENT',
  );
  return {
    policy: failureRatio
      ? { kind: 'ratio', ...failureRatio }
      : { kind: 'consecutive', failures: consecutiveFailures ?? 5 },
    halfOpenAfterMs,
    isFailure: options.isFailure ?? isBrokerFailure,
    onStateChange: options.onStateChange,
    connectRetry,
    bufferWhileOpen,
  };
}
