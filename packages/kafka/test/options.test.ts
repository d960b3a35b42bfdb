import type { Logger } from '@eventport/core';
import { classifyKafkaError, createKafkaAdapter, KafkaDriver } from '@eventport/kafka';
import { describe, expect, test } from '@jest/globals';
import {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  logLevel,
} from 'kafkajs';
import { kafkaLogCreator } from '../src/logging';
import { resolveKafkaOptions } from '../src/options';

/** What kafkajs builds from a broker's error code (createErrorFromCode). */
const protocolError = (type: string, code: number, retriable: boolean) =>
  new KafkaJSProtocolError(Object.assign(new Error(type), { type, code, retriable }));

// Configuration checks and error mapping: no broker involved, nothing here connects.
describe('kafka options', () => {
  test('capabilities: topic admin on by default and switchable, no broker-side delivery count', () => {
    const driver = new KafkaDriver({ brokers: 'a:9092, b:9093' });
    expect(driver.capabilities.topicAdmin).toBe(true);
    expect(driver.capabilities.deliveryCount).toBe(false);
    expect(new KafkaDriver({ brokers: ['a:9092'], topicAdmin: false }).capabilities.topicAdmin).toBe(false);
  });

  test.each([
    [{ heartbeatInterval: 10_000, sessionTimeout: 6_000 }, /heartbeatInterval: must be below sessionTimeout/],
    [{ compression: 'brotli' }, /compression: Invalid option: expected one of "none"\|"gzip"\|"snappy"\|"lz4"\|"zstd"/],
    [{ compression: 'snappy' }, /needs a codec registered/],
    [{ acks: 0 }, /acks: Invalid option: expected one of -1\|1/],
    [{ idempotent: true, acks: 1 }, /idempotent: needs acks -1/],
    [{ sessionTimeout: -1 }, /sessionTimeout: Too small: expected number to be >0/],
    [{ brokers: 'no-port' }, /host:port/],
    [{ consumerGroupId: 'g' }, /consumerGroupId: must be a function/],
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
      sasl: undefined,
      acks: -1,
      idempotent: false,
      compression: 'none',
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 20_000,
      subscribeTimeoutMs: 30_000,
      topicAdmin: true,
      consumerGroupId: expect.any(Function),
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
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
      sasl: { mechanism: 'scram-sha-256', username: 'app', password: 'hunter2-secret' },
      retries: 0,
    });
    const tls = { servername: 'kafka.internal' };
    expect(resolveKafkaOptions({ ssl: tls, clientId: 'explicit' }, env)).toMatchObject({
      ssl: tls,
      clientId: 'explicit',
    });
    // Numbers and flags must be numbers and booleans, as before the options went through zod.
    expect(() => resolveKafkaOptions({ requestTimeout: '30000' } as never, {})).toThrow(
      /requestTimeout: Invalid input: expected number, received string/,
    );
    expect(() => resolveKafkaOptions({ topicAdmin: 'false' } as never, {})).toThrow(
      /topicAdmin: Invalid input: expected boolean, received string/,
    );
    expect(() => resolveKafkaOptions({ retries: -1 }, {})).toThrow(/retries: Too small: expected number to be >=0/);
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
      /saslMechanism: needs saslUsername and saslPassword/,
    );
  });
});

describe('kafka error mapping', () => {
  test.each([
    ['connection refused', new KafkaJSConnectionError('refused'), 'CONNECTION', true],
    ['request timeout', new KafkaJSRequestTimeoutError('slow'), 'TIMEOUT', true],
    [
      'retries exhausted on a connection error',
      new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('refused'), { retryCount: 2, retryTime: 10 }),
      'CONNECTION',
      true,
    ],
    ['topic authorization', protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false), 'PERMISSION_DENIED', false],
    ['message too large', protocolError('MESSAGE_TOO_LARGE', 10, false), 'PAYLOAD_TOO_LARGE', false],
    ['leader moved', protocolError('NOT_LEADER_FOR_PARTITION', 6, true), 'CONNECTION', true],
    ['non-retriable', new KafkaJSNonRetriableError('broken'), 'INTERNAL', false],
  ])('%s', (_label, error, code, retryable) => {
    expect(classifyKafkaError(error)).toEqual({ code, retryable });
  });

  test('errors that are not from kafkajs are left to the portable layer', () => {
    expect(classifyKafkaError(new Error('boom'))).toBeUndefined();
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
});
