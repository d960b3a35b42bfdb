import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { type BackendConfigSource, configFields, type Logger, loadBackendConfig } from '@eventport/core';
import { z } from 'zod';

const positiveInteger = z.number().int().positive();

/**
 * Every kafka setting in one strict schema (an unknown key fails, naming the closest valid one).
 * Env vars feed the fields listed in `KAFKA_ENV`. No message carries a value: none can leak the password.
 */
export const kafkaSchema = z
  .strictObject({
    /** Bootstrap brokers, `host:port` each (array or comma-separated). */
    brokers: configFields.hostPorts.default(['localhost:9092']),
    clientId: z.string().min(1).default('eventport'),
    /** `true` (KAFKA_SSL=1) for TLS with the system CAs, or Node TLS options (ca, cert, key, servername...). */
    ssl: z
      .union([configFields.flag, z.custom<TlsOptions>((value) => typeof value === 'object' && value !== null)])
      .default(false),
    saslMechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
    saslUsername: z.string().optional(),
    saslPassword: z.string().optional(),
    /** Producer acknowledgements: -1 (all in-sync replicas) or 1 (leader only). */
    acks: z.literal([-1, 1]).default(-1),
    /** Idempotent producer: a retried send is written once per partition. Needs acks -1; one request in flight. */
    idempotent: z.boolean().default(false),
    /** gzip works out of the box; snappy/lz4/zstd need a codec registered in kafkajs's CompressionCodecs. */
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
    /** How soon the group notices a dead member. */
    sessionTimeout: positiveInteger.default(10_000),
    heartbeatInterval: positiveInteger.default(1_000),
    rebalanceTimeout: positiveInteger.default(20_000),
    /** createTopic / deleteTopic / listTopics via kafkajs admin; false for brokers that cannot serve it (librdkafka's mock). */
    topicAdmin: z.boolean().default(true),
    /** The Kafka group id of a subscription: one per eventport group and topic (kafkajs cannot balance mixed topics). */
    consumerGroupId: z
      .custom<(group: string, topic: string) => string>(
        (value) => typeof value === 'function',
        'must be a function (group, topic) => string',
      )
      .default(() => (group: string, topic: string) => `${group}.${topic}`),
    /** TCP connect (and TLS), per attempt. */
    connectionTimeout: positiveInteger.default(3_000),
    /**
     * One request (handshake, metadata, produce, commit). Below core's health deadline (5 s), so a
     * broker that accepts and never answers fails health() and connect() by itself.
     */
    requestTimeout: positiveInteger.default(4_000),
    /** kafkajs's own retries per request; core retries a failed publish again (publishAttempts), the two multiply. */
    retries: z.number().int().nonnegative().default(2),
  })
  .refine((options) => options.heartbeatInterval < options.sessionTimeout, {
    path: ['heartbeatInterval'],
    message: 'must be below sessionTimeout',
  })
  .refine((options) => !options.idempotent || options.acks === -1, { path: ['idempotent'], message: 'needs acks -1' })
  .refine(
    (options) => options.saslMechanism === undefined || (!!options.saslUsername && options.saslPassword !== undefined),
    {
      path: ['saslMechanism'],
      message: 'needs saslUsername and saslPassword (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD)',
    },
  )
  // Reported under sasl, not one field: the rule is about the set of SASL settings.
  .refine(
    (options) =>
      options.saslMechanism !== undefined || (options.saslUsername === undefined && options.saslPassword === undefined),
    {
      path: ['sasl'],
      message:
        'saslUsername/saslPassword need saslMechanism (KAFKA_SASL_MECHANISM: plain, scram-sha-256 or scram-sha-512)',
    },
  );

export type KafkaOptions = Omit<z.input<typeof kafkaSchema>, 'brokers' | 'ssl'> & {
  brokers?: string[] | string;
  ssl?: boolean | TlsOptions;
};
export type ResolvedKafkaOptions = z.output<typeof kafkaSchema>;
export type KafkaCompression = ResolvedKafkaOptions['compression'];
export type SaslMechanism = NonNullable<ResolvedKafkaOptions['saslMechanism']>;

export const kafkaConfig: BackendConfigSource<typeof kafkaSchema> = {
  name: 'kafka',
  env: {
    brokers: 'KAFKA_SERVER',
    clientId: 'KAFKA_CLIENT_ID',
    ssl: 'KAFKA_SSL',
    saslMechanism: 'KAFKA_SASL_MECHANISM',
    saslUsername: 'KAFKA_SASL_USERNAME',
    saslPassword: 'KAFKA_SASL_PASSWORD',
  },
  schema: kafkaSchema,
  announceDefaults: ['brokers'],
};

/** Env vars, then options, then defaults; INVALID_CONFIG before anything connects. */
export function resolveKafkaOptions(
  options: KafkaOptions = {},
  env: NodeJS.ProcessEnv = process.env,
  logger?: Logger,
): ResolvedKafkaOptions {
  return loadBackendConfig(kafkaConfig, { ...options }, env, logger);
}
