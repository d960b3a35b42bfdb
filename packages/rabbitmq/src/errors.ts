import { type ErrorClassification, EventportError } from '@eventport/core';

const retry = (code: ErrorClassification['code']): ErrorClassification => ({ code, retryable: true });
const fail = (code: ErrorClassification['code']): ErrorClassification => ({ code, retryable: false });

/** AMQP 0-9-1 reply codes (spec 1.2 "constants") and what they mean to a caller. */
const REPLY_CODES: Readonly<Record<number, ErrorClassification>> = {
  311: fail('PAYLOAD_TOO_LARGE'), // CONTENT_TOO_LARGE
  313: retry('RESOURCE_EXHAUSTED'), // NO_CONSUMERS
  320: retry('CONNECTION'), // CONNECTION_FORCED: broker stopping, or an operator closed us
  402: fail('INVALID_CONFIG'), // INVALID_PATH: no such vhost
  403: fail('PERMISSION_DENIED'), // ACCESS_REFUSED, also bad credentials
  404: fail('NOT_FOUND'),
  405: retry('RESOURCE_EXHAUSTED'), // RESOURCE_LOCKED: an exclusive consumer holds the queue
  406: fail('INVALID_ARGUMENT'), // PRECONDITION_FAILED, e.g. a queue declared with other arguments
  // Frame and internal errors close the connection: a new one can succeed (541 is also what a node
  // recovering its quorum queues after a restart answers).
  501: retry('CONNECTION'),
  502: retry('CONNECTION'),
  503: retry('CONNECTION'),
  504: retry('CONNECTION'),
  505: retry('CONNECTION'),
  506: retry('RESOURCE_EXHAUSTED'), // RESOURCE_ERROR
  530: fail('PERMISSION_DENIED'), // NOT_ALLOWED, e.g. no access to the vhost
  540: fail('UNSUPPORTED'), // NOT_IMPLEMENTED
  541: retry('CONNECTION'), // INTERNAL_ERROR
};

/** "Channel closed by server: 404 (NOT-FOUND) with message ..." and handshake errors carry the code only in the text. */
const REPLY_IN_MESSAGE = /\b([3-5]\d\d) \([A-Z-]+\)/;
const NETWORK = /\bE(CONNREFUSED|CONNRESET|CONNABORTED|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|AI_AGAIN|NOTFOUND)\b/;
/** amqplib's wording for an operation on a channel or connection that is gone. */
const GONE =
  /^(channel (closed|ended|closing)|connection (closed|closing)|socket closed|unexpected close|heartbeat timeout)/i;

/** Maps an amqplib or socket error, looking through `cause` chains and AggregateErrors, to a portable code. */
export function classifyAmqpError(error: unknown, depth = 0): ErrorClassification {
  if (error instanceof EventportError) return { code: error.code, retryable: error.retryable };
  // Duck-typed rather than `instanceof Error`: socket errors can come from another realm (vm, jest).
  if (typeof error !== 'object' || error === null || depth > 8) return fail('INTERNAL');
  const { code, name, message, cause, errors } = error as Record<string, unknown>;
  const text = typeof message === 'string' ? message : '';
  // A body over the broker's max_message_size closes the channel with 406 PRECONDITION_FAILED.
  if (/is larger than (configured )?max size/i.test(text)) return fail('PAYLOAD_TOO_LARGE');
  const reply = typeof code === 'number' ? code : Number(REPLY_IN_MESSAGE.exec(text)?.[1]);
  if (REPLY_CODES[reply]) return REPLY_CODES[reply];
  if ((typeof code === 'string' && NETWORK.test(code)) || NETWORK.test(text)) return retry('CONNECTION');
  if (name === 'IllegalOperationError' || GONE.test(text)) return retry('CONNECTION');
  if (/^message nacked/i.test(text)) return retry('RESOURCE_EXHAUSTED');
  // amqplib 2.3: headers that do not fit its 64 KiB table buffer.
  if (name === 'RangeError' && /field table/.test(text)) return fail('INVALID_ARGUMENT');
  for (const inner of [cause, ...(Array.isArray(errors) ? errors : [])]) {
    const classified = inner === undefined ? undefined : classifyAmqpError(inner, depth + 1);
    if (classified && classified.code !== 'INTERNAL') return classified;
  }
  return fail('INTERNAL');
}
