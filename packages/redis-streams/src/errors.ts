import { type ErrorClassification, type ErrorCode, EventportError } from '@eventport/core';

/** What ioredis says about a connection that is gone or not usable right now (there is no offline queue). */
const CONNECTION_LOST =
  /^(Connection is closed|Stream isn't writeable|Socket closed unexpectedly|Command aborted due to connection close|Socket timeout|Reached the max retries)/;
const NETWORK_CODES =
  /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/;
/** The code Redis puts first in a reply error. A restarting, loading or failing-over server succeeds a moment later. */
const REPLY_CODES: Array<[RegExp, ErrorCode, boolean]> = [
  [/^(LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/, 'CONNECTION', true],
  [/^(BUSY|OOM)\b/, 'RESOURCE_EXHAUSTED', true],
  [/^(NOAUTH|WRONGPASS|NOPERM)\b/, 'PERMISSION_DENIED', false],
  // UNBLOCKED: a blocked XREADGROUP whose stream was deleted.
  [/^(NOGROUP|UNBLOCKED)\b/, 'NOT_FOUND', false],
  [/^WRONGTYPE\b/, 'INVALID_ARGUMENT', false],
];

/** Maps ioredis / Redis errors to portable codes, looking through wrappers' `cause` chains. */
export function classifyRedisError(error: unknown): ErrorClassification {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof EventportError) return { code: current.code, retryable: current.retryable };
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (current.name === 'MaxRetriesPerRequestError' || CONNECTION_LOST.test(current.message)) {
      return { code: 'CONNECTION', retryable: true };
    }
    if (typeof code === 'string' && NETWORK_CODES.test(code)) return { code: 'CONNECTION', retryable: true };
    if (current.message.startsWith('Command timed out')) return { code: 'TIMEOUT', retryable: true };
    const { message } = current;
    const reply = REPLY_CODES.find(([pattern]) => pattern.test(message));
    if (reply) return { code: reply[1], retryable: reply[2] };
    current = cause;
  }
  return { code: 'INTERNAL', retryable: false };
}
