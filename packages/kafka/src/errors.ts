import {
  classifyThrough,
  type ErrorClassification,
  type ErrorCode,
  type ErrorLink,
  type Logger,
  redact,
} from '@eventport/core';
import { type logCreator, logLevel } from 'kafkajs';

// kafkajs error names and Kafka protocol error types (KafkaJSProtocolError.type) that mean more than "retry or fail".
const KNOWN = new Map<string, ErrorCode>();
for (const [code, names] of [
  ['CONNECTION', 'KafkaJSConnectionError KafkaJSConnectionClosedError KafkaJSBrokerNotFound'],
  ['CONNECTION', 'KafkaJSNoBrokerAvailableError KafkaJSMetadataNotLoaded KafkaJSTopicMetadataNotLoaded'],
  ['CONNECTION', 'KafkaJSGroupCoordinatorNotFound'],
  // librdkafka's mock cluster answers a JoinGroup during its broker restarts with INVALID_REQUEST;
  // the same join succeeds a moment later.
  ['CONNECTION', 'INVALID_REQUEST'],
  ['TIMEOUT', 'KafkaJSRequestTimeoutError KafkaJSTimeout KafkaJSLockTimeout TimeoutError REQUEST_TIMED_OUT'],
  ['PERMISSION_DENIED', 'KafkaJSSASLAuthenticationError SASL_AUTHENTICATION_FAILED TOPIC_AUTHORIZATION_FAILED'],
  ['PERMISSION_DENIED', 'GROUP_AUTHORIZATION_FAILED CLUSTER_AUTHORIZATION_FAILED'],
  ['PERMISSION_DENIED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'],
  ['UNSUPPORTED', 'KafkaJSServerDoesNotSupportApiKey KafkaJSNotImplemented UNSUPPORTED_VERSION'],
  ['UNSUPPORTED', 'UNSUPPORTED_COMPRESSION_TYPE'],
  ['INVALID_ARGUMENT', 'INVALID_TOPIC_EXCEPTION INVALID_PARTITIONS INVALID_REPLICATION_FACTOR POLICY_VIOLATION'],
  ['NOT_FOUND', 'UNKNOWN_TOPIC_OR_PARTITION GROUP_ID_NOT_FOUND'],
  ['ALREADY_EXISTS', 'TOPIC_ALREADY_EXISTS'],
  ['PAYLOAD_TOO_LARGE', 'MESSAGE_TOO_LARGE RECORD_LIST_TOO_LARGE'],
  ['RESOURCE_EXHAUSTED', 'THROTTLING_QUOTA_EXCEEDED'],
] as const) {
  for (const name of names.split(' ')) KNOWN.set(name, code);
}
const INTERNAL: ErrorClassification = { code: 'INTERNAL', retryable: false };
/**
 * Maps a kafkajs error to a portable code, matched by name (a second copy of kafkajs classifies the
 * same). kafkajs wraps what its own retries gave up on in KafkaJSNumberOfRetriesExceeded, and that in
 * KafkaJSNonRetriableError (`retriable: false`): the wrappers say nothing, the cause chain decides.
 * A link flagged `retriable: true` (leader moves, NETWORK_EXCEPTION...) or an exhausted retry loop
 * is a CONNECTION error that can succeed later.
 */
export function classifyKafkaError(error: unknown): ErrorClassification | undefined {
  let retriable = false;
  const byLink = ({ name, type, message, retriable: flag, errors, groups }: ErrorLink) => {
    // KafkaJSDeleteGroupsError lists its errors by group.
    const list = Array.isArray(groups) ? groups.map((group) => (group as { error?: unknown })?.error) : errors;
    if (Array.isArray(list) && list.length > 0) {
      const parts = list.map((part) => classifyKafkaError(part) ?? INTERNAL);
      return parts.find((part) => !part.retryable) ?? parts[0];
    }
    // 'Broker not connected': kafkajs's plain Error for a broker whose handshake never completed.
    const known = KNOWN.get(String(name)) ?? KNOWN.get(String(type));
    if (known || message === 'Broker not connected') return known ?? 'CONNECTION';
    if (flag === true || name === 'KafkaJSNumberOfRetriesExceeded') retriable = true;
    return undefined;
  };
  const found = classifyThrough(error, byLink, ({ originalError }) => [originalError]);
  if (found || retriable) return found ?? { code: 'CONNECTION', retryable: true };
  const name = (error as ErrorLink | null)?.name;
  return typeof name === 'string' && name.startsWith('KafkaJS') ? INTERNAL : undefined;
}

/** `call`'s result, or `fallback` where the broker lacks the API (librdkafka's mock has no group admin). */
export function unlessUnsupported<T>(call: Promise<T>, fallback: T): Promise<T> {
  return call.catch((error: unknown) => {
    if (classifyKafkaError(error)?.code === 'UNSUPPORTED') return fallback;
    throw error;
  });
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
