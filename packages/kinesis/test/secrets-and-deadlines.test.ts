import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { DescribeStreamSummaryCommand, type KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import type { EventAdapter, Logger, SubscriptionHealth } from '@eventport/core';
import { createKinesisAdapter, type KinesisOptions } from '@eventport/kinesis';
import { eventually } from '@eventport/testkit';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();
const SECRET = `fakeSecret/${randomUUID()}+K7MDENG`;
const credentials = { accessKeyId: 'AKIAEVENTPORTFAKE', secretAccessKey: SECRET };

/** Everything a caller could see: errors (all serialisations, cause chains), log lines, health answers. */
const seen: unknown[] = [];
const logger: Logger = {
  debug: (message, fields) => void seen.push({ message, fields }),
  info: (message, fields) => void seen.push({ message, fields }),
  warn: (message, fields) => void seen.push({ message, fields }),
  error: (message, fields) => void seen.push({ message, fields }),
};
const renderings = (value: unknown): string[] => {
  const out = [inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }), safeJson(value)];
  for (let error = value, depth = 0; error instanceof Error && depth < 10; depth++) {
    out.push(String(error.message), String(error.stack), safeJson(error), Object.keys(error).join(','));
    error = (error as { cause?: unknown }).cause;
  }
  return out;
};
const safeJson = (value: unknown) => {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
};
const secretOccurrences = () =>
  seen.flatMap(renderings).reduce((count, text) => count + text.split(SECRET).length - 1, 0);
const caught = async (attempt: Promise<unknown>) => {
  try {
    await attempt;
    return undefined;
  } catch (error) {
    seen.push(error);
    return error;
  }
};

const sockets = new Set<Socket>();
const silent = createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
});
const adapters: EventAdapter[] = [];
beforeAll(() => new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve)));
afterAll(async () => {
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

test('against a server that accepts TCP and never answers, connect, health and publish end within their deadlines', async () => {
  const { port } = silent.address() as { port: number };
  const open = () => {
    const adapter = createKinesisAdapter({
      ...credentials,
      endpoint: `http://127.0.0.1:${port}`,
      checkpointStore: 'memory',
      logger,
    });
    adapters.push(adapter);
    return adapter;
  };
  const timed = async (call: () => Promise<unknown>) => {
    const started = Date.now();
    const result = await call();
    return { result, ms: Date.now() - started };
  };
  const connect = await timed(() => caught(open().connect()));
  const health = await timed(() => open().health());
  seen.push(health.result);
  const publish = await timed(() => caught(open().publish({ topic: 'silent', data: { n: 1 } })));
  const subscribe = await timed(() => caught(open().subscribe('silent', () => undefined, { group: 'g' })));
  console.log(
    `kinesis against a silent server (default deadlines): connect ${connect.ms} ms, health ${health.ms} ms, publish ${publish.ms} ms, subscribe ${subscribe.ms} ms`,
  );
  expect(connect.result).toMatchObject({ code: expect.stringMatching(/^(CONNECTION|TIMEOUT)$/), retryable: true });
  expect(health.result).toMatchObject({ ok: false });
  expect(publish.result).toMatchObject({ retryable: true });
  expect(subscribe.result).toBeDefined();
  // Core's defaults: connect 10 s, health 5 s, publish 30 s; the client's own 5 s request timeout ends connect
  // (and so publish and subscribe, which connect first) before core's deadline; health is cut at its 5 s.
  expect(connect.ms).toBeLessThan(7_000);
  expect(health.ms).toBeLessThan(5_000 + 1_000);
  expect(publish.ms).toBeLessThan(7_000);
  expect(subscribe.ms).toBeLessThan(7_000);
}, 120_000);

/** An adapter on kinesis-local with the fake credentials, closed after all tests. */
const openLocal = (options: KinesisOptions) => {
  const adapter = createKinesisAdapter({ ...credentials, endpoint: env.AWS_ENDPOINT_URL, logger, ...options });
  adapters.push(adapter);
  return adapter;
};

test('against kinesis-local, errors from publish, admin and a failing subscription carry no credential', async () => {
  const adapter = openLocal({ checkpointStore: 'memory', idlePollIntervalMs: 100 });
  const strict = openLocal({ autoCreateStreams: false });
  const stream = `secrets-${randomUUID().slice(0, 8)}`;
  expect(await caught(strict.publish({ topic: stream, data: 1 }))).toMatchObject({ code: 'NOT_FOUND' });
  expect(await caught(adapter.deleteTopic(stream))).toMatchObject({ code: 'NOT_FOUND' });
  // Twice so far this create outlived its 30 s deadline, cause not found: say what kinesis-local shows then.
  await adapter.createTopic(stream).catch(async (error: unknown) => {
    const client = adapter.native() as KinesisClient;
    const [status, streams] = await Promise.all([
      client.send(new DescribeStreamSummaryCommand({ StreamName: stream })).then(
        (answer) => answer.StreamDescriptionSummary?.StreamStatus,
        (failure: Error) => failure.name,
      ),
      client.send(new ListStreamsCommand({})).then(
        (answer) => `${answer.StreamNames?.length} streams`,
        (failure: Error) => failure.name,
      ),
    ]);
    console.log(`kinesis createTopic "${stream}" failed (${error}); the stream is now ${status}; ${streams}`);
    throw error;
  });
  expect(await caught(adapter.createTopic(stream))).toMatchObject({ code: 'ALREADY_EXISTS' });
  // A subscription whose stream is deleted under it fails to receive: core reports and reconnects.
  const errors: unknown[] = [];
  const subscription = await adapter.subscribe(stream, () => undefined, {
    group: 'g',
    onError: (error) => void errors.push(error),
  });
  await strict.deleteTopic(stream);
  await eventually(() => errors.length > 0, 30_000);
  const states: SubscriptionHealth[] = [];
  states.push(...(await adapter.health()).subscriptions);
  await subscription.close();
  seen.push(...errors, states);
  console.log(
    `kinesis secret scan: ${seen.length} errors, log lines and health answers, ${secretOccurrences()} occurrences of the secret key`,
  );
  expect(errors.length).toBeGreaterThan(0);
  expect(secretOccurrences()).toBe(0);
  await adapter.deleteTopic(stream).catch(() => undefined);
}, 120_000);

test('a full shard quota fails createTopic and an auto-creating publish at once, not at the deadline', async () => {
  // kinesis-local's quota is SHARD_LIMIT (scripts/brokers/up.sh); a default AWS account has 200 or 500.
  const adapter = openLocal({ checkpointStore: 'memory', shardCount: 1_000 });
  const started = Date.now();
  const created = await caught(adapter.createTopic(`quota-${randomUUID().slice(0, 8)}`));
  const published = await caught(adapter.publish({ topic: `quota-${randomUUID().slice(0, 8)}`, data: 1 }));
  const ms = Date.now() - started;
  console.log(`kinesis over its shard quota: createTopic and publish failed after ${ms} ms together`);
  for (const error of [created, published]) {
    expect(error).toMatchObject({ code: 'RESOURCE_EXHAUSTED', retryable: false });
    expect(String((error as Error).message)).toMatch(/shard limit/);
  }
  expect(ms).toBeLessThan(10_000);
  expect(await adapter.listTopics()).not.toEqual(expect.arrayContaining([expect.stringMatching(/^quota-/)]));
}, 60_000);
