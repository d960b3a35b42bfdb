import {
  availableBackends,
  createAdapter,
  describeError,
  EventportError,
  loadBackendConfig,
  redact,
  registerAdapter,
} from '@eventport/core';
import { createMemoryAdapter } from '@eventport/memory';
import { describe, expect, test } from '@jest/globals';

describe('credentials never appear in errors', () => {
  test('redact removes passwords from URLs and secret assignments', () => {
    expect(redact('cannot reach amqp://app:s3cr3t@rabbit:5672/vhost')).toBe(
      'cannot reach amqp://app:***@rabbit:5672/vhost',
    );
    expect(redact('redis://:hunter2@cache:6379')).toBe('redis://***@cache:6379');
    expect(redact('password=hunter2 token: abc123')).toBe('password=*** token: ***');
    expect(redact('{"secretAccessKey":"wJalrXUtnFEMI"}')).not.toContain('wJalrXUtnFEMI');
  });

  test('EventportError messages and describeError are redacted', () => {
    const error = new EventportError('CONNECTION', 'lost rediss://user:pa55word@host:6380');
    expect(error.message).not.toContain('pa55word');
    expect(describeError(new Error('amqps://u:topsecret@h'))).not.toContain('topsecret');
  });

  test('invalid configuration names the env var and hides the secret in the URL', () => {
    const attempt = () =>
      loadBackendConfig('rabbitmq', {}, {
        RABBITMQ_URL: 'http://guest:supersecret@localhost:5672',
      } as NodeJS.ProcessEnv);
    expect(attempt).toThrow(/RABBITMQ_URL/);
    expect(attempt).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    try {
      attempt();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('supersecret');
    }
    expect(() => loadBackendConfig('kafka', {}, { KAFKA_SERVER: 'not a broker' } as NodeJS.ProcessEnv)).toThrow(
      /KAFKA_SERVER/,
    );
    expect(() => loadBackendConfig('pubsub', {}, {} as NodeJS.ProcessEnv)).toThrow(/GCP_PROJECT_ID/);
  });

  test('env vars < overrides, with defaults for the rest', () => {
    const config = loadBackendConfig('kafka', { clientId: 'billing' }, {
      KAFKA_SERVER: 'a:9092, b:9093',
      KAFKA_CLIENT_ID: 'x',
    } as NodeJS.ProcessEnv);
    expect(config).toMatchObject({ brokers: ['a:9092', 'b:9093'], clientId: 'billing', ssl: false });
  });
});

describe('the factory', () => {
  test('an unknown EVENT_TYPE lists the valid ones', async () => {
    await expect(createAdapter('nope')).rejects.toThrow(
      /EVENT_TYPE="nope" is not a known backend; use one of: kafka, kinesis, memory, pubsub, rabbitmq, redis-streams/,
    );
  });

  test('defaults to memory and registers custom backends', async () => {
    const memory = await createAdapter(undefined);
    expect(memory.backend).toBe('memory');
    await memory.disconnect();
    registerAdapter('in-house', () => createMemoryAdapter());
    expect(availableBackends()).toContain('in-house');
    const custom = await createAdapter('in-house');
    expect(custom.capabilities.orderingKeys).toBe(true);
    await custom.disconnect();
  });
});
