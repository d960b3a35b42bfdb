import { z } from 'zod';

/** Topic names portable across every backend (Pub/Sub and Kinesis are the strictest). */
export const TopicSchema = z
  .string()
  .min(1, 'topic must not be empty')
  .max(200, 'topic must be at most 200 characters')
  .regex(/^[A-Za-z0-9._-]+$/, 'topic may contain only letters, digits, ".", "_" and "-"');

/**
 * Header names written by eventport itself: the CloudEvents 1.0 attributes in binary content mode
 * (`ce-` names as in the HTTP, MQTT and NATS bindings; drivers whose binding names them otherwise,
 * Kafka `ce_id` or AMQP `cloudEvents:id`, translate with `cloudEventsHeaders`). Callers set them
 * through message fields instead.
 */
export const RESERVED_HEADERS = {
  id: 'ce-id',
  time: 'ce-time',
  specversion: 'ce-specversion',
  type: 'ce-type',
  source: 'ce-source',
  contentType: 'content-type',
} as const;
export const CLOUDEVENTS_SPEC_VERSION = '1.0';
const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.values(RESERVED_HEADERS));

/** Whether `name` is one eventport writes itself (case-insensitive). */
export function isReservedHeader(name: string): boolean {
  return RESERVED_NAMES.has(name.toLowerCase());
}

export const HeadersSchema = z.record(
  z
    .string()
    .min(1, 'header names must not be empty')
    .max(256)
    .regex(/^[^\s\0]+$/, 'header names must not contain whitespace or NUL')
    .refine((name) => !isReservedHeader(name), {
      message: `header names ${[...RESERVED_NAMES].join(', ')} are reserved; use the message's id, type and timestamp fields`,
    }),
  z.string({ error: 'header values must be strings' }).refine((value) => !value.includes('\0'), {
    message: 'header values must not contain NUL',
  }),
);

export const EventMessageSchema = z.object({
  id: z.string().min(1),
  topic: TopicSchema,
  data: z.unknown(),
  key: z.string().min(1).max(256).optional(),
  type: z.string().min(1).max(256).optional(),
  headers: HeadersSchema,
  timestamp: z.number().int().nonnegative(),
});

/** What a caller hands to publish: id, headers and timestamp are filled in when absent. */
export const PublishInputSchema = EventMessageSchema.extend({
  id: z.string().min(1).max(256).optional(),
  headers: HeadersSchema.optional(),
  timestamp: z.number().int().nonnegative().optional(),
});

export type Headers = Record<string, string>;

export interface EventMessage<T = unknown> {
  id: string;
  topic: string;
  data: T;
  key?: string;
  /** CloudEvents `type`; defaults to the topic (or the adapter's `cloudEvents.type`). */
  type?: string;
  headers: Headers;
  /** Milliseconds since the epoch, set by the publisher. */
  timestamp: number;
}

export interface PublishInput<T = unknown> {
  topic: string;
  data: T;
  id?: string;
  key?: string;
  /** CloudEvents `type`; defaults to the topic (or the adapter's `cloudEvents.type`). */
  type?: string;
  headers?: Headers;
  timestamp?: number;
}

/** Broker coordinates of a received message (partition/offset, shard/sequence, stream id, delivery tag...). */
export type BackendMeta = Readonly<Record<string, string | number | boolean | undefined>>;

export interface ReceivedMessage<T = unknown> extends EventMessage<T> {
  /** CloudEvents `source` of the producer, when it set one. */
  source?: string;
  /** 1 on first delivery; the broker's delivery count where it keeps one (see capabilities.deliveryCount). */
  attempt: number;
  /** The consumer group the message was delivered to. */
  group: string;
  meta: BackendMeta;
  /** Settle early. Settling twice is a no-op; a handler that resolves acks automatically. */
  ack(): Promise<void>;
  /** Ask for redelivery. A handler that throws nacks automatically. */
  nack(options?: { delayMs?: number }): Promise<void>;
}

const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;
const HEADER_NAME_PATTERN = /^[^\s\0]{1,256}$/;

/**
 * The same rules as PublishInputSchema, checked without building zod's result objects: publishing is
 * the hot path. When this says no, the schema runs to say exactly why.
 */
export function isValidPublishInput(input: PublishInput<unknown>): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const { topic, id, key, type, headers, timestamp } = input;
  if (typeof topic !== 'string' || !TOPIC_PATTERN.test(topic)) return false;
  if (id !== undefined && (typeof id !== 'string' || id.length < 1 || id.length > 256)) return false;
  if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > 256)) return false;
  if (type !== undefined && (typeof type !== 'string' || type.length < 1 || type.length > 256)) return false;
  if (timestamp !== undefined && !(Number.isInteger(timestamp) && timestamp >= 0)) return false;
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return false;
    for (const name in headers) {
      if (!Object.hasOwn(headers, name)) continue;
      const value = headers[name];
      if (!HEADER_NAME_PATTERN.test(name) || isReservedHeader(name)) return false;
      if (typeof value !== 'string' || value.includes('\0')) return false;
    }
  }
  return true;
}

/**
 * Header-name translation for drivers whose CloudEvents protocol binding spells attributes otherwise
 * than `ce-` (Kafka: `ce_`, AMQP: `cloudEvents:`). On the way in, `ce-` names written by older
 * eventport versions are still understood.
 */
export function cloudEventsHeaders(prefix: string) {
  return {
    toWire(headers: Headers): Headers {
      const wire: Headers = {};
      for (const [name, value] of Object.entries(headers))
        wire[name.startsWith('ce-') ? prefix + name.slice(3) : name] = value;
      return wire;
    },
    fromWire(headers: Headers): Headers {
      const canonical: Headers = {};
      for (const [name, value] of Object.entries(headers)) {
        canonical[name.startsWith(prefix) ? `ce-${name.slice(prefix.length)}` : name] = value;
      }
      return canonical;
    },
  };
}
