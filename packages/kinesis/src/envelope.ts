import { type Headers, RESERVED_HEADERS } from '@eventport/core';

/**
 * Kinesis records carry only bytes and a partition key, so eventport wraps each message in a
 * versioned JSON envelope (documented in the README so other producers and consumers can speak it):
 * {"v":1,"id":"<ce-id>","k":"<key>","h":{...other headers},"b":"<base64 body>"}; `k` is absent for
 * keyless messages (their partition key is the id, which spreads them over shards).
 */
export const ENVELOPE_VERSION = 1;

export interface DecodedRecord {
  key?: string;
  headers: Headers;
  body: Buffer;
}

export function encodeEnvelope(key: string | undefined, headers: Headers, body: Buffer): Buffer {
  const { [RESERVED_HEADERS.id]: id, ...h } = headers;
  return Buffer.from(JSON.stringify({ v: ENVELOPE_VERSION, id, k: key, h, b: body.toString('base64') }), 'utf8');
}

/**
 * Unwraps an eventport envelope. A record that is not one (written by another producer) is handed
 * over as it is: its bytes as the body, its partition key as the key, no headers.
 */
export function decodeEnvelope(data: Uint8Array, partitionKey: string | undefined): DecodedRecord {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let envelope: { v?: unknown; id?: unknown; k?: unknown; h?: Record<string, unknown>; b?: unknown } | undefined;
  try {
    // Cheap prefix test first: most foreign payloads are not JSON objects.
    if (bytes[0] === 0x7b) envelope = JSON.parse(bytes.toString('utf8'));
  } catch {}
  const { v, id, k, h, b } = envelope ?? {};
  const valid =
    v === ENVELOPE_VERSION &&
    typeof b === 'string' &&
    typeof h === 'object' &&
    h !== null &&
    Object.values(h).every((value) => typeof value === 'string') &&
    ['string', 'undefined'].includes(typeof id) &&
    ['string', 'undefined'].includes(typeof k);
  if (!valid) return { key: partitionKey, headers: {}, body: bytes };
  const headers = { ...(h as Headers), ...(id === undefined ? {} : { [RESERVED_HEADERS.id]: id as string }) };
  return { headers, body: Buffer.from(b, 'base64'), ...(k === undefined ? {} : { key: k as string }) };
}
