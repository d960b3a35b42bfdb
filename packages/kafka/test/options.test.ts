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
    [{ heartbeatInterval: 10_000, sessionTimeout: 6_000 }, /heartbeatInterval must be below sessionTimeout/],
    [{ compression: 'brotli' }, /compression must be one of/],
    [{ compression: 'snappy' }, /needs a codec registered/],
    [{ acks: 0 }, /acks must be -1 or 1/],
    [{ idempotent: true, acks: 1 }, /idempotent needs acks -1/],
    [{ sessionTimeout: -1 }, /sessionTimeout must be a positive integer/],
    [{ brokers: 'no-port' }, /host:port/],
    [{ consumerGroupId: 'g' }, /consumerGroupId must be a function/],
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
