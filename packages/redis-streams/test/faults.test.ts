import { createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { type EventAdapter, isEventportError, type Logger } from '@eventport/core';
import { createRedisStreamsAdapter } from '@eventport/redis-streams';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { PrivateRedis } from './private-redis.js';

const SECRET = 'S3cret-Hunter2-right';
const WRONG = 'Wr0ng-Guess-left';
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const adapters: EventAdapter[] = [];

function open(options: Parameters<typeof createRedisStreamsAdapter>[0]): EventAdapter {
  const adapter = createRedisStreamsAdapter({ claimIdleMs: 2_000, claimIntervalMs: 500, logger: quiet, ...options });
  adapters.push(adapter);
  return adapter;
}

async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await call();
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

/** Every way an error can be printed: message, stack, JSON, util.inspect at any depth, for it and each cause. */
function renderings(error: unknown): string[] {
  const texts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    const { message, stack } = current as { message?: unknown; stack?: unknown };
    texts.push(String(message), String(stack), JSON.stringify(current) ?? '', inspect(current, { depth: Infinity }));
    current = (current as { cause?: unknown }).cause;
  }
  return texts;
}

/** Before the server they talk to goes away, so that no client keeps reconnecting to it. */
const closeAdapters = () => Promise.allSettled(adapters.splice(0).map((adapter) => adapter.disconnect()));

