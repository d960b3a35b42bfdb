import {
  classifyThrough,
  type ErrorClassification,
  type ErrorCode,
  type ErrorLink,
  EventportError,
  sanitizeError,
} from '@eventport/core';

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

export function grpcStatusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * The portable code of a Pub/Sub client error, looking through wrappers (PublishError.error, `cause`);
 * undefined when nothing in the chain is recognised.
 */
export function classifyPubSubError(error: unknown): ErrorClassification | undefined {
  const byLink = (link: ErrorLink): ErrorClassification | undefined => {
    const status = grpcStatusOf(link);
    const code = status === undefined ? undefined : BY_STATUS[status];
    if (status !== undefined && code) return { code, retryable: RETRYABLE.has(status) };
    // The client validates attributes and data synchronously and throws TypeError/RangeError.
    if (link instanceof TypeError || link instanceof RangeError) return { code: 'INVALID_ARGUMENT', retryable: false };
    return undefined;
  };
  return classifyThrough(error, byLink, ({ error: inner }) => [inner]);
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
