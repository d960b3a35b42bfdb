import { classifyThrough, type ErrorClassification, type ErrorCode, type ErrorLink } from '@eventport/core';

/** What ioredis says about a connection that is gone or not usable right now (there is no offline queue). */
const CONNECTION_LOST =
  /^(Connection is closed|Stream isn't writeable|Socket closed unexpectedly|Command aborted due to connection close|Socket timeout|Reached the max retries)/;
/** The code Redis puts first in a reply error. A restarting, loading or failing-over server succeeds a moment later. */
const REPLY_CODES: Array<[RegExp, ErrorCode]> = [
  [/^(LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/, 'CONNECTION'],
  [/^(BUSY|OOM)\b/, 'RESOURCE_EXHAUSTED'],
  [/^(NOAUTH|WRONGPASS|NOPERM)\b/, 'PERMISSION_DENIED'],
  // UNBLOCKED: a blocked XREADGROUP whose stream was deleted.
  [/^(NOGROUP|UNBLOCKED)\b/, 'NOT_FOUND'],
  [/^WRONGTYPE\b/, 'INVALID_ARGUMENT'],
];

/** Maps ioredis / Redis errors to portable codes, looking through wrappers' `cause` chains. */
export function classifyRedisError(error: unknown): ErrorClassification {
  const byLink = ({ name }: ErrorLink, message: string): ErrorCode | undefined => {
    if (name === 'MaxRetriesPerRequestError' || CONNECTION_LOST.test(message)) return 'CONNECTION';
    if (message.startsWith('Command timed out')) return 'TIMEOUT';
    return REPLY_CODES.find(([pattern]) => pattern.test(message))?.[1];
  };
  return classifyThrough(error, byLink) ?? { code: 'INTERNAL', retryable: false };
}
