import type { ErrorCode } from '@eventport/core';

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
]);
const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'KMSAccessDeniedException',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_HTTP2_ERROR',
  'ERR_HTTP2_STREAM_ERROR',
]);

/** Maps an AWS SDK (or network) error to a portable code; `retryable` drives the portable publish retries. */
export function classifyKinesisError(error: unknown): { code: ErrorCode; retryable: boolean } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, code, $metadata } = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  if (name && THROTTLED.has(name)) return { code: 'RESOURCE_EXHAUSTED', retryable: true };
  if (name && DENIED.has(name)) return { code: 'PERMISSION_DENIED', retryable: false };
  if (name === 'ResourceNotFoundException') return { code: 'NOT_FOUND', retryable: false };
  if (name === 'ResourceInUseException') return { code: 'ALREADY_EXISTS', retryable: false };
  if (name === 'InvalidArgumentException' || name === 'ValidationException') {
    return { code: 'INVALID_ARGUMENT', retryable: false };
  }
  if (name === 'TimeoutError' || name === 'RequestTimeout') return { code: 'TIMEOUT', retryable: true };
  if ((code && NETWORK_CODES.has(code)) || ($metadata?.httpStatusCode ?? 0) >= 500) {
    return { code: 'CONNECTION', retryable: true };
  }
  if (name === 'InternalFailure' || name === 'ServiceUnavailable') return { code: 'CONNECTION', retryable: true };
  return undefined;
}

export function isErrorNamed(error: unknown, ...names: string[]): boolean {
  return typeof error === 'object' && error !== null && names.includes((error as { name?: string }).name ?? '');
}
