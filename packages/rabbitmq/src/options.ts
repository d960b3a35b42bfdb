import { EventportError, loadBackendConfig } from '@eventport/core';

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

/** Applies defaults and rejects bad values before any connection opens. */
export function resolveRabbitMqOptions(options: RabbitMqOptions): ResolvedRabbitMqOptions {
  const { url } = loadBackendConfig('rabbitmq', { url: options.url });
  const queueType = options.queueType ?? 'quorum';
  if (queueType !== 'quorum' && queueType !== 'classic') {
    throw invalid(`queueType must be "quorum" or "classic" (got ${JSON.stringify(queueType)})`);
  }
  if (options.deliveryLimit !== undefined) {
    positiveInteger('deliveryLimit', options.deliveryLimit);
    if (queueType !== 'quorum') throw invalid('deliveryLimit needs queueType "quorum"');
  }
  const operationTimeoutMs = positiveInteger('operationTimeoutMs', options.operationTimeoutMs ?? 15_000);
  const initialDelayMs = positiveInteger('reconnect.initialDelayMs', options.reconnect?.initialDelayMs ?? 100);
  const maxDelayMs = positiveInteger('reconnect.maxDelayMs', options.reconnect?.maxDelayMs ?? 5_000);
  if (maxDelayMs < initialDelayMs) throw invalid('reconnect.maxDelayMs must not be below reconnect.initialDelayMs');
  const connectionName = options.connectionName ?? 'eventport';
  if (typeof connectionName !== 'string' || connectionName.length === 0) {
    throw invalid('connectionName must be a non-empty string');
  }
  const socketOptions = options.socketOptions ?? {};
  if (typeof socketOptions !== 'object' || socketOptions === null || Array.isArray(socketOptions)) {
    throw invalid('socketOptions must be an object');
  }
  return {
    url,
    queueType,
    deliveryLimit: options.deliveryLimit,
    operationTimeoutMs,
    reconnect: { initialDelayMs, maxDelayMs },
    connectionName,
    socketOptions,
  };
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalid(`${name} must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

function invalid(message: string): EventportError {
  return new EventportError('INVALID_CONFIG', `invalid rabbitmq configuration: ${message}`);
}
