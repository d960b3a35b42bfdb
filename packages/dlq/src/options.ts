import { consoleLogger, type Logger, parseOptions } from '@eventport/core';
// cockatiel is an ES module: the declaration emitted from this type import has to say so, or a
// CommonJS application type-checking with module node16 gets TS1479 in our options.d.ts.
import type { IBackoffFactory } from 'cockatiel' with { 'resolution-mode': 'import' };
import { decorrelatedJitterGenerator, ExponentialBackoff, fullJitterGenerator, noJitterGenerator } from 'cockatiel';
import { z } from 'zod';

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

/** Shared by the decorator's policy and replay()'s options. */
export const positiveInteger = z.number().int().positive();
export const nonNegativeMs = z.number().nonnegative();
export const SuffixSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]+$/, 'may contain only letters, digits, ".", "_" and "-"')
  .default(DEFAULT_SUFFIX);

const DeadLetterPolicySchema = z
  .object({
    maxAttempts: positiveInteger.default(5),
    initialDelayMs: nonNegativeMs.default(100),
    maxDelayMs: z.number().default(10_000),
    jitter: z.enum(['decorrelated', 'full', 'none']).default('decorrelated'),
    suffix: SuffixSchema,
  })
  .refine((policy) => policy.maxDelayMs >= policy.initialDelayMs, {
    path: ['maxDelayMs'],
    message: 'must not be below initialDelayMs',
  });

export function resolvePolicy(policy: DeadLetterPolicy): ResolvedDeadLetterPolicy {
  const { maxAttempts, initialDelayMs, maxDelayMs, jitter, suffix } = parseOptions(
    DeadLetterPolicySchema,
    policy,
    'dead-letter',
    'INVALID_ARGUMENT',
  );
  // The generators' state types differ; each is valid for the factory built with it.
  const backoff = new ExponentialBackoff({
    initialDelay: initialDelayMs,
    maxDelay: maxDelayMs,
    generator: GENERATORS[jitter] as typeof noJitterGenerator,
  });
  return {
    maxAttempts,
    backoff,
    isNonRetryable: policy.isNonRetryable ?? (() => false),
    suffix,
    logger: policy.logger ?? consoleLogger(),
  };
}
