import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { backendDriver, type Logger, silentLogger } from '@eventport/core';
import { backend, createKafkaAdapter } from '@eventport/kafka';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { testBroker } from './broker';

const broker = testBroker();
const password = `sasl-pw-${randomUUID()}`;
let silent: Server;
const sockets = new Set<Socket>();

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

/** Every way an error gets printed: message, stack, JSON, inspect at any depth, for each link of its cause chain. */
function renderings(error: unknown): string[] {
  const out = [
    String(error),
    JSON.stringify(error) ?? '',
    inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
  ];
  for (let link = error, depth = 0; link instanceof Error && depth < 10; link = link.cause, depth++) {
    out.push(link.message, link.stack ?? '', JSON.stringify(link) ?? '');
  }
  return out;
}

test.each([
  ['the mock cluster (SASL is refused)', () => broker.servers],
  ['a server that accepts TCP and never answers', () => [`127.0.0.1:${(silent.address() as { port: number }).port}`]],
])('SASL plain against %s: the password is in no error, cause, health answer or log line', async (_label, brokers) => {
  const lines: string[] = [];
  const capture = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push(JSON.stringify({ level, message, fields }), inspect(fields, { depth: Number.POSITIVE_INFINITY }));
  const logger: Logger = {
    debug: capture('debug'),
    info: capture('info'),
    warn: capture('warn'),
    error: capture('error'),
  };
  const sasl = { saslMechanism: 'plain', saslUsername: 'app', saslPassword: password } as const;
  const adapter = createKafkaAdapter({
    brokers: brokers(),
    ...sasl,
    topicAdmin: false,
    logger,
    deadlines: { connectMs: 4_000, healthMs: 3_000, publishMs: 4_000 },
  });
  const errors: unknown[] = [];
  await adapter.connect().then(
    () => errors.push(new Error('connect succeeded')),
    (error: unknown) => errors.push(error),
  );
  const health = await adapter.health();
  await adapter.publish({ topic: 'ep-kafka-secrets', data: { n: 1 } }).catch((error: unknown) => errors.push(error));
  await adapter.disconnect();
  // What the driver itself throws, before core wraps it.
  const driver = backendDriver(backend, { brokers: brokers(), ...sasl }, { logger: silentLogger });
  await driver.connect(AbortSignal.timeout(4_000)).catch((error: unknown) => errors.push(error));
  await driver.disconnect();

  expect(errors).toHaveLength(3);
  expect(health.ok).toBe(false);
  expect(errors[0]).toMatchObject({
    code: expect.stringMatching(/^(CONNECTION|TIMEOUT|PERMISSION_DENIED|UNSUPPORTED)$/),
  });
  // The search itself finds a password buried in a cause.
  expect(renderings(new Error('outer', { cause: new Error(password) })).some((text) => text.includes(password))).toBe(
    true,
  );
  const texts = [...errors.flatMap(renderings), JSON.stringify(health), ...lines];
  const found = texts.filter((text) => text.includes(password)).length;
  console.log(
    `kafka secrets (${_label}): ${errors.length} errors, ${lines.length / 2} log lines checked; password found ${found} times; first error: ${String(errors[0])}`,
  );
  expect(found).toBe(0);
});
