import { loadBackendConfig, parseOptions } from '@eventport/core';
import { z } from 'zod';

export type QueueType = 'quorum' | 'classic';

export interface RabbitMqOptions {
  /** amqp:// or amqps:// URL, vhost in the path (`/` is `%2F`). Default: RABBITMQ_URL, else amqp://guest:guest@localhost:5672. */
  url?: string;
  /**
   * Type of the per-group queues this adapter declares. `quorum` (default) is replicated and keeps
   * a real delivery count; `classic` only tells first delivery from redelivery. A queue that already
   * exists with another type makes subscribe fail with INVALID_ARGUMENT (PRECONDITION_FAILED).
   */
  queueType?: QueueType;
  /** Quorum queues only: `x-delivery-limit`, after which the broker drops (or dead-letters) a message. Default: the broker's. */
  deliveryLimit?: number;
  /** Waits for the broker (connection restored, publish confirmed, channel opened). Default 15,000 ms. */
  operationTimeoutMs?: number;
  /** Backoff between reconnection attempts: doubles from `initialDelayMs` up to `maxDelayMs`, with jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Shown in the management UI and `rabbitmqctl list_connections`. Default "eventport". */
  connectionName?: string;
  /** Passed to amqplib's connect as socket options: TLS material for amqps (ca, cert, key, passphrase, servername...). */
  socketOptions?: Record<string, unknown>;
}

export interface ResolvedRabbitMqOptions {
  url: string;
  queueType: QueueType;
  deliveryLimit: number | undefined;
  operationTimeoutMs: number;
  reconnect: { initialDelayMs: number; maxDelayMs: number };
  connectionName: string;
  socketOptions: Record<string, unknown>;
}

const positiveInteger = z.number().int().positive();

/** Everything but the URL, which loadBackendConfig resolves (RABBITMQ_URL) and checks. */
const RabbitMqOptionsSchema = z
  .object({
    queueType: z.enum(['quorum', 'classic']).default('quorum'),
    deliveryLimit: positiveInteger.optional(),
    operationTimeoutMs: positiveInteger.default(15_000),
    reconnect: z
      .object({ initialDelayMs: positiveInteger.default(100), maxDelayMs: positiveInteger.default(5_000) })
      .refine((reconnect) => reconnect.maxDelayMs >= reconnect.initialDelayMs, {
        path: ['maxDelayMs'],
        message: 'must not be below reconnect.initialDelayMs',
      })
      .prefault({}),
    connectionName: z.string().min(1).default('eventport'),
    socketOptions: z
      .custom<Record<string, unknown>>(
        (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
        'must be an object',
      )
      .default({}),
  })
  .refine((options) => options.deliveryLimit === undefined || options.queueType === 'quorum', {
    path: ['deliveryLimit'],
    message: 'needs queueType "quorum"',
  });

/** Applies defaults and rejects bad values before any connection opens. */
export function resolveRabbitMqOptions(options: RabbitMqOptions): ResolvedRabbitMqOptions {
  const { url } = loadBackendConfig('rabbitmq', { url: options.url });
  const { deliveryLimit, ...rest } = parseOptions(RabbitMqOptionsSchema, options, 'rabbitmq');
  return { url, deliveryLimit, ...rest };
}
