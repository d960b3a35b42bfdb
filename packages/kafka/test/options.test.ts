import { backendDriver, type Logger } from '@eventport/core';
import { backend, classifyKafkaError, createKafkaAdapter } from '@eventport/kafka';
import { describe, expect, test } from '@jest/globals';
import * as kafkajs from 'kafkajs';
import {
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  logLevel,
} from 'kafkajs';
import { kafkaLogCreator } from '../src/errors';
import { resolveKafkaOptions } from '../src/options';

type ErrorClass = new (error: Error | string, metadata?: { cause?: unknown; retriable?: boolean }) => Error;
// Runtime signatures the kafkajs typings leave out (the cause argument, the SASL error class).
const NonRetriable = KafkaJSNonRetriableError as unknown as ErrorClass;
const { KafkaJSSASLAuthenticationError } = kafkajs as unknown as Record<string, ErrorClass>;

/** What kafkajs builds from a broker's error code (createErrorFromCode). */
const protocolError = (type: string, code: number, retriable: boolean) =>
  new KafkaJSProtocolError(Object.assign(new Error(type), { type, code, retriable }));

// Configuration checks and error mapping: no broker involved, nothing here connects.
describe('kafka options', () => {
  test('capabilities: topic admin on by default and switchable, no broker-side delivery count', () => {
    const driver = backendDriver(backend, { brokers: 'a:9092, b:9093' });
    expect(driver.capabilities.topicAdmin).toBe(true);
    expect(driver.capabilities.deliveryCount).toBe(false);
    expect(backendDriver(backend, { brokers: ['a:9092'], topicAdmin: false }).capabilities.topicAdmin).toBe(false);
  });

  test.each([
    [{ heartbeatInterval: 10_000, sessionTimeout: 6_000 }, /"heartbeatInterval": must be below sessionTimeout/],
    [
      { compression: 'brotli' },
      /"compression": Invalid option: expected one of "none"\|"gzip"\|"snappy"\|"lz4"\|"zstd"/,
    ],
    [{ compression: 'snappy' }, /needs a codec registered/],
    [{ acks: 0 }, /"acks": Invalid option: expected one of -1\|1/],
    [{ idempotent: true, acks: 1 }, /"idempotent": needs acks -1/],
    [{ sessionTimeout: -1 }, /"sessionTimeout": Too small: expected number to be >0/],
    [{ brokers: 'no-port' }, /host:port/],
    [{ consumerGroupId: 'g' }, /"consumerGroupId": must be a function/],
    // One strict schema: a typo is an error naming the closest option, not a setting silently ignored.
    [{ sessionTimout: 6_000 }, /unknown option "sessionTimout" \(did you mean "sessionTimeout"\?\)/],
    // Gone: core's deadlines.adminMs bounds opening a receiver.
    [{ subscribeTimeoutMs: 30_000 }, /unknown option "subscribeTimeoutMs"/],
  ])('rejects %j before connecting', (options, message) => {
    expect(() => createKafkaAdapter(options as never)).toThrow(message);
    expect(() => createKafkaAdapter(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });

  test('SASL settings are checked without echoing the password', () => {
    const attempt = () =>
      createKafkaAdapter({ brokers: ['a:9092'], saslUsername: 'app', saslPassword: 'hunter2-secret' });
    expect(attempt).toThrow(/need saslMechanism/);
    try {
      attempt();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2-secret');
    }
    expect(() =>
      createKafkaAdapter({ brokers: ['a:9092'], saslMechanism: 'scram-sha-512', saslUsername: 'app' }),
    ).toThrow(/needs saslUsername and saslPassword/);
  });

  test('defaults, env vars for what the options leave out, TLS options kept as given', () => {
    const resolved = resolveKafkaOptions({}, {});
    expect(resolved).toEqual({
      brokers: ['localhost:9092'],
      clientId: 'eventport',
      ssl: false,
      acks: -1,
      idempotent: false,
      compression: 'none',
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 20_000,
      topicAdmin: true,
      consumerGroupId: expect.any(Function),
      connectionTimeout: 3_000,
      // Below core's 5 s health deadline: a broker that accepts and never answers fails on its own.
      requestTimeout: 4_000,
      retries: 2,
    });
    expect(resolved.consumerGroupId('billing', 'orders')).toBe('billing.orders');
    const env = {
      KAFKA_SERVER: 'k1:9092, k2:9093',
      KAFKA_CLIENT_ID: 'from-env',
      KAFKA_SSL: '1',
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: 'app',
      KAFKA_SASL_PASSWORD: 'hunter2-secret',
    };
    expect(resolveKafkaOptions({ retries: 0 }, env)).toMatchObject({
      brokers: ['k1:9092', 'k2:9093'],
      clientId: 'from-env',
      ssl: true,
      saslMechanism: 'scram-sha-256',
      saslUsername: 'app',
      saslPassword: 'hunter2-secret',
      retries: 0,
    });
    const tls = { servername: 'kafka.internal' };
    expect(resolveKafkaOptions({ ssl: tls, clientId: 'explicit' }, env)).toMatchObject({
      ssl: tls,
      clientId: 'explicit',
    });
    // Numbers and flags must be numbers and booleans, as before the options went through zod.
    expect(() => resolveKafkaOptions({ requestTimeout: '30000' } as never, {})).toThrow(
      /"requestTimeout": Invalid input: expected number, received string/,
    );
    expect(() => resolveKafkaOptions({ topicAdmin: 'false' } as never, {})).toThrow(
      /"topicAdmin": Invalid input: expected boolean, received string/,
    );
    expect(() => resolveKafkaOptions({ retries: -1 }, {})).toThrow(/"retries": Too small: expected number to be >=0/);
  });

  test('bad env vars are named, and a password from env stays out of the error', () => {
    expect(() => resolveKafkaOptions({}, { KAFKA_SERVER: 'no-port' })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/KAFKA_SERVER: each broker/) }),
    );
    const attempt = () =>
      resolveKafkaOptions({}, { KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: 'hunter2-secret' });
    expect(attempt).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringMatching(/saslUsername\/saslPassword need saslMechanism \(KAFKA_SASL_MECHANISM/),
      }),
    );
    expect(attempt).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2-secret') }));
    expect(() => resolveKafkaOptions({ saslMechanism: 'plain' }, { KAFKA_SASL_PASSWORD: 'hunter2-secret' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2-secret') }),
    );
    expect(() => resolveKafkaOptions({ saslMechanism: 'plain' }, { KAFKA_SASL_PASSWORD: 'hunter2-secret' })).toThrow(
      /saslMechanism": needs saslUsername and saslPassword/,
    );
  });

  test('the backend definition: KAFKA_* env vars, one strict schema, the localhost default announced', () => {
    expect(backend.name).toBe('kafka');
    expect(backend.env).toEqual({
      brokers: 'KAFKA_SERVER',
      clientId: 'KAFKA_CLIENT_ID',
      ssl: 'KAFKA_SSL',
      saslMechanism: 'KAFKA_SASL_MECHANISM',
      saslUsername: 'KAFKA_SASL_USERNAME',
      saslPassword: 'KAFKA_SASL_PASSWORD',
    });
    expect(backend.announceDefaults).toEqual(['brokers']);
    expect(() => resolveKafkaOptions({ grup: 'g' } as never, {})).toThrow(/unknown option "grup"; valid: brokers, /);
  });
});

