import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { EventportError, loadBackendConfig } from '@eventport/core';

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

const COMPRESSIONS: readonly KafkaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Applies env vars and defaults and rejects bad values before any connection opens. */
export function resolveKafkaOptions(options: KafkaOptions): ResolvedKafkaOptions {
  const { ssl: sslObject, ...plain } = options;
  const base = loadBackendConfig('kafka', {
    brokers: plain.brokers,
    clientId: plain.clientId,
    ssl: typeof sslObject === 'object' ? true : sslObject,
    saslMechanism: plain.saslMechanism,
    saslUsername: plain.saslUsername,
    saslPassword: plain.saslPassword,
  });
  const ssl: boolean | TlsOptions = typeof sslObject === 'object' && sslObject !== null ? sslObject : base.ssl;
  let sasl: ResolvedKafkaOptions['sasl'];
  if (base.saslMechanism !== undefined) {
    if (!base.saslUsername || base.saslPassword === undefined) {
      throw invalid('saslMechanism needs saslUsername and saslPassword (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD)');
    }
    sasl = { mechanism: base.saslMechanism, username: base.saslUsername, password: base.saslPassword };
  } else if (base.saslUsername !== undefined || base.saslPassword !== undefined) {
    throw invalid(
      'saslUsername/saslPassword need saslMechanism (KAFKA_SASL_MECHANISM: plain, scram-sha-256 or scram-sha-512)',
    );
  }
  const idempotent = boolean('idempotent', options.idempotent ?? false);
  const acks = options.acks ?? -1;
  if (acks !== -1 && acks !== 1) throw invalid(`acks must be -1 or 1 (got ${JSON.stringify(acks)})`);
  if (idempotent && acks !== -1) throw invalid('idempotent needs acks -1');
  const compression = options.compression ?? 'none';
  if (!COMPRESSIONS.includes(compression)) {
    throw invalid(`compression must be one of ${COMPRESSIONS.join(', ')} (got ${JSON.stringify(compression)})`);
  }
  const sessionTimeout = positiveInteger('sessionTimeout', options.sessionTimeout ?? 10_000);
  const heartbeatInterval = positiveInteger('heartbeatInterval', options.heartbeatInterval ?? 1_000);
  if (heartbeatInterval >= sessionTimeout) throw invalid('heartbeatInterval must be below sessionTimeout');
  const rebalanceTimeout = positiveInteger('rebalanceTimeout', options.rebalanceTimeout ?? 20_000);
  const retries = options.retries ?? 2;
  if (!Number.isInteger(retries) || retries < 0) {
    throw invalid(`retries must be a non-negative integer (got ${JSON.stringify(retries)})`);
  }
  return {
    brokers: base.brokers,
    clientId: base.clientId,
    ssl,
    sasl,
    acks,
    idempotent,
    compression,
    sessionTimeout,
    heartbeatInterval,
    rebalanceTimeout,
    subscribeTimeoutMs: positiveInteger('subscribeTimeoutMs', options.subscribeTimeoutMs ?? 30_000),
    topicAdmin: boolean('topicAdmin', options.topicAdmin ?? true),
    consumerGroupId: groupIdFunction(options.consumerGroupId),
    connectionTimeout: positiveInteger('connectionTimeout', options.connectionTimeout ?? 3_000),
    requestTimeout: positiveInteger('requestTimeout', options.requestTimeout ?? 30_000),
    retries,
  };
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalid(`${name} must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

function groupIdFunction(value: unknown): (group: string, topic: string) => string {
  if (value === undefined) return (group, topic) => `${group}.${topic}`;
  if (typeof value !== 'function') throw invalid('consumerGroupId must be a function (group, topic) => string');
  return value as (group: string, topic: string) => string;
}

function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(`${name} must be true or false (got ${JSON.stringify(value)})`);
  return value;
}

function invalid(message: string): EventportError {
  return new EventportError('INVALID_CONFIG', `invalid kafka configuration: ${message}`);
}