describe('a password-protected private Redis', () => {
  const redis = new PrivateRedis(true, SECRET);
  const logs: string[] = [];
  const capture: Logger = {
    debug: (message, fields) => logs.push(`debug ${message} ${inspect(fields, { depth: Infinity })}`),
    info: (message, fields) => logs.push(`info ${message} ${inspect(fields, { depth: Infinity })}`),
    warn: (message, fields) => logs.push(`warn ${message} ${inspect(fields, { depth: Infinity })}`),
    error: (message, fields) => logs.push(`error ${message} ${inspect(fields, { depth: Infinity })}`),
  };
  /** Everything a user or an operator can see; checked for both passwords at the end. */
  const seen: string[] = [];
  beforeAll(() => redis.start());
  afterAll(async () => {
    await closeAdapters();
    await redis.stop();
  });

  test('a wrong password: PERMISSION_DENIED, not retryable, naming host and port', async () => {
    const adapter = open({ url: redis.urlWith(WRONG), logger: capture });
    const { error } = await timed(() => adapter.connect());
    expect(isEventportError(error, 'PERMISSION_DENIED')).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(false);
    expect((error as Error).message).toContain(`127.0.0.1:${new URL(redis.url).port}`);
    // ioredis keeps the HELLO/AUTH command with its arguments on the error it emits.
    seen.push(...renderings(error));
    const health = await adapter.health();
    expect(health.ok).toBe(false);
    seen.push(JSON.stringify(health), inspect(health, { depth: Infinity }));
    const published = await timed(() => adapter.publish({ topic: 'secret-check', data: {} }));
    expect(isEventportError(published.error, 'PERMISSION_DENIED')).toBe(true);
    seen.push(...renderings(published.error));
  });

  test('the right password; an outage of 35 s: publish and health answer in time, then everything recovers', async () => {
    const adapter = open({ url: redis.urlWith(), logger: capture });
    const topic = `faults-${Date.now()}`;
    const received = new Set<number>();
    const errors: unknown[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(topic, (message) => void received.add(message.data.n), {
      onError: (error) => errors.push(error),
    });
    await adapter.publish({ topic, data: { n: 0 } });
    expect((await adapter.health()).ok).toBe(true);

    await redis.pause();
    const outageStarted = Date.now();
    const publish = await timed(() => adapter.publish({ topic, data: { n: -1 } }));
    const health = await timed(() => adapter.health());
    console.log(`outage: publish settled in ${publish.ms} ms, health answered in ${health.ms} ms`);
    expect(publish.ms).toBeLessThan(30_000 + 1_000);
    expect(isEventportError(publish.error, 'CONNECTION') || isEventportError(publish.error, 'TIMEOUT')).toBe(true);
    expect((publish.error as { retryable: boolean }).retryable).toBe(true);
    expect(health.ms).toBeLessThan(5_000 + 1_000);
    expect(health.value?.ok).toBe(false);
    seen.push(...renderings(publish.error), JSON.stringify(health.value));
    // The outage lasts longer than the publish deadline: nothing may wait for it to end.
    await sleep(35_000 - (Date.now() - outageStarted));
    const late = await timed(() => adapter.publish({ topic, data: { n: -2 } }));
    expect(late.ms).toBeLessThan(30_000 + 1_000);
    seen.push(...renderings(late.error));
    await redis.start();

    // ioredis reconnects on its own schedule (at most ~5 s apart); the application retries, as it would.
    for (let attempt = 1; ; attempt++) {
      const retried = await timed(() => adapter.publish({ topic, data: { n: 1 } }));
      if (retried.error === undefined) break;
      seen.push(...renderings(retried.error));
      expect(attempt).toBeLessThan(40);
      await sleep(500);
    }
    const deadline = Date.now() + 30_000;
    while (!received.has(1) && Date.now() < deadline) await sleep(50);
    expect([...received].sort()).toEqual([0, 1]);
    expect((await adapter.health()).ok).toBe(true);
    await subscription.close();
    for (const error of errors) seen.push(...renderings(error));
    expect(errors.length).toBeGreaterThan(0);
  }, 120_000);

  test('a server frozen mid-connection (SIGSTOP): publish and health still settle by their deadlines', async () => {
    const adapter = open({ url: redis.urlWith(), logger: capture });
    await adapter.connect();
    redis.signal('SIGSTOP');
    try {
      const [publish, health] = await Promise.all([
        timed(() => adapter.publish({ topic: 'frozen', data: {} })),
        timed(() => adapter.health()),
      ]);
      console.log(`frozen server: publish settled in ${publish.ms} ms, health answered in ${health.ms} ms`);
      expect(publish.ms).toBeLessThan(30_000 + 1_000);
      expect(isEventportError(publish.error, 'TIMEOUT')).toBe(true);
      expect(health.ms).toBeLessThan(5_000 + 1_000);
      expect(health.value?.ok).toBe(false);
      seen.push(...renderings(publish.error), JSON.stringify(health.value));
    } finally {
      redis.signal('SIGCONT');
    }
  }, 60_000);

  test('neither password appears in any error, cause, health report or debug log line', () => {
    seen.push(...logs);
    expect(logs.length).toBeGreaterThan(0);
    const occurrences = seen.filter((text) => text.includes(SECRET) || text.includes(WRONG));
    console.log(`secret check: ${seen.length} renderings and log lines, ${occurrences.length} with a password`);
    expect(occurrences).toEqual([]);
  });
});

describe('a server that accepts TCP and never answers', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  let url = '';
  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `redis://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await closeAdapters();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('health() answers within its 5 s deadline; connect and publish fail within theirs', async () => {
    const health = await timed(() => open({ url }).health());
    const connect = await timed(() => open({ url }).connect());
    const publish = await timed(() => open({ url }).publish({ topic: 'silent', data: {} }));
    console.log(`silent server: health ${health.ms} ms, connect ${connect.ms} ms, publish ${publish.ms} ms`);
    expect(health.value?.ok).toBe(false);
    expect(health.ms).toBeLessThan(5_000 + 1_000);
    expect(connect.error).toBeDefined();
    expect(connect.ms).toBeLessThan(10_000 + 1_000);
    expect((connect.error as { retryable: boolean }).retryable).toBe(true);
    expect(publish.error).toBeDefined();
    expect(publish.ms).toBeLessThan(30_000 + 1_000);
  }, 60_000);
});
