import { classifyThrough, type ErrorClassification, type ErrorCode, type ErrorLink } from '@eventport/core';

/** AMQP 0-9-1 reply codes (spec 1.2 "constants"), grouped by what they mean to a caller. */
const REPLY_CODES = new Map<number, ErrorCode>();
const codes = (code: ErrorCode, ...replies: number[]) => {
  for (const reply of replies) REPLY_CODES.set(reply, code);
};
// 320 CONNECTION_FORCED (broker stopping, operator); frame errors 501-505 and 541 INTERNAL_ERROR (also a
// restarted node recovering its queues) close the connection, and a new one can succeed.
codes('CONNECTION', 320, 501, 502, 503, 504, 505, 541);
// 313 NO_CONSUMERS, 405 RESOURCE_LOCKED (an exclusive consumer holds the queue), 506 RESOURCE_ERROR.
codes('RESOURCE_EXHAUSTED', 313, 405, 506);
codes('PAYLOAD_TOO_LARGE', 311);
codes('INVALID_CONFIG', 402); // INVALID_PATH: no such vhost
codes('PERMISSION_DENIED', 403, 530); // ACCESS_REFUSED (also bad credentials), NOT_ALLOWED
codes('NOT_FOUND', 404);
codes('INVALID_ARGUMENT', 406); // PRECONDITION_FAILED, e.g. a queue declared with other arguments
codes('UNSUPPORTED', 540);

/** "Channel closed by server: 404 (NOT-FOUND) with message ..." and handshake errors carry the code only in the text. */
const REPLY_IN_MESSAGE = /\b([3-5]\d\d) \([A-Z-]+\)/;
/** amqplib's wording for an operation on a channel or connection that is gone. */
const GONE =
  /^(channel (closed|ended|closing)|connection (closed|closing)|socket closed|unexpected close|heartbeat timeout)/i;

/** Maps an amqplib or socket error, looking through `cause` chains and AggregateErrors, to a portable code. */
export function classifyAmqpError(error: unknown): ErrorClassification {
  const byLink = ({ code, name }: ErrorLink, text: string): ErrorCode | undefined => {
    // A body over the broker's max_message_size closes the channel with 406 PRECONDITION_FAILED.
    if (/is larger than (configured )?max size/i.test(text)) return 'PAYLOAD_TOO_LARGE';
    const known = REPLY_CODES.get(typeof code === 'number' ? code : Number(REPLY_IN_MESSAGE.exec(text)?.[1]));
    if (known) return known;
    if (name === 'IllegalOperationError' || GONE.test(text)) return 'CONNECTION';
    if (/^message nacked/i.test(text)) return 'RESOURCE_EXHAUSTED';
    // amqplib 2.3: headers that do not fit its 64 KiB table buffer.
    return name === 'RangeError' && /field table/.test(text) ? 'INVALID_ARGUMENT' : undefined;
  };
  return classifyThrough(error, byLink) ?? { code: 'INTERNAL', retryable: false };
}
