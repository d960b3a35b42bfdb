import type { SubscribeOptions } from '../adapter.js';
import { describeError, EventportError } from '../errors.js';
import type { Logger } from '../logger.js';
import { rejectUnknownKeys } from '../validation.js';
import type { ResolvedSubscribeOptions } from './consumer.js';

/** What a group may be called on every backend (it becomes part of queue, subscription and consumer names). */
export const isGroupName = (name: string): boolean => /^[A-Za-z0-9._-]{1,100}$/.test(name);

export const defaultRedeliveryDelayMs = (attempt: number): number => Math.min(100 * 2 ** (attempt - 1), 10_000);

const SUBSCRIBE_OPTION_KEYS = [
  'group',
  'concurrency',
  'fromBeginning',
  'drainTimeoutMs',
  'redeliveryDelayMs',
  'onInvalid',
  'onError',
  'onSettled',
  'ephemeral',
] as const satisfies readonly (keyof SubscribeOptions)[];

/** Subscribe options with defaults, checked before anything connects: a typo fails, naming the key. */
export function resolveSubscribeOptions(options: SubscribeOptions, logger: Logger): ResolvedSubscribeOptions {
  rejectUnknownKeys(options, SUBSCRIBE_OPTION_KEYS, 'subscribe option', 'INVALID_ARGUMENT');
  const concurrency = options.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new EventportError('INVALID_ARGUMENT', `concurrency must be a positive integer (got ${concurrency})`);
  }
  const group = options.group ?? 'default';
  if (!isGroupName(group)) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `group may contain only letters, digits, ".", "_" and "-" (got "${group}")`,
    );
  }
  return {
    group,
    concurrency,
    fromBeginning: options.fromBeginning ?? false,
    ephemeral: options.ephemeral ?? false,
    drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
    redeliveryDelayMs: options.redeliveryDelayMs ?? defaultRedeliveryDelayMs,
    onInvalid: options.onInvalid,
    onSettled: options.onSettled,
    onError: options.onError ?? ((error) => logger.warn('subscription error', { error: describeError(error) })),
  };
}
