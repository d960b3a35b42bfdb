import { type ErrorClassification, type ErrorCode, EventportError } from '@eventport/core';

/** AMQP 0-9-1 reply codes (spec 1.2 "constants"), grouped by what they mean to a caller. */
const REPLY_CODES = new Map<number, ErrorClassification>();
const codes = (code: ErrorCode, retryable: boolean, ...replies: number[]) => {
  for (const reply of replies) REPLY_CODES.set(reply, { code, retryable });
};
// 320 CONNECTION_FORCED (broker stopping, operator); frame errors 501-505 and 541 INTERNAL_ERROR (also a
// restarted node recovering its queues) close the connection, and a new one can succeed.
codes('CONNECTION', true, 320, 501, 502, 503, 504, 505, 541);
// 313 NO_CONSUMERS, 405 RESOURCE_LOCKED (an exclusive consumer holds the queue), 506 RESOURCE_ERROR.
codes('RESOURCE_EXHAUSTED', true, 313, 405, 506);
codes('PAYLOAD_TOO_LARGE', false, 311);
codes('INVALID_CONFIG', false, 402); // INVALID_PATH: no such vhost
codes('PERMISSION_DENIED', false, 403, 530); // ACCESS_REFUSED (also bad credentials), NOT_ALLOWED
codes('NOT_FOUND', false, 404);
codes('INVALID_ARGUMENT', false, 406); // PRECONDITION_FAILED, e.g. a queue declared with other arguments
codes('UNSUPPORTED', false, 540);

/** "Channel closed by server: 404 (NOT-FOUND) with message ..." and handshake errors carry the code only in the text. */
const REPLY_IN_MESSAGE = /\b([3-5]\d\d) \([A-Z-]+\)/;
const NETWORK = /\bE(CONNREFUSED|CONNRESET|CONNABORTED|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|AI_AGAIN|NOTFOUND)\b/;
/** amqplib's wording for an operation on a channel or connection that is gone. */
const GONE =
  /^(channel (closed|ended|closing)|connection (closed|closing)|socket closed|unexpected close|heartbeat timeout)/i;

/** Maps an amqplib or socket error, looking through `cause` chains and AggregateErrors, to a portable code. */
export function classifyAmqpError(error: unknown, depth = 0): ErrorClassification {
  if (error instanceof EventportError) return { code: error.code, retryable: error.retryable };
  const internal: ErrorClassification = { code: 'INTERNAL', retryable: false };
  // Duck-typed rather than `instanceof Error`: socket errors can come from another realm (vm, jest).
  if (typeof error !== 'object' || error === null || depth > 8) return internal;
  const { code, name, message, cause, errors } = error as Record<string, unknown>;
  const text = typeof message === 'string' ? message : '';
  // A body over the broker's max_message_size closes the channel with 406 PRECONDITION_FAILED.
  if (/is larger than (configured )?max size/i.test(text)) return { code: 'PAYLOAD_TOO_LARGE', retryable: false };
  const known = REPLY_CODES.get(typeof code === 'number' ? code : Number(REPLY_IN_MESSAGE.exec(text)?.[1]));
  if (known) return known;
  const network = (typeof code === 'string' && NETWORK.test(code)) || NETWORK.test(text);
  if (network || name === 'IllegalOperationError' || GONE.test(text)) return { code: 'CONNECTION', retryable: true };
  if (/^message nacked/i.test(text)) return { code: 'RESOURCE_EXHAUSTED', retryable: true };
  // amqplib 2.3: headers that do not fit its 64 KiB table buffer.
  if (name === 'RangeError' && /field table/.test(text)) return { code: 'INVALID_ARGUMENT', retryable: false };
  for (const inner of [cause, ...(Array.isArray(errors) ? errors : [])]) {
    const classified = inner === undefined ? internal : classifyAmqpError(inner, depth + 1);
    if (classified.code !== 'INTERNAL') return classified;
  }
  return internal;
}
