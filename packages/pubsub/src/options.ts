import { createHash } from 'node:crypto';
import { configFields, EventportError } from '@eventport/core';
import type { ClientConfig } from '@google-cloud/pubsub';
import { z } from 'zod';

/** Pub/Sub's own limit on a message (data plus attributes); the body must leave room for the headers. */
const PUBSUB_MAX_MESSAGE_BYTES = 10 * 1000 * 1000;
/** Room kept for attributes (eventport's reserved headers plus the caller's) under the 10 MB message limit. */
export const PUBSUB_MAX_BODY_BYTES = PUBSUB_MAX_MESSAGE_BYTES - 256 * 1024;

/** Pub/Sub resource ids (topics, subscriptions): https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names */
const RESOURCE_ID = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

export function assertResourceId(kind: 'topic' | 'subscription', name: string): void {
  if (!RESOURCE_ID.test(name) || name.toLowerCase().startsWith('goog')) {
    throw new EventportError(
      'INVALID_ARGUMENT',
      `"${name}" is not a valid Pub/Sub ${kind} name: 3 to 255 characters, starting with a letter, of letters, digits and - _ . ~ + %, not starting with "goog"`,
    );
  }
}

/** `<topic>.<group>`, shortened with a stable hash when it would exceed Pub/Sub's 255 characters. */
export function defaultSubscriptionName(topic: string, group: string): string {
  const name = `${topic}.${group}`;
  if (name.length <= 255) return name;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return `${name.slice(0, 255 - digest.length - 1)}-${digest}`;
}

const integer = (min: number, max: number) => z.number().int().min(min).max(max);

/** Every setting of the backend, env-backed ones included: unknown keys fail, naming the closest valid one. */
export const pubsubSchema = z.strictObject({
  /** GCP project id (env GCP_PROJECT_ID). */
  projectId: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a GCP project id such as my-project-123'),
  /** Service-account key file (env GCP_CREDENTIALS_PATH); default: Application Default Credentials. */
  keyFilename: z.string().min(1).optional(),
  /**
   * An auth client you built (google-auth-library's `JWT`, `GoogleAuth`...), used instead of
   * keyFilename, which google-auth-library 11 reports as deprecated on every client it creates.
   */
  authClient: configFields.object<ClientConfig['authClient']>().optional(),
  /** Given to `new PubSub()` last: `apiEndpoint` of a regional or private endpoint, `sslCreds`, gRPC options. */
  clientConfig: configFields.object<ClientConfig>().optional(),
  /** host:port of the Pub/Sub emulator (env PUBSUB_EMULATOR_HOST); no credentials are used then. */
  emulatorHost: z
    .string()
    .regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port')
    .optional(),
  /** Subscription of a consumer group. Default `<topic>.<group>`; return an existing subscription's name to use it. */
  // Function defaults come from a factory: zod calls a function given as a default.
  subscriptionName: configFields
    .callback<(topic: string, group: string) => string>()
    .default(() => defaultSubscriptionName),
  /** Ack deadline of created subscriptions and the longest lease asked for at a time (10-600 s). */
  ackDeadlineSeconds: integer(10, 600).default(10),
  /** Longest a record stays leased (the client extends it) before Pub/Sub may redeliver it. */
  maxLeaseMinutes: integer(1, 24 * 60).default(60),
  /** `enableMessageOrdering` on created subscriptions (Pub/Sub cannot change it later). */
  messageOrdering: z.boolean().default(true),
  /** Native dead-letter policy on created subscriptions; `attempt` is then Pub/Sub's delivery count. */
  deadLetter: z
    .strictObject({
      maxDeliveryAttempts: integer(5, 100),
      topic: configFields.callback<(topic: string) => string>().default(() => (topic: string) => `${topic}.dlq`),
    })
    .optional(),
  /** Native redelivery backoff on created subscriptions (0-600 s). */
  retryPolicy: z
    .strictObject({ minimumBackoffMs: integer(0, 600_000), maximumBackoffMs: integer(0, 600_000) })
    .refine((policy) => policy.minimumBackoffMs <= policy.maximumBackoffMs, {
      path: ['minimumBackoffMs'],
      message: 'must not exceed retryPolicy.maximumBackoffMs',
    })
    .optional(),
  /** Create a topic the first time it is published or subscribed to. */
  autoCreateTopics: z.boolean().default(true),
  /** Publish batching of the client (its defaults: 100 messages, 10 ms, 1 MiB). */
  batching: z
    .strictObject({
      maxMessages: integer(1, 1000).optional(),
      maxMilliseconds: integer(0, 60_000).optional(),
      maxBytes: integer(1, PUBSUB_MAX_MESSAGE_BYTES).optional(),
    })
    .optional(),
  /** How long acks and nacks wait to be batched into one request. */
  ackBatchMilliseconds: integer(1, 1000).default(10),
  /** Streaming-pull connections per receiver. */
  streams: integer(1, 32).default(1),
  /** gRPC deadline of every unary call (admin, publish, ack): nothing waits longer on a silent server. */
  requestTimeoutMs: integer(100, 600_000).default(30_000),
});

export type PubSubOptions = z.input<typeof pubsubSchema>;
export type PubSubConfig = z.output<typeof pubsubSchema>;
export type PubSubDeadLetterOptions = NonNullable<PubSubOptions['deadLetter']>;
export type PubSubRetryPolicy = NonNullable<PubSubOptions['retryPolicy']>;
export type PubSubBatchingOptions = NonNullable<PubSubOptions['batching']>;
