import { type ErrorClassification, type ErrorCode, EventportError, sanitizeError } from '@eventport/core';

/** gRPC status codes (the numeric `code` of every google-gax / Pub/Sub client error). */
export const GrpcStatus = { NOT_FOUND: 5, ALREADY_EXISTS: 6 } as const;

/** Portable code per gRPC status 0-16 (CANCELLED, UNKNOWN, ..., UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED). */
// biome-ignore format: one row per gRPC status would be 17 lines
const BY_STATUS: readonly ErrorCode[] = [
  'INTERNAL', 'CONNECTION', 'INTERNAL', 'INVALID_ARGUMENT', 'TIMEOUT', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'INTERNAL', 'CONNECTION', 'INVALID_ARGUMENT', 'UNSUPPORTED',
  'INTERNAL', 'CONNECTION', 'INTERNAL', 'PERMISSION_DENIED',
];
/** Pub/Sub's own retry codes: CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE. */
const RETRYABLE = new Set([1, 2, 4, 8, 10, 13, 14]);
/** Socket and DNS errors (the auth library's token request, before any gRPC status exists). */
const NETWORK = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/;

export function grpcStatusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * The portable code of a Pub/Sub client error, looking through wrappers (PublishError.error, `cause`);
 * undefined when nothing in the chain is recognised.
 */
export function classifyPubSubError(error: unknown, depth = 0): ErrorClassification | undefined {
  if (depth > 8 || error === null || typeof error !== 'object') return undefined;
  if (error instanceof EventportError) return { code: error.code, retryable: error.retryable };
  const status = grpcStatusOf(error);
  const code = status === undefined ? undefined : BY_STATUS[status];
  if (status !== undefined && code) return { code, retryable: RETRYABLE.has(status) };
  if (NETWORK.test(String((error as { code?: unknown }).code))) return { code: 'CONNECTION', retryable: true };
  // An AbortSignal.timeout() reason: the call did not finish by its deadline.
  if ((error as Error).name === 'TimeoutError') return { code: 'TIMEOUT', retryable: true };
  // The client validates attributes and data synchronously and throws TypeError/RangeError.
  if (error instanceof TypeError || error instanceof RangeError) return { code: 'INVALID_ARGUMENT', retryable: false };
  const { error: inner, cause } = error as { error?: unknown; cause?: unknown };
  return classifyPubSubError(inner, depth + 1) ?? classifyPubSubError(cause, depth + 1);
}

/** JSON.parse quotes a snippet of what it failed on: from a damaged key file, a piece of its private key. */
const JSON_SNIPPET = /(?:\.\.\.)?"[^\n]*"(?:\.\.\.)? is not valid JSON/g;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g;
const scrub = (text: string) =>
  text.replace(PRIVATE_KEY, '[private key]').replace(JSON_SNIPPET, '(content hidden) is not valid JSON');

/** Core's sanitised copy (name, message, stack, code, cause chain), with key-file content scrubbed from the texts. */
export function sanitizePubSubError(error: unknown): unknown {
  const copy = sanitizeError(error);
  for (let at = copy, depth = 0; at instanceof Error && !(at instanceof EventportError) && depth < 10; depth++) {
    at.message = scrub(at.message);
    if (at.stack !== undefined) at.stack = scrub(at.stack);
    at = at.cause;
  }
  return typeof copy === 'string' ? scrub(copy) : copy;
}
