import type { Headers, OutgoingRecord } from '@eventport/core';

/** Field names of an eventport stream entry. */
const FIELD = { headers: 'headers', body: 'body', key: 'key' } as const;

/** A stream entry this consumer now owns in the group's pending list. */
export interface OwnedEntry {
  id: string;
  key?: string;
  headers: Headers;
  body: Buffer;
  /** The group's delivery count for this entry. */
  attempt: number;
}

export type RawEntry = { id: string; fields: Map<string, Buffer> };

/** XADD arguments after the id: headers as JSON, the body as raw bytes, the key when there is one. */
export function entryFields(record: OutgoingRecord): Array<string | Buffer> {
  const fields: Array<string | Buffer> = [FIELD.headers, JSON.stringify(record.headers), FIELD.body, record.body];
  if (record.key !== undefined) fields.push(FIELD.key, record.key);
  return fields;
}

/**
 * Reads an entry back. An entry written by another tool (plain `XADD s * field value ...`) has no
 * body field: it arrives as a JSON object of its fields, so it can still be consumed and inspected.
 */
export function decodeEntry(entry: RawEntry, attempt: number): OwnedEntry {
  const { fields } = entry;
  const body = fields.get(FIELD.body);
  if (body === undefined) {
    const object = Object.fromEntries([...fields].map(([name, value]) => [name, value.toString('utf8')]));
    return {
      id: entry.id,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(object)),
      attempt,
    };
  }
  const owned: OwnedEntry = { id: entry.id, headers: parseHeaders(fields.get(FIELD.headers)), body, attempt };
  const key = fields.get(FIELD.key);
  if (key !== undefined) owned.key = key.toString('utf8');
  return owned;
}

function parseHeaders(raw: Buffer | undefined): Headers {
  if (raw === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter(([, value]) => typeof value === 'string'));
  } catch {
    // Unreadable headers must not make the entry undeliverable: the body still goes to the codec.
    return {};
  }
}

/**
 * Entries of an XREADGROUP / XCLAIM / XAUTOCLAIM reply read with callBuffer. Entries deleted from the
 * stream (trimmed) come back with no fields; they are returned separately so the caller can ack them.
 */
export function parseEntries(raw: unknown): { entries: RawEntry[]; deleted: string[] } {
  const entries: RawEntry[] = [];
  const deleted: string[] = [];
  for (const item of (raw as Array<[Buffer, Buffer[] | null]> | null) ?? []) {
    const [id, values] = item;
    if (!values) {
      deleted.push(id.toString());
      continue;
    }
    const fields = new Map<string, Buffer>();
    for (let index = 0; index + 1 < values.length; index += 2) {
      fields.set((values[index] as Buffer).toString('utf8'), values[index + 1] as Buffer);
    }
    entries.push({ id: id.toString(), fields });
  }
  return { entries, deleted };
}

/** Orders stream ids ("<ms>-<seq>") numerically. */
export function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(Number) as [number, number];
  const [bMs, bSeq] = b.split('-').map(Number) as [number, number];
  return aMs - bMs || aSeq - bSeq;
}
