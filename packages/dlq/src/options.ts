import { consoleLogger, EventportError, type Logger } from '@eventport/core';
import {
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  fullJitterGenerator,
  type IBackoffFactory,
  noJitterGenerator,
} from 'cockatiel';

export interface DeadLetterPolicy {
  /** Handler runs per message, the first one included, before it is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Delay before the first retry. Default 100 ms. */
  initialDelayMs?: number;
  /** Upper bound of a retry delay. Default 10 s. */
  maxDelayMs?: number;
  /** Randomisation of the exponential delays. Default "decorrelated" (cockatiel's decorrelated jitter). */
  jitter?: 'decorrelated' | 'full' | 'none';
  /**
   * Errors for which a retry cannot help: they go to the dead-letter topic after one attempt.
   * InvalidMessageError (undecodable or schema-rejected payloads) is always treated this way.
   */
  isNonRetryable?: (error: unknown) => boolean;
  /** Dead letters of topic T go to T + suffix. Default ".dlq". Topics ending in it are never dead-lettered again. */
  suffix?: string;
  logger?: Logger;
}

export interface ResolvedDeadLetterPolicy {
  maxAttempts: number;
  backoff: IBackoffFactory<unknown>;
  isNonRetryable: (error: unknown) => boolean;
  suffix: string;
  logger: Logger;
}

export const DEFAULT_SUFFIX = '.dlq';
/** The consumer group listDeadLetters() and replay() read dead letters with. */
export const REPLAY_GROUP = 'eventport-dlq-replay';

const GENERATORS = {
  decorrelated: decorrelatedJitterGenerator,
  full: fullJitterGenerator,
  none: noJitterGenerator,
} as const;

export function resolvePolicy(policy: DeadLetterPolicy): ResolvedDeadLetterPolicy {
  const maxAttempts = policy.maxAttempts ?? 5;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new EventportError('INVALID_ARGUMENT', `maxAttempts must be a positive integer (got ${maxAttempts})`);
  }
  const initialDelay = policy.initialDelayMs ?? 100;
  const maxDelay = policy.maxDelayMs ?? 10_000;
  if (!Number.isFinite(initialDelay) || initialDelay < 0 || !Number.isFinite(maxDelay) || maxDelay < initialDelay) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `retry delays must satisfy 0 <= initialDelayMs <= maxDelayMs (got ${initialDelay} and ${maxDelay})`,
    );
  }
  const jitter = policy.jitter ?? 'decorrelated';
  const generator = GENERATORS[jitter];
  if (!generator) {
    throw new EventportError('INVALID_ARGUMENT', `jitter must be "decorrelated", "full" or "none" (got "${jitter}")`);
  }
  const suffix = validateSuffix(policy.suffix ?? DEFAULT_SUFFIX);
  // The generators' state types differ; each is valid for the factory built with it.
  const backoff = new ExponentialBackoff({
    initialDelay,
    maxDelay,
    generator: generator as typeof noJitterGenerator,
  });
  return {
    maxAttempts,
    backoff,
    isNonRetryable: policy.isNonRetryable ?? (() => false),
    suffix,
    logger: policy.logger ?? consoleLogger(),
  };
}

export function validateSuffix(suffix: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(suffix)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `suffix may contain only letters, digits, ".", "_" and "-" (got "${suffix}")`,
    );
  }
  return suffix;
}
