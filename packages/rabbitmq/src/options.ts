import { configFields, numericOption } from '@eventport/core';
import { z } from 'zod';

export type QueueType = 'quorum' | 'classic';

/**
 * Everything the RabbitMQ backend is configured with: RABBITMQ_URL from the environment, the rest as
 * options. Strict: an unknown key fails, naming the closest valid one. Reconnects, backoff and
 * deadlines are core's (AdapterOptions.deadlines).
 */
export const rabbitMqSchema = z
  .strictObject({
    /**
     * amqp:// or amqps://, vhost in the path (`/` is `%2F`), amqplib query parameters allowed
     * (frameMax, channelMax, heartbeat...). The default names no user: amqplib then logs in as
     * guest/guest, so the announced default carries no credential.
     */
    url: configFields.url(['amqp', 'amqps']).default('amqp://localhost:5672'),
    /** `quorum` (default) keeps a delivery count; `classic` only flags a redelivery. */
    queueType: z.enum(['quorum', 'classic']).default('quorum'),
    /** Quorum only: `x-delivery-limit`, after which the broker drops (or dead-letters) a message. */
    deliveryLimit: numericOption(z.number().int().positive()).optional(),
    /**
     * The management plugin's HTTP API (`http://host:15672`), the only way to list a topic's groups
     * (listGroups; without it UNSUPPORTED). Ephemeral groups need no plugin. User and password
     * default to the AMQP URL's.
     */
    managementUrl: configFields.url(['http', 'https']).optional(),
    /** TCP connect plus AMQP handshake; a server that accepts and never answers fails after this. */
    connectTimeoutMs: numericOption(z.number().int().positive()).default(5_000),
    /** AMQP heartbeat: a dead connection is noticed after two to three of these. Unless the URL sets `heartbeat`. */
    heartbeatSeconds: numericOption(z.number().int().positive()).default(10),
    /** Shown in the management UI and `rabbitmqctl list_connections`. */
    connectionName: z.string().min(1).default('eventport'),
    /** amqplib socket options: TLS material for amqps (ca, cert, key, passphrase, servername...). */
    socketOptions: z.record(z.string(), z.unknown()).default({}),
  })
  .refine((options) => options.deliveryLimit === undefined || options.queueType === 'quorum', {
    path: ['deliveryLimit'],
    message: 'needs queueType "quorum"',
  })
  .refine((options) => !('recovery' in options.socketOptions), {
    path: ['socketOptions', 'recovery'],
    message: "is not supported: eventport's core reconnects (amqplib's recovery would reconnect behind its back)",
  });

export type RabbitMqOptions = z.input<typeof rabbitMqSchema>;
export type RabbitMqConfig = z.output<typeof rabbitMqSchema>;
