import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { loadBackendConfig, parseOptions } from '@eventport/core';
import { z } from 'zod';

export type KafkaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaOptions {
  /** Bootstrap brokers, `host:port` each (array or comma-separated). Default: KAFKA_SERVER, else localhost:9092. */
  brokers?: string[] | string;
  /** Default: KAFKA_CLIENT_ID, else "eventport". */
  clientId?: string;
  /** `true` (KAFKA_SSL=1) for TLS with the system CAs, or Node TLS options (ca, cert, key, servername...). */
  ssl?: boolean | TlsOptions;
  /** Default: KAFKA_SASL_MECHANISM / KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD. */
  saslMechanism?: SaslMechanism;
  saslUsername?: string;
  saslPassword?: string;
  /** Producer acknowledgements: -1 (all in-sync replicas, default) or 1 (leader only). */
  acks?: -1 | 1;
  /** Idempotent producer: a retried send is written once per partition. Forces acks -1 and one request in flight. */
  idempotent?: boolean;
  /** Batch compression. gzip works out of the box; snappy/lz4/zstd need a codec registered in kafkajs's CompressionCodecs. */
  compression?: KafkaCompression;
  /** Consumer group session timeout: how soon the group notices a dead member. Default 10,000 ms. */
  sessionTimeout?: number;
  /** Default 1,000 ms; must be below sessionTimeout. */
  heartbeatInterval?: number;
  /** How long a rebalance waits for members to rejoin. Default 20,000 ms. */
  rebalanceTimeout?: number;
  /** How long subscribe() waits for the group join and partition assignment. Default 30,000 ms. */
  subscribeTimeoutMs?: number;
  /**
   * createTopic / deleteTopic / listTopics through the kafkajs admin client. Default true (real Kafka);
   * set false for brokers that cannot serve admin requests (librdkafka's mock cluster).
   */
  topicAdmin?: boolean;
  /**
   * The Kafka consumer group id of a subscription. Default `${group}.${topic}`: one Kafka group per
   * eventport group and topic, because kafkajs cannot balance a group whose members subscribe to
   * different topics (its leader assigns only the topics it subscribed to itself).
   */
  consumerGroupId?: (group: string, topic: string) => string;
  /** Default 3,000 ms. */
  connectionTimeout?: number;
  /** Default 30,000 ms. */
  requestTimeout?: number;
  /**
   * kafkajs's own retries per request. Kept low (default 2) because the portable layer retries a
   * failed publish again (publishAttempts): the two multiply.
   */
  retries?: number;
}

export interface ResolvedKafkaOptions {
  brokers: string[];
  clientId: string;
  ssl: boolean | TlsOptions;
  sasl: { mechanism: SaslMechanism; username: string; password: string } | undefined;
  acks: -1 | 1;
  idempotent: boolean;
  compression: KafkaCompression;
  sessionTimeout: number;
  heartbeatInterval: number;
  rebalanceTimeout: number;
  subscribeTimeoutMs: number;
  topicAdmin: boolean;
  consumerGroupId: (group: string, topic: string) => string;
  connectionTimeout: number;
  requestTimeout: number;
  retries: number;
}

const positiveInteger = z.number().int().positive();
const defaultConsumerGroupId = (group: string, topic: string) => `${group}.${topic}`;

/**
 * Everything but brokers, clientId and ssl, which loadBackendConfig resolves (KAFKA_SERVER, KAFKA_CLIENT_ID,
 * KAFKA_SSL) and checks. The SASL fields come in from it too (KAFKA_SASL_*), so the rules between them see
 * env vars and options alike. No message carries an option's value: none can leak the SASL password.
 */
const KafkaOptionsSchema = z
  .object({
    saslMechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
    saslUsername: z.string().optional(),
    saslPassword: z.string().optional(),
    acks: z.literal([-1, 1]).default(-1),
    idempotent: z.boolean().default(false),
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
    sessionTimeout: positiveInteger.default(10_000),
    heartbeatInterval: positiveInteger.default(1_000),
    rebalanceTimeout: positiveInteger.default(20_000),
    subscribeTimeoutMs: positiveInteger.default(30_000),
    topicAdmin: z.boolean().default(true),
    // The default is a function itself, so it is returned by a factory (zod calls a function default).
    consumerGroupId: z
      .custom<(group: string, topic: string) => string>(
        (value) => typeof value === 'function',
        'must be a function (group, topic) => string',
      )
      .default(() => defaultConsumerGroupId),
    connectionTimeout: positiveInteger.default(3_000),
    requestTimeout: positiveInteger.default(30_000),
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
  )
  .transform(
    ({
      saslMechanism,
      saslUsername,
      saslPassword,
      ...options
    }): Omit<ResolvedKafkaOptions, 'brokers' | 'clientId' | 'ssl'> => ({
      ...options,
      // Set exactly when saslMechanism is: the refinements above hold.
      sasl:
        saslMechanism && saslUsername && saslPassword !== undefined
          ? { mechanism: saslMechanism, username: saslUsername, password: saslPassword }
          : undefined,
    }),
  );

/** Applies env vars and defaults and rejects bad values before any connection opens. */
export function resolveKafkaOptions(options: KafkaOptions, env: NodeJS.ProcessEnv = process.env): ResolvedKafkaOptions {
  // Core's config takes ssl as a flag: TLS options mean "on". All the options, not { brokers: options.brokers,
  // ... }: a field given as undefined would make an error from its env var name the option instead.
  const tls = typeof options.ssl === 'object' && options.ssl !== null ? options.ssl : undefined;
  const base = loadBackendConfig('kafka', tls ? { ...options, ssl: true } : { ...options }, env);
  const { saslMechanism, saslUsername, saslPassword } = base;
  return {
    brokers: base.brokers,
    clientId: base.clientId,
    ssl: tls ?? base.ssl,
    ...parseOptions(KafkaOptionsSchema, { ...options, saslMechanism, saslUsername, saslPassword }, 'kafka'),
  };
}
