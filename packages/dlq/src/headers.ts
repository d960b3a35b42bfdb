import { describeError, type Headers, HeadersSchema } from '@eventport/core';

/** Headers a dead letter carries next to the original message's own headers. */
export const DLQ_HEADERS = {
  originalTopic: 'dlq-original-topic',
  /** Dead letters are published without a key (so every one can be listed); the key travels here. */
  originalKey: 'dlq-original-key',
  /** Set when the raw body was preserved (undecodable or schema-rejected delivery). */
  originalContentType: 'dlq-original-content-type',
  group: 'dlq-group',
  /** "exhausted" (retries used up), "non-retryable" or "invalid" (undecodable / failed its schema). */
  reason: 'dlq-reason',
  errorMessage: 'dlq-error-message',
  errorClass: 'dlq-error-class',
  errorCode: 'dlq-error-code',
  attempts: 'dlq-attempts',
  firstFailureAt: 'dlq-first-failure-at',
  lastFailureAt: 'dlq-last-failure-at',
  /** Set when the body was too large for the dead-letter topic: the letter holds its first bytes only. */
  truncated: 'dlq-truncated',
  originalBytes: 'dlq-original-bytes',
  /** Added by replay() to the message it puts back on the original topic. */
  replayedAt: 'dlq-replayed-at',
} as const;

export type DeadLetterReason = 'exhausted' | 'non-retryable' | 'invalid';

const DLQ_HEADER_NAMES: ReadonlySet<string> = new Set(Object.values(DLQ_HEADERS));
const MAX_ERROR_MESSAGE_LENGTH = 1_000;

export function isDeadLetterHeader(name: string): boolean {
  return DLQ_HEADER_NAMES.has(name);
}

/** Headers a publish accepts: reserved or malformed entries (e.g. from a foreign producer) are dropped, not fatal. */
export function publishableHeaders(headers: Headers): Headers {
  const kept: Headers = {};
  for (const [name, value] of Object.entries(headers)) {
    if (isDeadLetterHeader(name)) continue;
    if (HeadersSchema.safeParse({ [name]: value }).success) kept[name] = value;
  }
  return kept;
}

export interface FailureRecord {
  reason: DeadLetterReason;
  error: unknown;
  attempts: number;
  firstFailureAt: Date;
  lastFailureAt: Date;
  originalTopic: string;
  group: string;
  key?: string;
  originalContentType?: string;
}

export function failureHeaders(failure: FailureRecord): Headers {
  const headers: Headers = {
    [DLQ_HEADERS.originalTopic]: failure.originalTopic,
    [DLQ_HEADERS.group]: failure.group,
    [DLQ_HEADERS.reason]: failure.reason,
    [DLQ_HEADERS.errorMessage]: headerSafe(describeError(failure.error)).slice(0, MAX_ERROR_MESSAGE_LENGTH),
    [DLQ_HEADERS.errorClass]: errorClassOf(failure.error),
    [DLQ_HEADERS.attempts]: String(failure.attempts),
    [DLQ_HEADERS.firstFailureAt]: failure.firstFailureAt.toISOString(),
    [DLQ_HEADERS.lastFailureAt]: failure.lastFailureAt.toISOString(),
  };
  const code = (failure.error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' || typeof code === 'number') headers[DLQ_HEADERS.errorCode] = headerSafe(String(code));
  if (failure.key !== undefined) headers[DLQ_HEADERS.originalKey] = headerSafe(failure.key);
  if (failure.originalContentType !== undefined) {
    headers[DLQ_HEADERS.originalContentType] = headerSafe(failure.originalContentType);
  }
  return headers;
}

function errorClassOf(error: unknown): string {
  // A subclass that does not set `name` still reports its own class.
  if (error instanceof Error)
    return headerSafe(error.name !== 'Error' ? error.name : error.constructor.name) || 'Error';
  return typeof error;
}

function headerSafe(value: string): string {
  return value.replaceAll('\0', '');
}
