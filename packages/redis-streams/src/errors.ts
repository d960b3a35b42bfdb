import type { ErrorCode } from '@eventport/core';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Redis reply prefixes (the error "code" Redis puts first) and what they mean portably. */
const REPLY_PREFIXES: ReadonlyArray<[prefix: string, code: ErrorCode, retryable: boolean]> = [
  // A restarting or failing-over server: the same command succeeds a moment later.
  ['LOADING', 'CONNECTION', true],
  ['READONLY', 'CONNECTION', true],
  ['MASTERDOWN', 'CONNECTION', true],
  ['TRYAGAIN', 'CONNECTION', true],
  ['CLUSTERDOWN', 'CONNECTION', true],
  ['BUSY', 'RESOURCE_EXHAUSTED', true],
  ['OOM', 'RESOURCE_EXHAUSTED', true],
  ['NOAUTH', 'PERMISSION_DENIED', false],
  ['WRONGPASS', 'PERMISSION_DENIED', false],
  ['NOPERM', 'PERMISSION_DENIED', false],
  ['NOGROUP', 'NOT_FOUND', false],
  ['WRONGTYPE', 'INVALID_ARGUMENT', false],
];

/** Maps ioredis / Redis errors to portable codes; connection trouble is retryable. */
export function classifyRedisError(error: unknown): { code: ErrorCode; retryable: boolean } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code } = error as { code?: unknown };
  if (error.name === 'MaxRetriesPerRequestError' || (typeof code === 'string' && NETWORK_CODES.has(code))) {
    return { code: 'CONNECTION', retryable: true };
  }
  if (/Connection is closed|Stream isn't writeable|Socket closed unexpectedly/i.test(error.message)) {
    return { code: 'CONNECTION', retryable: true };
  }
  if (/Command timed out/i.test(error.message)) return { code: 'TIMEOUT', retryable: true };
  for (const [prefix, portable, retryable] of REPLY_PREFIXES) {
    if (error.message === prefix || error.message.startsWith(`${prefix} `)) return { code: portable, retryable };
  }
  return undefined;
}

/** The group (or its whole stream) no longer exists: deleted, or lost in a Redis restart without persistence. */
export function isGroupGoneError(error: unknown): boolean {
  // Redis 7 ends a blocked XREADGROUP with UNBLOCKED when its stream is deleted.
  return error instanceof Error && /^(NOGROUP|UNBLOCKED the stream key no longer exists)/.test(error.message);
}
