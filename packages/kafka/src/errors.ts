import { type ErrorClassification, EventportError, type Logger, redact } from '@eventport/core';
import { type logCreator, logLevel } from 'kafkajs';

const CONNECTION: ErrorClassification = { code: 'CONNECTION', retryable: true };
const TIMEOUT: ErrorClassification = { code: 'TIMEOUT', retryable: true };
const INTERNAL: ErrorClassification = { code: 'INTERNAL', retryable: false };

const BY_NAME: Readonly<Record<string, ErrorClassification>> = {
  KafkaJSConnectionError: CONNECTION,
  KafkaJSConnectionClosedError: CONNECTION,
  KafkaJSBrokerNotFound: CONNECTION,
  KafkaJSNoBrokerAvailableError: CONNECTION,
  KafkaJSMetadataNotLoaded: CONNECTION,
  KafkaJSTopicMetadataNotLoaded: CONNECTION,
  KafkaJSGroupCoordinatorNotFound: CONNECTION,
  KafkaJSRequestTimeoutError: TIMEOUT,
  KafkaJSTimeout: TIMEOUT,
  KafkaJSLockTimeout: TIMEOUT,
  TimeoutError: TIMEOUT,
  KafkaJSSASLAuthenticationError: { code: 'PERMISSION_DENIED', retryable: false },
  KafkaJSServerDoesNotSupportApiKey: { code: 'UNSUPPORTED', retryable: false },
  KafkaJSNotImplemented: { code: 'UNSUPPORTED', retryable: false },
};

/** Kafka protocol error types (KafkaJSProtocolError.type) that mean more than "retry or fail". */
const BY_PROTOCOL_TYPE: Readonly<Record<string, ErrorClassification>> = {
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
  REQUEST_TIMED_OUT: TIMEOUT,
};

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

interface Shape {
  name?: unknown;
  type?: unknown;
  code?: unknown;
  retriable?: unknown;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown;
}

/**
 * Maps a kafkajs error to a portable code, matched by name (a second copy of kafkajs classifies the
 * same). kafkajs wraps what its own retries gave up on in KafkaJSNumberOfRetriesExceeded, and that in
 * KafkaJSNonRetriableError (`retriable: false`): the wrappers say nothing, the cause chain decides.
 * A link flagged `retriable: true` (leader moves, NETWORK_EXCEPTION...) or an exhausted retry loop
 * is a CONNECTION error that can succeed later.
 */
export function classifyKafkaError(error: unknown): ErrorClassification | undefined {
  let retriable = false;
  const seen = new Set<unknown>();
  for (let link = error; typeof link === 'object' && link !== null && !seen.has(link) && seen.size < 10; ) {
    seen.add(link);
    if (link instanceof EventportError) return { code: link.code, retryable: link.retryable };
    const shape = link as Shape;
    const name = typeof shape.name === 'string' ? shape.name : '';
    if (Array.isArray(shape.errors) && shape.errors.length > 0) {
      const parts = shape.errors.map((part) => classifyKafkaError(part) ?? INTERNAL);
      return parts.find((part) => !part.retryable) ?? (parts[0] as ErrorClassification);
    }
    const known = BY_NAME[name] ?? (typeof shape.type === 'string' ? BY_PROTOCOL_TYPE[shape.type] : undefined);
    if (known) return known;
    // kafkajs's own plain Error for a broker whose handshake never completed.
    if (
      typeof shape.code === 'string'
        ? NETWORK_CODES.has(shape.code)
        : link instanceof Error && link.message === 'Broker not connected'
    )
      return CONNECTION;
    if (shape.retriable === true || name === 'KafkaJSNumberOfRetriesExceeded') retriable = true;
    link = shape.cause ?? shape.originalError;
  }
  if (retriable) return CONNECTION;
  const name = (error as Shape | null)?.name;
  return typeof name === 'string' && name.startsWith('KafkaJS') ? INTERNAL : undefined;
}

const SECRET_FIELD = /sasl|password|secret|token|credential|ssl/i;

/** Copies a log field, dropping every key (at any depth) that could carry credentials. */
function scrub(value: unknown, mask: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return mask(redact(value));
  if (typeof value !== 'object' || value === null) return value;
  if (depth > 3) return '[object]';
  if (Array.isArray(value)) return value.map((item) => scrub(item, mask, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .filter(([name]) => !SECRET_FIELD.test(name))
      .map(([name, item]) => [name, scrub(item, mask, depth + 1)]),
  );
}

/**
 * kafkajs's log lines go to the adapter's logger one level down (it logs every refused reconnect as
 * an error; what matters reaches the caller as a typed error). Credential fields are dropped and the
 * password itself, should a line ever contain it, is masked.
 */
export function kafkaLogCreator(logger: Logger, password?: string): logCreator {
  const mask = (text: string) => (password ? text.split(password).join('***') : text);
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, stack: _stack, ...extra } = log;
      const source = `kafkajs${namespace ? `:${namespace}` : ''}`;
      const line = scrub({ source, ...extra }, mask) as Record<string, unknown>;
      const text = scrub(String(message), mask) as string;
      if (level === logLevel.ERROR) logger.warn(text, line);
      else if (level === logLevel.WARN) logger.info(text, line);
      else logger.debug(text, line);
    };
}

export { logLevel as kafkaLogLevel };
