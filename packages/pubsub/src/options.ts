import { createHash } from 'node:crypto';
import { EventportError, loadBackendConfig, parseOptions } from '@eventport/core';
import { z } from 'zod';

/** Pub/Sub's own limit on a message (data plus attributes); the body must leave room for the headers. */
const PUBSUB_MAX_MESSAGE_BYTES = 10 * 1000 * 1000;
/** Room kept for attributes (eventport's reserved headers plus the caller's) under the 10 MB message limit. */
const ATTRIBUTE_ALLOWANCE_BYTES = 256 * 1024;
export const PUBSUB_MAX_BODY_BYTES = PUBSUB_MAX_MESSAGE_BYTES - ATTRIBUTE_ALLOWANCE_BYTES;

export interface PubSubDeadLetterOptions {
  /** Deliveries before Pub/Sub moves a message to the dead-letter topic (Pub/Sub allows 5 to 100). */
  maxDeliveryAttempts: number;
  /** Dead-letter topic for a source topic. Default `<topic>.dlq`, the name @eventport/dlq uses. */
  topic?: (topic: string) => string;
}

export interface PubSubRetryPolicy {
  /** Delay before redelivering a nacked message, first attempt (Pub/Sub allows 0 to 600 s). */
  minimumBackoffMs: number;
  /** Upper bound of the exponential redelivery delay (0 to 600 s). */
  maximumBackoffMs: number;
}

export interface PubSubBatchingOptions {
  /** Messages per publish request. Client default 100. */
  maxMessages?: number;
  /** How long the client waits to fill a publish batch. Client default 10 ms. */
  maxMilliseconds?: number;
  /** Bytes per publish request. Client default 1 MiB. */
  maxBytes?: number;
}

export interface PubSubOptions {
  /** GCP project id (env GCP_PROJECT_ID). */
  projectId: string;
  /** Service-account key file (env GCP_CREDENTIALS_PATH); default: Application Default Credentials. */
  keyFilename?: string;
  /** host:port of the Pub/Sub emulator (env PUBSUB_EMULATOR_HOST); no credentials are used then. */
  emulatorHost?: string;
  /**
   * Subscription used for a consumer group. Default `<topic>.<group>` (names longer than Pub/Sub's 255
   * characters are shortened with a hash suffix). Return an existing subscription's name to consume from it.
   */
  subscriptionName?: (topic: string, group: string) => string;
  /**
   * Ack deadline of subscriptions the adapter creates, and the longest lease the client asks for at a
   * time: a crashed consumer's messages come back after at most this long. Default 10 s (10 to 600).
   */
  ackDeadlineSeconds?: number;
  /** Longest a running handler keeps its message leased before Pub/Sub may redeliver it. Default 60 minutes. */
  maxLeaseMinutes?: number;
  /** Enable message ordering on subscriptions the adapter creates (Pub/Sub cannot change it later). Default true. */
  messageOrdering?: boolean;
  /** Native dead-letter policy on subscriptions the adapter creates; `attempt` is then Pub/Sub's delivery count. */
  deadLetter?: PubSubDeadLetterOptions;
  /** Native redelivery backoff on subscriptions the adapter creates; replaces eventport's nack delays. */
  retryPolicy?: PubSubRetryPolicy;
  /** Create a topic the first time it is published or subscribed to. Default true. */
  autoCreateTopics?: boolean;
  /** Publish batching (publishBatch hands every message to the client, which batches them). */
  batching?: PubSubBatchingOptions;
  /** How long acks and nacks wait to be batched into one request. Default 10 ms. */
  ackBatchMilliseconds?: number;
  /** Streaming-pull connections per subscriber. Default 1. */
  streams?: number;
  /** Timeout of admin calls and of the connect check. Default 30 s. */
  requestTimeoutMs?: number;
}

export type ResolvedPubSubOptions = Required<
  Omit<PubSubOptions, 'keyFilename' | 'emulatorHost' | 'deadLetter' | 'retryPolicy' | 'batching'>
> &
  Pick<PubSubOptions, 'keyFilename' | 'emulatorHost' | 'retryPolicy' | 'batching'> & {
    deadLetter?: Required<PubSubDeadLetterOptions>;
  };

/** Pub/Sub resource ids (topics, subscriptions): https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names */
const RESOURCE_ID = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

export function isResourceId(name: string): boolean {
  return RESOURCE_ID.test(name) && !name.toLowerCase().startsWith('goog');
}

export function assertResourceId(kind: 'topic' | 'subscription', name: string): void {
  if (!isResourceId(name)) {
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

const defaultDeadLetterTopic = (topic: string) => `${topic}.dlq`;

const integer = (min: number, max: number) => z.number().int().min(min).max(max);
const isFunction = (value: unknown) => typeof value === 'function';

/** Everything but projectId, keyFilename and emulatorHost, which loadBackendConfig resolves (GCP_* env vars) and checks. */
const PubSubOptionsSchema = z.object({
  // The defaults are functions themselves, so each is returned by a factory (zod calls a function default).
  subscriptionName: z
    .custom<(topic: string, group: string) => string>(isFunction, 'must be a function')
    .default(() => defaultSubscriptionName),
  ackDeadlineSeconds: integer(10, 600).default(10),
  maxLeaseMinutes: integer(1, 24 * 60).default(60),
  messageOrdering: z.boolean().default(true),
  deadLetter: z
    .object({
      maxDeliveryAttempts: integer(5, 100),
      topic: z
        .custom<(topic: string) => string>(isFunction, 'must be a function')
        .default(() => defaultDeadLetterTopic),
    })
    .optional(),
  retryPolicy: z
    .object({ minimumBackoffMs: integer(0, 600_000), maximumBackoffMs: integer(0, 600_000) })
    .refine((policy) => policy.minimumBackoffMs <= policy.maximumBackoffMs, {
      path: ['minimumBackoffMs'],
      message: 'must not exceed retryPolicy.maximumBackoffMs',
    })
    .optional(),
  autoCreateTopics: z.boolean().default(true),
  batching: z
    .object({
      maxMessages: integer(1, 1000).optional(),
      maxMilliseconds: integer(0, 60_000).optional(),
      maxBytes: integer(1, PUBSUB_MAX_MESSAGE_BYTES).optional(),
    })
    .optional(),
  ackBatchMilliseconds: integer(1, 1000).default(10),
  streams: integer(1, 32).default(1),
  requestTimeoutMs: integer(100, 600_000).default(30_000),
});

/** Applies defaults and validates every option before a connection is opened. */
export function resolvePubSubOptions(options: PubSubOptions): ResolvedPubSubOptions {
  // All the options, not { projectId: options.projectId, ... }: a field given as undefined would make an
  // error from its env var name the option instead.
  const { projectId, keyFilename, emulatorHost } = loadBackendConfig('pubsub', { ...options });
  return { projectId, keyFilename, emulatorHost, ...parseOptions(PubSubOptionsSchema, options, 'pubsub') };
}