describe('kafka error mapping', () => {
  const refused = () => new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
  /** What kafkajs's retrier throws when its retries ran out: the last error, wrapped. */
  const exhausted = (error: Error) => new KafkaJSNumberOfRetriesExceeded(error, { retryCount: 2, retryTime: 400 });
  /** What an outer kafkajs retrier (producer.send around sendMessages) makes of that: "non-retriable", cause kept. */
  const wrappedTwice = (error: Error) => {
    const inner = exhausted(error);
    return new NonRetriable(inner, { cause: inner.cause ?? inner });
  };

  test.each([
    ['connection refused', refused(), 'CONNECTION', true],
    ['request timeout', new KafkaJSRequestTimeoutError('slow'), 'TIMEOUT', true],
    ['retries exhausted on a connection error', exhausted(refused()), 'CONNECTION', true],
    // The measured defect: a publish during a broker restart failed as INTERNAL, not retried.
    ['non-retriable wrapper around an exhausted connection error', wrappedTwice(refused()), 'CONNECTION', true],
    [
      'non-retriable wrapper around a request timeout',
      wrappedTwice(new KafkaJSRequestTimeoutError('slow')),
      'TIMEOUT',
      true,
    ],
    [
      'non-retriable wrapper whose cause is a retries-exhausted error',
      new NonRetriable(exhausted(refused()), { cause: exhausted(refused()) }),
      'CONNECTION',
      true,
    ],
    [
      'originalError chain',
      Object.assign(new KafkaJSNonRetriableError('send failed'), { originalError: refused() }),
      'CONNECTION',
      true,
    ],
    ['wrapped LEADER_NOT_AVAILABLE', wrappedTwice(protocolError('LEADER_NOT_AVAILABLE', 5, true)), 'CONNECTION', true],
    [
      'wrapped NOT_LEADER_FOR_PARTITION',
      wrappedTwice(protocolError('NOT_LEADER_FOR_PARTITION', 6, true)),
      'CONNECTION',
      true,
    ],
    ['wrapped REQUEST_TIMED_OUT', wrappedTwice(protocolError('REQUEST_TIMED_OUT', 7, true)), 'TIMEOUT', true],
    ['wrapped NETWORK_EXCEPTION', wrappedTwice(protocolError('NETWORK_EXCEPTION', 13, true)), 'CONNECTION', true],
    [
      'a retriable flag anywhere in the chain',
      wrappedTwice(new KafkaJSError('flaky', { retriable: true })),
      'CONNECTION',
      true,
    ],
    ['handshake never completed (silent server)', exhausted(new Error('Broker not connected')), 'CONNECTION', true],
    ['socket error code', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'CONNECTION', true],
    ['an aborted call (AbortSignal.timeout)', new DOMException('timed out', 'TimeoutError'), 'TIMEOUT', true],
    ['topic authorization', protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false), 'PERMISSION_DENIED', false],
    [
      'wrapped topic authorization',
      wrappedTwice(protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false)),
      'PERMISSION_DENIED',
      false,
    ],
    [
      'a group DeleteGroups did not find',
      Object.assign(new KafkaJSError('Error in DeleteGroups', { retriable: false }), {
        groups: [{ groupId: 'g', errorCode: 69, error: protocolError('GROUP_ID_NOT_FOUND', 69, false) }],
      }),
      'NOT_FOUND',
      false,
    ],
    ['message too large', protocolError('MESSAGE_TOO_LARGE', 10, false), 'PAYLOAD_TOO_LARGE', false],
    ['leader moved', protocolError('NOT_LEADER_FOR_PARTITION', 6, true), 'CONNECTION', true],
    ['non-retriable', new KafkaJSNonRetriableError('broken'), 'INTERNAL', false],
    ['non-retriable around a bug', new KafkaJSNonRetriableError(new TypeError('x is undefined')), 'INTERNAL', false],
    [
      'SASL failure',
      new (KafkaJSSASLAuthenticationError as ErrorClass)('SASL PLAIN authentication failed'),
      'PERMISSION_DENIED',
      false,
    ],
  ])('%s', (_label, error, code, retryable) => {
    expect(classifyKafkaError(error)).toEqual({ code, retryable });
  });

  test('errors that are not from kafkajs are left to core: INTERNAL, not retryable', () => {
    expect(classifyKafkaError(new Error('boom'))).toBeUndefined();
    expect(backendDriver(backend, { brokers: ['a:9092'] }).classify(new TypeError('a bug'))).toEqual({
      code: 'INTERNAL',
      retryable: false,
    });
  });
});

