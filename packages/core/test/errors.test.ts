import { inspect } from 'node:util';
import {
  availableBackends,
  classifyThrough,
  configFields,
  createAdapter,
  describeError,
  EventportError,
  loadBackendConfig,
  redact,
  registerAdapter,
  silentLogger,
} from '@eventport/core';
import { createMemoryAdapter } from '@eventport/memory';
import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';

const sampleBackend = {
  name: 'sample',
  env: { url: 'SAMPLE_URL', servers: 'SAMPLE_SERVERS', clientId: 'SAMPLE_CLIENT_ID' },
  schema: z.strictObject({
    url: configFields.url(['amqp', 'amqps']).default('amqp://localhost:5672'),
    servers: configFields.hostPorts.default(['localhost:9092']),
    clientId: z.string().default('eventport'),
    ssl: configFields.flag.default(false),
    maxLength: z.number().optional(),
  }),
  announceDefaults: ['url'],
};

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
      loadBackendConfig(sampleBackend, {}, {
        SAMPLE_URL: 'http://guest:supersecret@localhost:5672',
      } as NodeJS.ProcessEnv);
    expect(attempt).toThrow(/SAMPLE_URL/);
    expect(attempt).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    try {
      attempt();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('supersecret');
    }
    expect(() => loadBackendConfig(sampleBackend, {}, { SAMPLE_SERVERS: 'not a broker' } as NodeJS.ProcessEnv)).toThrow(
      /SAMPLE_SERVERS/,
    );
  });

  test('env vars < overrides, with defaults for the rest', () => {
    const config = loadBackendConfig(sampleBackend, { clientId: 'billing' }, {
      SAMPLE_SERVERS: 'a:9092, b:9093',
      SAMPLE_CLIENT_ID: 'x',
    } as NodeJS.ProcessEnv);
    expect(config).toMatchObject({ servers: ['a:9092', 'b:9093'], clientId: 'billing', ssl: false });
  });

  test('a typo in an option fails, naming the key and the closest valid one', () => {
    expect(() => loadBackendConfig(sampleBackend, { urll: 'amqp://x', maxLenght: 10 }, {})).toThrow(
      /unknown options "urll" \(did you mean "url"\?\), "maxLenght" \(did you mean "maxLength"\?\)/,
    );
  });

  test('a default a user may not expect is announced once', () => {
    const lines: string[] = [];
    const logger = { ...silentLogger, info: (message: string) => lines.push(message) };
    loadBackendConfig(sampleBackend, {}, {}, logger);
    loadBackendConfig(sampleBackend, {}, {}, logger);
    expect(lines).toEqual(['sample: SAMPLE_URL is not set; using the default']);
  });
});

describe('error causes are sanitised copies', () => {
  test('what a client attached to its error (the AUTH command and password) is gone from every serialisation', () => {
    const clientError = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'auth', args: ['default', 'hunter2-secret'] },
      code: 'WRONGPASS',
    });
    const wrapped = new EventportError('PERMISSION_DENIED', 'cannot connect', {
      cause: new Error('outer', { cause: clientError }),
    });
    const everything = [
      wrapped.message,
      wrapped.stack ?? '',
      JSON.stringify(wrapped),
      JSON.stringify(wrapped.cause),
      inspect(wrapped, { depth: Number.POSITIVE_INFINITY }),
      describeError(wrapped),
    ].join('\n');
    expect(everything).not.toContain('hunter2-secret');
    expect(everything).toContain('WRONGPASS invalid username-password pair');
    expect(((wrapped.cause as Error).cause as { code: string }).code).toBe('WRONGPASS');
  });
});

describe('classifyThrough: a client error classified through its wrappers', () => {
  const notFound = { code: 'NOT_FOUND', retryable: false } as const;
  const byName = (link: { name?: unknown }) => (link.name === 'Missing' ? notFound : undefined);
  const named = (name: string, message = '', extra: object = {}) =>
    Object.assign(new Error(message), { name, ...extra });

  test('the outermost link that says something decides, through causes, AggregateErrors and client wrapper fields', () => {
    expect(classifyThrough(new Error('outer', { cause: named('Missing') }), byName)).toEqual(notFound);
    expect(classifyThrough(new AggregateError([new Error('a'), named('Missing')]), byName)).toEqual(notFound);
    const wrapper = { name: 'PublishError', inner: named('Missing') };
    expect(classifyThrough(wrapper, byName)).toBeUndefined();
    expect(classifyThrough(wrapper, byName, (link) => [link.inner])).toEqual(notFound);
    // The outer link is known, so a cause it wraps does not matter.
    const outer = named('Missing', 'x', { cause: named('Other', 'connect ECONNREFUSED 127.0.0.1:1') });
    expect(classifyThrough(outer, byName)).toEqual(notFound);
  });

  test('an EventportError keeps its own code; socket errors and deadlines need no driver rule', () => {
    const ours = new EventportError('RESOURCE_EXHAUSTED', 'busy', { retryable: false });
    expect(classifyThrough(new Error('wrapped', { cause: ours }), byName)).toEqual({
      code: 'RESOURCE_EXHAUSTED',
      retryable: false,
    });
    const connection = { code: 'CONNECTION', retryable: true };
    expect(classifyThrough(Object.assign(new Error('read'), { code: 'ECONNRESET' }), byName)).toEqual(connection);
    expect(classifyThrough(new Error('request failed: getaddrinfo ENOTFOUND broker'), byName)).toEqual(connection);
    expect(classifyThrough(new DOMException('signal timed out', 'TimeoutError'), byName)).toEqual({
      code: 'TIMEOUT',
      retryable: true,
    });
  });

  test('nothing known, a cycle, or not an object: undefined', () => {
    const cyclic: { name: string; cause?: unknown } = { name: 'Loop' };
    cyclic.cause = cyclic;
    expect(classifyThrough(cyclic, byName)).toBeUndefined();
    expect(classifyThrough('text', byName)).toBeUndefined();
    expect(classifyThrough(new TypeError('bug'), byName)).toBeUndefined();
  });
});

describe('the factory', () => {
  test('an EVENT_TYPE that cannot be a package name is UNKNOWN_BACKEND', async () => {
    await expect(createAdapter('Not A Name!')).rejects.toThrow(expect.objectContaining({ code: 'UNKNOWN_BACKEND' }));
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
