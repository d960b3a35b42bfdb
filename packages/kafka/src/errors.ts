import type { ErrorCode } from '@eventport/core';

export interface Classification {
  code: ErrorCode;
  retryable: boolean;
}

interface KafkaJsErrorShape {
  name?: string;
  type?: string;
  retriable?: boolean;
  cause?: unknown;
  errors?: unknown[];
}

const BY_NAME: Readonly<Record<string, Classification>> = {
  KafkaJSConnectionError: { code: 'CONNECTION', retryable: true },
  KafkaJSConnectionClosedError: { code: 'CONNECTION', retryable: true },
  KafkaJSBrokerNotFound: { code: 'CONNECTION', retryable: true },
  KafkaJSMetadataNotLoaded: { code: 'CONNECTION', retryable: true },
  KafkaJSTopicMetadataNotLoaded: { code: 'CONNECTION', retryable: true },
  KafkaJSGroupCoordinatorNotFound: { code: 'CONNECTION', retryable: true },
  KafkaJSRequestTimeoutError: { code: 'TIMEOUT', retryable: true },
  KafkaJSTimeout: { code: 'TIMEOUT', retryable: true },
  KafkaJSLockTimeout: { code: 'TIMEOUT', retryable: true },
  KafkaJSSASLAuthenticationError: { code: 'PERMISSION_DENIED', retryable: false },
  KafkaJSServerDoesNotSupportApiKey: { code: 'UNSUPPORTED', retryable: false },
  KafkaJSNotImplemented: { code: 'UNSUPPORTED', retryable: false },
};

/** Kafka protocol error types (KafkaJSProtocolError.type) that mean more than "retry or fail". */
const BY_PROTOCOL_TYPE: Readonly<Record<string, Classification>> = {
  TOPIC_AUTHORIZATION_FAILED: { code: 'PERMISSION_DENIED', retryable: false },
  GROUP_AUTHORIZATION_FAILED: { code: 'PERMISSION_DENIED', retryable: false },
  CLUSTER_AUTHORIZATION_FAILED: { code: 'PERMISSION_DENIED', retryable: false },
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: { code: 'PERMISSION_DENIED', retryable: false },
  SASL_AUTHENTICATION_FAILED: { code: 'PERMISSION_DENIED', retryable: false },
  TOPIC_ALREADY_EXISTS: { code: 'ALREADY_EXISTS', retryable: false },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 'NOT_FOUND', retryable: false },
  GROUP_ID_NOT_FOUND: { code: 'NOT_FOUND', retryable: false },
  MESSAGE_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', retryable: false },
  RECORD_LIST_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', retryable: false },
  INVALID_TOPIC_EXCEPTION: { code: 'INVALID_ARGUMENT', retryable: false },
  INVALID_PARTITIONS: { code: 'INVALID_ARGUMENT', retryable: false },
  INVALID_REPLICATION_FACTOR: { code: 'INVALID_ARGUMENT', retryable: false },
  POLICY_VIOLATION: { code: 'INVALID_ARGUMENT', retryable: false },
  UNSUPPORTED_COMPRESSION_TYPE: { code: 'UNSUPPORTED', retryable: false },
  UNSUPPORTED_VERSION: { code: 'UNSUPPORTED', retryable: false },
  THROTTLING_QUOTA_EXCEEDED: { code: 'RESOURCE_EXHAUSTED', retryable: true },
  REQUEST_TIMED_OUT: { code: 'TIMEOUT', retryable: true },
};

/**
 * Maps a kafkajs error to a portable code. Matched by `name` rather than `instanceof` so a second
 * copy of kafkajs in node_modules classifies the same. kafkajs wraps the last failure of its own
 * retries in KafkaJSNumberOfRetriesExceeded: the cause decides.
 */
export function classifyKafkaError(error: unknown): Classification | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const shape = error as KafkaJsErrorShape;
  if (shape.name === 'KafkaJSNumberOfRetriesExceeded') {
    return classifyKafkaError(shape.cause) ?? { code: 'CONNECTION', retryable: true };
  }
  if (shape.name === 'KafkaJSAggregateError' && Array.isArray(shape.errors)) {
    const parts = shape.errors.map(classifyKafkaError);
    const permanent = parts.find((part) => part && !part.retryable);
    return permanent ?? parts.find((part) => part !== undefined) ?? { code: 'INTERNAL', retryable: false };
  }
  const named = shape.name ? BY_NAME[shape.name] : undefined;
  if (named) return named;
  if (shape.type) {
    const typed = BY_PROTOCOL_TYPE[shape.type];
    if (typed) return typed;
  }
  if (typeof shape.name === 'string' && shape.name.startsWith('KafkaJS')) {
    return shape.retriable ? { code: 'CONNECTION', retryable: true } : { code: 'INTERNAL', retryable: false };
  }
  return undefined;
}