describe('kafkajs log routing', () => {
  test('drops fields that could carry credentials and logs one level down', () => {
    const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
    const capture = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      lines.push({ level, message, fields });
    const logger: Logger = {
      debug: capture('debug'),
      info: capture('info'),
      warn: capture('warn'),
      error: capture('error'),
    };
    const log = kafkaLogCreator(logger)(logLevel.WARN);
    log({
      namespace: 'Connection',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: {
        timestamp: 'now',
        message: 'Connection error',
        broker: 'a:9092',
        sasl: { mechanism: 'plain', username: 'app', password: 'hunter2-secret' },
      },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('warn');
    expect(lines[0]?.fields).toEqual({ source: 'kafkajs:Connection', broker: 'a:9092' });
    expect(JSON.stringify(lines)).not.toContain('hunter2-secret');
  });

  test('credentials nested anywhere in a line, and the configured password itself, never reach the logger', () => {
    const lines: unknown[] = [];
    const capture = (message: string, fields?: Record<string, unknown>) => lines.push({ message, fields });
    const logger: Logger = { debug: capture, info: capture, warn: capture, error: capture };
    const log = kafkaLogCreator(logger, 'p4ss-w0rd-xyz')(logLevel.WARN);
    log({
      namespace: 'Connection',
      level: logLevel.WARN,
      label: 'WARN',
      log: {
        timestamp: 'now',
        message: 'auth with p4ss-w0rd-xyz failed for kafka://app:p4ss-w0rd-xyz@a:9092',
        config: { brokers: ['a:9092'], sasl: { password: 'p4ss-w0rd-xyz' }, nested: [{ secretKey: 'p4ss-w0rd-xyz' }] },
        note: 'the password p4ss-w0rd-xyz',
      },
    });
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain('p4ss-w0rd-xyz');
    expect(lines[0]).toMatchObject({ fields: { config: { brokers: ['a:9092'], nested: [{}] } } });
  });
});
