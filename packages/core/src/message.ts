import { z } from 'zod';

/** Topic names portable across every backend (Pub/Sub and Kinesis are the strictest). */
export const TopicSchema = z
  .string()
  .min(1, 'topic must not be empty')
  .max(200, 'topic must be at most 200 characters')
  .regex(/^[A-Za-z0-9._-]+$/, 'topic may contain only letters, digits, ".", "_" and "-"');

/** Header names written by eventport itself; callers set them through message fields instead. */
export const RESERVED_HEADERS = {
  id: 'ce-id',
  time: 'ce-time',
  contentType: 'content-type',
} as const;
const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.values(RESERVED_HEADERS));

export const HeadersSchema = z.record(
  z
    .string()
    .min(1, 'header names must not be empty')
    .max(256)
    .regex(/^[^\s\0]+$/, 'header names must not contain whitespace or NUL')
    .refine((name) => !RESERVED_NAMES.has(name.toLowerCase()), {
      message: `header names ${[...RESERVED_NAMES].join(', ')} are reserved; use the message's id and timestamp fields`,
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
  headers: Headers;
  /** Milliseconds since the epoch, set by the publisher. */
  timestamp: number;
}

export interface PublishInput<T = unknown> {
  topic: string;
  data: T;
  id?: string;
  key?: string;
  headers?: Headers;
  timestamp?: number;
}

/** Broker coordinates of a received message (partition/offset, shard/sequence, stream id, delivery tag...). */
export type BackendMeta = Readonly<Record<string, string | number | boolean | undefined>>;

export interface ReceivedMessage<T = unknown> extends EventMessage<T> {
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
