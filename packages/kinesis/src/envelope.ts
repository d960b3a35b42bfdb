import { type Headers, RESERVED_HEADERS } from '@eventport/core';

/**
 * Kinesis records carry only bytes and a partition key, so eventport wraps each message in a
 * versioned JSON envelope (documented in the README so other producers and consumers can speak it):
 *
 *   {"v":1,"id":"<ce-id>","k":"<key>","h":{...other headers},"b":"<base64 body>"}
 *
 * `k` is absent for keyless messages (their partition key is the id, which spreads them over shards).
 */
export const ENVELOPE_VERSION = 1;

interface EnvelopeV1 {
  v: 1;
  id?: string;
  k?: string;
  h: Headers;
  b: string;
}

export interface DecodedRecord {
  key?: string;
  headers: Headers;
  body: Buffer;
}

export function encodeEnvelope(key: string | undefined, headers: Headers, body: Buffer): Buffer {
  const { [RESERVED_HEADERS.id]: id, ...rest } = headers;
  const envelope: EnvelopeV1 = { v: ENVELOPE_VERSION, h: rest, b: body.toString('base64') };
  if (id !== undefined) envelope.id = id;
  if (key !== undefined) envelope.k = key;
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}

/**
 * Unwraps an eventport envelope. A record that is not one (written by another producer) is handed
 * over as it is: its bytes as the body, its partition key as the key, no headers.
 */
export function decodeEnvelope(data: Uint8Array, partitionKey: string | undefined): DecodedRecord {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const envelope = parseEnvelope(bytes);
  if (!envelope) return { key: partitionKey, headers: {}, body: bytes };
  const headers: Headers = { ...envelope.h };
  if (envelope.id !== undefined) headers[RESERVED_HEADERS.id] = envelope.id;
  const decoded: DecodedRecord = { headers, body: Buffer.from(envelope.b, 'base64') };
  if (envelope.k !== undefined) decoded.key = envelope.k;
  return decoded;
}

function parseEnvelope(bytes: Buffer): EnvelopeV1 | undefined {
  // Cheap prefix test first: most foreign payloads are not JSON objects starting with "v".
  if (bytes.length < 2 || bytes[0] !== 0x7b) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const candidate = parsed as Partial<EnvelopeV1>;
  if (candidate.v !== ENVELOPE_VERSION || typeof candidate.b !== 'string') return undefined;
  if (typeof candidate.h !== 'object' || candidate.h === null) return undefined;
  if (!Object.values(candidate.h).every((value) => typeof value === 'string')) return undefined;
  if (candidate.id !== undefined && typeof candidate.id !== 'string') return undefined;
  if (candidate.k !== undefined && typeof candidate.k !== 'string') return undefined;
  return candidate as EnvelopeV1;
}
