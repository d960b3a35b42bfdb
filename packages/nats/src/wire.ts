import type { ErrorClassification, ErrorCode, IncomingRecord, OutgoingRecord } from '@eventport/core';
import { causeChain, EventportError, tryOr } from '@eventport/core';
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

const named = (error: unknown, pattern: RegExp) =>
  causeChain(error).filter((each) => pattern.test((each as Error)?.name));
const codes = (error: unknown, re: RegExp) => named(error, re).map((each) => (each as { code?: number }).code);
/** The JetStream API's err_code (10059 stream not found...), where the server answered with one. */
export const apiCode = (error: unknown) => codes(error, /^(JetStreamApi|StreamNotFound|ConsumerNotFound)Error$/)[0];
export const isNotFound = (error: unknown) => [10014, 10059].includes(apiCode(error) ?? 0);
export const isNoResponders = (error: unknown) => named(error, /^NoResponders$/).length > 0;

const API_CODES: Array<[ErrorCode, boolean, number[]]> = [
  ['NOT_FOUND', false, [10014, 10059]],
  ['ALREADY_EXISTS', false, [10013, 10058, 10148]],
  ['CONFLICT', false, [10065, 10071]],
  ['PAYLOAD_TOO_LARGE', false, [10054]],
  ['UNSUPPORTED', false, [10039]],
  ['CONNECTION', true, [10008]],
  ['RESOURCE_EXHAUSTED', true, [10023, 10026, 10027, 10028, 10047]],
];
const as = (code: ErrorCode, retryable: boolean): ErrorClassification => ({ code, retryable });

/** NATS and JetStream errors, through wrappers and causes, to portable codes. */
export function classifyNatsError(error: unknown): ErrorClassification {
  const chain = causeChain(error);
  const ours = chain.find((each): each is EventportError => each instanceof EventportError);
  if (ours) return as(ours.code, ours.retryable);
  const has = (pattern: RegExp) => named(error, pattern).length > 0;
  const status = codes(error, /^JetStreamStatusError$/);
  const text = chain.map((each) => (each instanceof Error ? each.message.toLowerCase() : '')).join(' | ');
  if (has(/^TimeoutError$/) || status.includes(408)) return as('TIMEOUT', true);
  // A RequestError of its own is "connection disconnected": a flush or request cut off by a reconnect.
  const lost = status.includes(503) || text.includes('heartbeats missed');
  if (lost || has(/^(NoResponders|(Closed|Draining)?ConnectionError|RequestError)$/)) return as('CONNECTION', true);
  if (has(/^(Authorization|UserAuthenticationExpired|PermissionViolation)Error$/))
    return as('PERMISSION_DENIED', false);
  const api = API_CODES.find(([, , known]) => known.includes(apiCode(error) ?? 0));
  if (api) return as(api[0], api[1]);
  if (status.includes(409)) return /deleted/.test(text) ? as('NOT_FOUND', false) : as('RESOURCE_EXHAUSTED', true);
  if (text.includes('max_payload')) return as('PAYLOAD_TOO_LARGE', false);
  if (has(/^Invalid(Argument|Subject|Name)Error$/) || status.includes(400)) return as('INVALID_ARGUMENT', false);
  return as('INTERNAL', false);
}
