import { EventportError, type IncomingRecord, type OutgoingRecord } from '@eventport/core';

export interface RawEntry {
  id: string;
  fields: Map<string, Buffer>;
}

/** XADD arguments after the id: headers as JSON, the body as raw bytes, the key when there is one. */
export function entryFields({ headers, body, key }: OutgoingRecord): Array<string | Buffer> {
  return ['headers', JSON.stringify(headers), 'body', body, ...(key === undefined ? [] : ['key', key])];
}

/** An entry written by another tool (`XADD s * field value ...`, no body field) arrives as a JSON object of its fields. */
export function toRecord({ id, fields }: RawEntry, deliveryCount: number, stream: string): IncomingRecord {
  const record: IncomingRecord = {
    id,
    headers: {},
    body: fields.get('body') as Buffer,
    deliveryCount,
    meta: { id, stream },
  };
  if (record.body === undefined) {
    record.headers = { 'content-type': 'application/json' };
    record.body = Buffer.from(JSON.stringify(Object.fromEntries([...fields].map(([k, v]) => [k, v.toString()]))));
    return record;
  }
  try {
    const headers: unknown = JSON.parse(fields.get('headers')?.toString() ?? '{}');
    if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
      record.headers = Object.fromEntries(Object.entries(headers).filter(([, value]) => typeof value === 'string'));
    }
  } catch {
    // Unreadable headers must not make the entry undeliverable: the body still goes to the codec.
  }
  const key = fields.get('key');
  if (key !== undefined) record.key = key.toString();
  return record;
}

const isText = (value: unknown): value is string | Buffer => typeof value === 'string' || Buffer.isBuffer(value);

/** A reply of an unexpected shape fails the call loudly: a consumer that silently reads nothing is worse. */
export function check(ok: boolean, command: string): asserts ok {
  if (!ok) throw new EventportError('INTERNAL', `unexpected ${command} reply shape (is ioredis ^5.4 or ^6 installed?)`);
}

/**
 * XREADGROUP's entries, whatever shape ioredis gives the reply: null (nothing within BLOCK), nested
 * `[[stream, entries]]` (ioredis 5 / RESP2), the RESP3 map flattened to `[stream, entries]` (ioredis
 * 6 `callBuffer`), or `{ stream: entries }` (ioredis 6 with replyMapping "resp3").
 */
export function parseReadReply(reply: unknown): RawEntry[] {
  if (reply === null) return [];
  let pairs: unknown[] = [];
  if (Array.isArray(reply) && isText(reply[0])) {
    for (let at = 0; at < reply.length; at += 2) pairs.push([reply[at], reply[at + 1]]);
  } else if (Array.isArray(reply)) pairs = reply;
  else {
    check(typeof reply === 'object', 'XREADGROUP');
    pairs = Object.entries(reply as object);
  }
  return pairs.flatMap((pair) => {
    check(Array.isArray(pair) && pair.length === 2 && isText(pair[0]), 'XREADGROUP');
    return parseEntries(pair[1], 'XREADGROUP');
  });
}

/** `[[id, [field, value, ...]], ...]` of XREADGROUP / XCLAIM; an entry trimmed away (null fields, Redis 6.2) is skipped. */
export function parseEntries(raw: unknown, command: string): RawEntry[] {
  check(Array.isArray(raw), command);
  return (raw as unknown[]).flatMap((item) => {
    check(Array.isArray(item) && isText(item[0]) && (item[1] === null || Array.isArray(item[1])), command);
    const [id, values] = item as [Buffer, unknown[] | null];
    if (!values) return [];
    check(values.length % 2 === 0 && values.every(isText), command);
    const fields = new Map<string, Buffer>();
    for (let at = 0; at < values.length; at += 2) fields.set(String(values[at]), Buffer.from(values[at + 1] as Buffer));
    return [{ id: String(id), fields }];
  });
}

/** `[cursor, [item, ...], ...]` of XAUTOCLAIM JUSTID and SCAN. */
export function parseCursorReply(reply: unknown, command: string): { cursor: string; items: string[] } {
  check(Array.isArray(reply) && isText(reply[0]) && Array.isArray(reply[1]) && reply[1].every(isText), command);
  return { cursor: String(reply[0]), items: (reply[1] as unknown[]).map(String) };
}

/** Extended XPENDING: `[[id, consumer, idle, deliveryCount], ...]`. */
export function parsePending(reply: unknown): Array<[id: string, count: number]> {
  check(Array.isArray(reply), 'XPENDING');
  return (reply as unknown[]).map((item) => {
    check(Array.isArray(item) && isText(item[0]) && Number.isInteger(Number(item[3])), 'XPENDING');
    return [String(item[0]), Number(item[3])];
  });
}

/**
 * XINFO GROUPS: each group as `[field, value, ...]` (RESP2, or RESP3 flattened) or as an object
 * (replyMapping "resp3"). `lag` is absent before Redis 7 and null where Redis cannot count it (entries
 * deleted past the group's position, a group created at an arbitrary id): both are left undefined.
 */
export function parseGroups(reply: unknown): Array<{ name: string; lag?: number }> {
  check(Array.isArray(reply), 'XINFO GROUPS');
  return (reply as unknown[]).map((item) => {
    let fields: Map<string, unknown>;
    if (Array.isArray(item)) {
      check(item.length % 2 === 0, 'XINFO GROUPS');
      fields = new Map();
      for (let at = 0; at < item.length; at += 2) fields.set(String(item[at]), item[at + 1]);
    } else {
      check(typeof item === 'object' && item !== null, 'XINFO GROUPS');
      fields = item instanceof Map ? item : new Map(Object.entries(item as object));
    }
    const name = fields.get('name');
    check(isText(name), 'XINFO GROUPS');
    const lag = fields.get('lag');
    return typeof lag === 'number' ? { name: String(name), lag } : { name: String(name) };
  });
}
