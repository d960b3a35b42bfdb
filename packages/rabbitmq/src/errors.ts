import type { ErrorCode } from '@eventport/core';

export interface Classification {
  code: ErrorCode;
  retryable: boolean;
}

/** AMQP 0-9-1 reply codes (spec section 1.2 "constants") and what they mean to a caller. */
const REPLY_CODES: Readonly<Record<number, Classification>> = {
  311: { code: 'PAYLOAD_TOO_LARGE', retryable: false }, // CONTENT_TOO_LARGE
  313: { code: 'RESOURCE_EXHAUSTED', retryable: true }, // NO_CONSUMERS
  320: { code: 'CONNECTION', retryable: true }, // CONNECTION_FORCED: broker shutting down or an operator closed us
  402: { code: 'INVALID_CONFIG', retryable: false }, // INVALID_PATH: the vhost does not exist
  403: { code: 'PERMISSION_DENIED', retryable: false }, // ACCESS_REFUSED (also bad credentials)
  404: { code: 'NOT_FOUND', retryable: false },
  405: { code: 'RESOURCE_EXHAUSTED', retryable: true }, // RESOURCE_LOCKED: an exclusive consumer holds the queue
  406: { code: 'INVALID_ARGUMENT', retryable: false }, // PRECONDITION_FAILED, e.g. a queue declared with other arguments
  501: { code: 'INTERNAL', retryable: true }, // FRAME_ERROR
  502: { code: 'INTERNAL', retryable: false }, // SYNTAX_ERROR
  503: { code: 'INTERNAL', retryable: false }, // COMMAND_INVALID
  504: { code: 'CONNECTION', retryable: true }, // CHANNEL_ERROR
  505: { code: 'INTERNAL', retryable: false }, // UNEXPECTED_FRAME
  506: { code: 'RESOURCE_EXHAUSTED', retryable: true }, // RESOURCE_ERROR
  530: { code: 'PERMISSION_DENIED', retryable: false }, // NOT_ALLOWED, e.g. no access to the vhost
  540: { code: 'UNSUPPORTED', retryable: false }, // NOT_IMPLEMENTED
  541: { code: 'INTERNAL', retryable: true }, // INTERNAL_ERROR, seen while a restarted node recovers its queues
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** "Channel closed by server: 404 (NOT-FOUND) with message ..." and the handshake errors, which carry no code field. */
const REPLY_IN_MESSAGE = /\b([3-5]\d\d) \([A-Z-]+\)/;
/** amqplib's wording when an operation meets a channel or connection that is already gone. */
const GONE = /^(channel closed|channel ended|connection closed|channel closing|connection closing|socket closed)/i;

/** Maps an amqplib / socket error to a portable code; undefined when it is not recognisably an AMQP error. */
export function classifyAmqpError(error: unknown): Classification | undefined {
  // Duck-typed rather than `instanceof Error`: socket errors can come from another realm (vm, jest).
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  // A body over the broker's max_message_size closes the channel with 406 PRECONDITION_FAILED.
  if (typeof message === 'string' && /is larger than (configured )?max size/i.test(message)) {
    return { code: 'PAYLOAD_TOO_LARGE', retryable: false };
  }
  if (typeof code === 'number' && REPLY_CODES[code]) return REPLY_CODES[code];
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return { code: 'CONNECTION', retryable: true };
  if (typeof message !== 'string') return undefined;
  const replyCode = REPLY_IN_MESSAGE.exec(message)?.[1];
  if (replyCode && REPLY_CODES[Number(replyCode)]) return REPLY_CODES[Number(replyCode)];
  if (name === 'IllegalOperationError' || GONE.test(message)) return { code: 'CONNECTION', retryable: true };
  if (/message nacked/i.test(message)) return { code: 'RESOURCE_EXHAUSTED', retryable: true };
  if (/socket timeout|timed? ?out/i.test(message)) return { code: 'TIMEOUT', retryable: true };
  return undefined;
}
