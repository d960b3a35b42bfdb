import type { ErrorClassification, ErrorCode, IncomingRecord, OutgoingRecord } from '@eventport/core';
import { causeChain, classifyThrough, type ErrorLink, tryOr } from '@eventport/core';
import type { JsMsg } from '@nats-io/jetstream';
import { type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';

/** CloudEvents' partitioning extension: NATS has no key of its own. */
const KEY_HEADER = 'ce-partitionkey';
/** Headers NATS cannot carry as they are (CR/LF, edge spaces, ":" in names, Nats-*), as one JSON object. */
const BAG_HEADER = 'eventport-headers';

const plain = ([name, value]: [string, string]) =>
  /^[!-9;-~]+$/.test(name) &&
  !/^nats-|^ce-partitionkey$|^eventport-headers$/i.test(name) &&
  /^\S?$|^\S[^\r\n]*\S$/.test(value);

export function encodeHeaders(record: OutgoingRecord): MsgHdrs {
  const encoded = natsHeaders();
  const entries = Object.entries(record.headers);
  for (const [name, value] of entries.filter(plain)) encoded.set(name, value);
  const bag = entries.filter((entry) => !plain(entry));
  if (bag.length > 0) encoded.set(BAG_HEADER, JSON.stringify(Object.fromEntries(bag)));
  if (record.key !== undefined) encoded.set(KEY_HEADER, encodeURIComponent(record.key));
  return encoded;
}

export function decodeRecord(msg: JsMsg): IncomingRecord {
  const headers: Record<string, string> = {};
  let key: string | undefined;
  for (const name of msg.headers?.keys() ?? []) {
    const value = msg.headers?.get(name) ?? '';
    const bag = name === BAG_HEADER && tryOr(() => JSON.parse(value) as Record<string, string>, undefined);
    if (name === KEY_HEADER) key = tryOr(() => decodeURIComponent(value), value);
    else if (!/^nats-/i.test(name)) Object.assign(headers, bag || { [name]: value });
  }
  const { stream, streamSequence: sequence, deliveryCount, consumer } = msg.info;
  const meta = { stream, sequence, subject: msg.subject, consumer };
  return { id: `${stream}:${sequence}`, headers, body: Buffer.from(msg.data), key, deliveryCount, meta };
}

const API_ERROR = /^(JetStreamApi|StreamNotFound|ConsumerNotFound)Error$/;
/** The JetStream API's err_code (10059 stream not found...), where the server answered with one. */
export const apiCode = (error: unknown) =>
  (causeChain(error).find((link) => API_ERROR.test(String(link.name)))?.code as number | undefined) ?? 0;
export const isNotFound = (error: unknown) => [10014, 10059].includes(apiCode(error));
export const isNoResponders = (error: unknown) => causeChain(error).some((link) => link.name === 'NoResponders');

const BY_NAME: Array<[RegExp, ErrorCode]> = [
  [/^(NoResponders|(Closed|Draining)?ConnectionError)$/, 'CONNECTION'],
  [/^(Authorization|UserAuthenticationExpired|PermissionViolation)Error$/, 'PERMISSION_DENIED'],
  [/^Invalid(Argument|Subject|Name)Error$/, 'INVALID_ARGUMENT'],
];
const API_CODES: Array<[ErrorCode, number[]]> = [
  ['NOT_FOUND', [10014, 10059]],
  ['ALREADY_EXISTS', [10013, 10058, 10148]],
  ['CONFLICT', [10065, 10071]],
  ['PAYLOAD_TOO_LARGE', [10054]],
  ['UNSUPPORTED', [10039]],
  ['CONNECTION', [10008]],
  ['RESOURCE_EXHAUSTED', [10023, 10026, 10027, 10028, 10047]],
];
// 409 is also "consumer deleted" (below), else a pull limit reached.
const BY_STATUS: Record<number, ErrorCode> = {
  400: 'INVALID_ARGUMENT',
  408: 'TIMEOUT',
  409: 'RESOURCE_EXHAUSTED',
  503: 'CONNECTION',
};

/** NATS and JetStream errors, through wrappers and causes, to portable codes. */
export function classifyNatsError(error: unknown): ErrorClassification {
  const byLink = ({ name, code, cause }: ErrorLink, message: string): ErrorCode | undefined => {
    // Without a cause, a RequestError is "connection disconnected": a flush or request cut off by a reconnect;
    // with one, the cause says why.
    if ((name === 'RequestError' && !cause) || /heartbeats missed/i.test(message)) return 'CONNECTION';
    if (message.includes('max_payload')) return 'PAYLOAD_TOO_LARGE';
    if (API_ERROR.test(String(name))) return API_CODES.find(([, codes]) => codes.includes(Number(code)))?.[0];
    if (name !== 'JetStreamStatusError') return BY_NAME.find(([pattern]) => pattern.test(String(name)))?.[1];
    return code === 409 && /deleted/i.test(message) ? 'NOT_FOUND' : BY_STATUS[Number(code)];
  };
  const found = classifyThrough(error, byLink);
  // A request cut off for a reason none of the above knows: its connection, as far as the caller can tell.
  const cutOff = !found && causeChain(error).some(({ name }) => name === 'RequestError');
  return found ?? { code: cutOff ? 'CONNECTION' : 'INTERNAL', retryable: cutOff };
}
