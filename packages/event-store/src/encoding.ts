import { randomUUID } from 'node:crypto';
import {
  CORRELATION_HEADER,
  correlationHeaders,
  describeError,
  EVENT_VERSION_HEADER,
  EventportError,
  formatZodError,
  type Headers,
  HeadersSchema,
  type VersionedEvent,
} from '@eventport/core';
import { z } from 'zod';
import type { NewEvent, StoredEvent } from './types.js';

/** An event validated and serialised, ready for a backend to write. */
export interface EncodedEvent {
  id: string;
  type: string;
  /** `data` as JSON text. */
  json: string;
  metadata: Headers;
  correlationId: string;
  occurredAt: Date;
}

/** A stored event as a backend reads it back, before upcasting. */
export interface RawEvent {
  id: string;
  streamId: string;
  version: number;
  position: number;
  type: string;
  data: unknown;
  metadata: Headers;
  occurredAt: Date;
}

export const StreamIdSchema = z.string().min(1, 'stream id must not be empty').max(1_000);

const NewEventSchema = z.object({
  type: z.string().min(1, 'type must not be empty').max(200),
  data: z.unknown().refine((data) => data !== undefined, 'data must not be undefined (use null for "no data")'),
  id: z.string().min(1).max(256).optional(),
  metadata: HeadersSchema.optional(),
  occurredAt: z.date().optional(),
});

/**
 * Turns new events into what is stored, and stored rows into what readers get, through the same
 * defineEvent(...).version().upcast() registry channels use: a registered type is validated and
 * written as its latest version, and older stored versions are upcast on every read.
 */
export class EventCodec {
  private readonly registry = new Map<string, VersionedEvent>();

  constructor(events: readonly VersionedEvent[] = []) {
    for (const event of events) {
      if (this.registry.has(event.type)) {
        throw new EventportError('INVALID_ARGUMENT', `event type "${event.type}" is registered twice`);
      }
      this.registry.set(event.type, event);
    }
  }

  encode(event: NewEvent, index: number): EncodedEvent {
    const parsed = NewEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new EventportError('INVALID_ARGUMENT', `event ${index} is invalid: ${formatZodError(parsed.error)}`);
    }
    const id = event.id ?? randomUUID();
    let data = event.data;
    let versionHeaders: Headers = {};
    const versioned = this.registry.get(event.type);
    if (versioned) ({ data, headers: versionHeaders } = versioned.encode(data));
    const json = toJson(data, index);
    // Taken now, while the message that caused these events is still being handled.
    const metadata = correlationHeaders(id, { ...event.metadata, ...versionHeaders });
    return {
      id,
      type: event.type,
      json,
      metadata,
      correlationId: metadata[CORRELATION_HEADER] as string,
      occurredAt: event.occurredAt ?? new Date(),
    };
  }

  /** The append result: already the latest version, so no upcasting. */
  stored(event: EncodedEvent, streamId: string, version: number, position: number): StoredEvent {
    return {
      id: event.id,
      streamId,
      version,
      position,
      type: event.type,
      data: JSON.parse(event.json),
      metadata: { ...event.metadata },
      occurredAt: new Date(event.occurredAt),
    };
  }

  decode(raw: RawEvent): StoredEvent {
    const versioned = this.registry.get(raw.type);
    if (!versioned) return { ...raw };
    return {
      ...raw,
      data: versioned.decode(raw.data, raw.metadata),
      metadata: { ...raw.metadata, [EVENT_VERSION_HEADER]: String(versioned.latest) },
    };
  }
}

function toJson(data: unknown, index: number): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new EventportError('INVALID_ARGUMENT', `event ${index} data is not JSON: ${describeError(error)}`, {
      cause: error,
    });
  }
  if (json === undefined) throw new EventportError('INVALID_ARGUMENT', `event ${index} data is not JSON`);
  return json;
}
