import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { type BackendConfigSource, configFields, type Logger, loadBackendConfig } from '@eventport/core';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { z } from 'zod';

const positive = z.number().int().positive();

export const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;

/** kafkajs ships gzip only; the other codecs are stubs that throw until an application registers one. */
function codecRegistered(compression: keyof typeof COMPRESSION): boolean {
  try {
    if (compression !== 'none') (CompressionCodecs as Record<number, () => unknown>)[COMPRESSION[compression]]?.();
    return true;
  } catch {
    return false;
  }
}

/**
 * Every kafka setting in one strict schema (an unknown key fails, naming the closest valid one); see
 * the README for each. No message carries a value: none can leak the password.
 */
export const kafkaSchema = z
  .strictObject({
    brokers: configFields.hostPorts.default(['localhost:9092']),
    clientId: z.string().min(1).default('eventport'),
    ssl: z.union([configFields.flag, configFields.object<TlsOptions>()]).default(false),
    saslMechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
    saslUsername: z.string().optional(),
    saslPassword: z.string().optional(),
    acks: z.literal([-1, 1]).default(-1),
    idempotent: z.boolean().default(false),
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
    sessionTimeout: positive.default(10_000),
    heartbeatInterval: positive.default(1_000),
    rebalanceTimeout: positive.default(20_000),
    topicAdmin: z.boolean().default(true),
    consumerGroupId: z
      .custom<(group: string, topic: string) => string>((value) => typeof value === 'function', {
        message: 'must be a function (group, topic) => string',
      })
      .default(() => (group: string, topic: string) => `${group}.${topic}`),
    connectionTimeout: positive.default(3_000),
    // Below core's 5 s health deadline: a broker that accepts and never answers fails health() on its own.
    requestTimeout: positive.default(4_000),
    retries: z.number().int().nonnegative().default(2),
  })
  .refine((options) => options.heartbeatInterval < options.sessionTimeout, {
    path: ['heartbeatInterval'],
    message: 'must be below sessionTimeout',
  })
  .refine((options) => !options.idempotent || options.acks === -1, { path: ['idempotent'], message: 'needs acks -1' })
  .refine((options) => codecRegistered(options.compression), {
    path: ['compression'],
    message:
      'needs a codec registered in kafkajs first (CompressionCodecs[CompressionTypes.X] = ..., e.g. kafkajs-snappy)',
  })
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
  /** Bootstrap brokers, `host:port` each (array or comma-separated). */
  brokers?: string[] | string;
  /** `true` for TLS with the system CAs, or Node TLS options (ca, cert, key, servername...). */
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

/** Defaults < env vars < options; INVALID_CONFIG before anything connects. */
export function resolveKafkaOptions(
  options: KafkaOptions = {},
  env: NodeJS.ProcessEnv = process.env,
  logger?: Logger,
): ResolvedKafkaOptions {
  return loadBackendConfig(kafkaConfig, { ...options }, env, logger);
}
