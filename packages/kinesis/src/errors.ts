import { classifyThrough, type ErrorClassification, type ErrorCode, type ErrorLink } from '@eventport/core';

/** By error name: AWS exceptions, the HTTP handler's timeouts, ioredis giving up. */
const BY_NAME: Array<[RegExp, ErrorCode]> = [
  [/^(ProvisionedThroughputExceeded|LimitExceeded|KMSThrottling|Throttling)Exception$/, 'RESOURCE_EXHAUSTED'],
  [/^(RequestTimeout(Exception)?|AbortError)$/, 'TIMEOUT'],
  [/^(InternalFailure|ServiceUnavailable|MaxRetriesPerRequestError)$/, 'CONNECTION'],
  [
    /^((AccessDenied|UnrecognizedClient|InvalidSignature|ExpiredToken|KMSAccessDenied)Exception|CredentialsProviderError)$/,
    'PERMISSION_DENIED',
  ],
  [/^ResourceNotFoundException$/, 'NOT_FOUND'],
  [/^ResourceInUseException$/, 'ALREADY_EXISTS'],
  [/^(InvalidArgument|Validation)Exception$/, 'INVALID_ARGUMENT'],
];
const SHARD_QUOTA = /shard limit/i;
// The SDK wraps network errors in a plain Error that names the cause only in its message (core knows E* codes).
const NETWORK =
  /\bERR_HTTP2_\w+\b|connection (is )?(closed|terminated|refused|reset)|socket hang up|stream isn't writeable/i;

/**
 * Maps an AWS SDK, network or checkpoint-store error to a portable code, looking through `cause` and
 * AggregateError: throttling is RESOURCE_EXHAUSTED, timeouts TIMEOUT, lost connections and 5xx
 * CONNECTION, all retryable.
 */
export function classifyKinesisError(error: unknown): ErrorClassification {
  const byLink = (link: ErrorLink, message: string): ErrorCode | ErrorClassification | undefined => {
    const { name, code, $metadata, $retryable } = link as ErrorLink & Record<'$metadata' | '$retryable', never>;
    // Kinesis names both a burst of CreateStream calls and a full shard quota LimitExceededException;
    // only the first passes by itself.
    if (name === 'LimitExceededException' && SHARD_QUOTA.test(message))
      return { code: 'RESOURCE_EXHAUSTED', retryable: false };
    const known = BY_NAME.find(([pattern]) => pattern.test(String(name)))?.[1];
    if (known) return known;
    if (($retryable as { throttling?: boolean } | undefined)?.throttling) return 'RESOURCE_EXHAUSTED';
    const status = ($metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode ?? 0;
    if (NETWORK.test(`${code} ${message}`) || status >= 500 || $retryable) return 'CONNECTION';
    return undefined;
  };
  return classifyThrough(error, byLink) ?? { code: 'INTERNAL', retryable: false };
}

export function isErrorNamed(error: unknown, ...names: string[]): boolean {
  return typeof error === 'object' && error !== null && names.includes((error as { name?: string }).name ?? '');
}
