import { type ErrorClassification, EventportError } from '@eventport/core';

const retryable = (code: ErrorClassification['code']) => ({ code, retryable: true });
const final = (code: ErrorClassification['code']) => ({ code, retryable: false });
/** By error name: AWS exceptions, the HTTP handler's timeouts, ioredis giving up. */
const BY_NAME: Array<[RegExp, ErrorClassification]> = [
  [
    /^(ProvisionedThroughputExceeded|LimitExceeded|KMSThrottling|Throttling)Exception$/,
    retryable('RESOURCE_EXHAUSTED'),
  ],
  [/^(TimeoutError|RequestTimeout(Exception)?|AbortError)$/, retryable('TIMEOUT')],
  [/^(InternalFailure|ServiceUnavailable|MaxRetriesPerRequestError)$/, retryable('CONNECTION')],
  [
    /^((AccessDenied|UnrecognizedClient|InvalidSignature|ExpiredToken|KMSAccessDenied)Exception|CredentialsProviderError)$/,
    final('PERMISSION_DENIED'),
  ],
  [/^ResourceNotFoundException$/, final('NOT_FOUND')],
  [/^ResourceInUseException$/, final('ALREADY_EXISTS')],
  [/^(InvalidArgument|Validation)Exception$/, final('INVALID_ARGUMENT')],
];
const SHARD_QUOTA = /shard limit/i;
// The SDK wraps network errors in a plain Error that names the cause only in its message.
const NETWORK =
  /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ERR_HTTP2_\w+)\b|connection (is )?(closed|terminated|refused|reset)|socket hang up|stream isn't writeable/i;

/**
 * Maps an AWS SDK, network or checkpoint-store error to a portable code, looking through `cause` and
 * AggregateError: throttling is RESOURCE_EXHAUSTED, timeouts TIMEOUT, lost connections and 5xx
 * CONNECTION, all retryable.
 */
export function classifyKinesisError(error: unknown, depth = 0): ErrorClassification {
  if (typeof error !== 'object' || error === null || depth > 8) return final('INTERNAL');
  if (error instanceof EventportError) return { code: error.code, retryable: error.retryable };
  const { name = '', code, message, $metadata, $retryable, cause } = error as Record<string, never>;
  // Kinesis names both a burst of CreateStream calls and a full shard quota LimitExceededException;
  // only the first passes by itself.
  if (isErrorNamed(error, 'LimitExceededException') && SHARD_QUOTA.test(String(message)))
    return final('RESOURCE_EXHAUSTED');
  const known = BY_NAME.find(([pattern]) => pattern.test(name))?.[1];
  if (known) return known;
  if (($retryable as { throttling?: boolean } | undefined)?.throttling) return retryable('RESOURCE_EXHAUSTED');
  const status = ($metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode ?? 0;
  if (NETWORK.test(`${code} ${message}`) || status >= 500 || $retryable) return retryable('CONNECTION');
  for (const inner of [cause, ...(error instanceof AggregateError ? error.errors : [])]) {
    const found = classifyKinesisError(inner, depth + 1);
    if (found.code !== 'INTERNAL') return found;
  }
  return final('INTERNAL');
}

export function isErrorNamed(error: unknown, ...names: string[]): boolean {
  return typeof error === 'object' && error !== null && names.includes((error as { name?: string }).name ?? '');
}
