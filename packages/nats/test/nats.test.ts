import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import {
  backendDriver,
  createAdapter,
  type EventAdapter,
  EventportError,
  type Logger,
  RESERVED_HEADERS,
} from '@eventport/core';
import { backend, classifyNatsError, createNatsAdapter } from '@eventport/nats';
import { eventually, sleep, Tally } from '@eventport/testkit';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { connect, errors, nkeys } from '@nats-io/transport-node';
import { PrivateNats } from './private-nats';

jest.setTimeout(60_000);

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const run = randomUUID().slice(0, 8);
const topicFor = (name: string) => `nats-test-${name}-${run}`;
const adapters: EventAdapter[] = [];
const open = (options: Parameters<typeof createNatsAdapter>[0] = {}) => {
  const adapter = createNatsAdapter({ url, ...options });
  adapters.push(adapter);
  return adapter;
};
const created: string[] = [];

afterAll(async () => {
  const cleaner = open();
  for (const topic of created) await cleaner.deleteTopic(topic).catch(() => undefined);
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
});

/** Logs everything into one string, so a test can look for secrets in it. */
function capturingLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const write = (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${message} ${inspect(fields, { depth: 10 })}`);
  return { logger: { debug: write, info: write, warn: write, error: write }, text: () => lines.join('\n') };
}

/** Every way an error can be printed. */
const printed = (error: unknown) =>
  [String(error), (error as Error)?.stack, inspect(error, { depth: 10 }), JSON.stringify(error)].join('\n');

describe('configuration', () => {
  test('an invalid NATS_URL, an unknown option and a missing creds file name what to fix', async () => {
    const env = { ...process.env };
    try {
      process.env.NATS_URL = 'http://127.0.0.1:4222';
      await expect(createAdapter('nats')).rejects.toMatchObject({
        code: 'INVALID_CONFIG',
        message: expect.stringMatching(/NATS_URL: must be comma-separated nats:\/\/ or tls:\/\//),
      });
      process.env.NATS_URL = url;
      process.env.NATS_CREDS = '/nonexistent/user.creds';
      await expect(createAdapter('nats')).rejects.toMatchObject({ message: expect.stringMatching(/NATS_CREDS/) });
    } finally {
      process.env = env;
    }
    expect(() => createNatsAdapter({ url, ackWait: 5 } as never)).toThrow(/"ackWait" \(did you mean "ackWaitMs"\?\)/);
  });

  test('EVENT_TYPE=nats builds this backend from NATS_URL; several servers may be listed', async () => {
    const env = { ...process.env };
    try {
      process.env.NATS_URL = `nats://127.0.0.1:1,${url}`;
      const adapter = await createAdapter('nats');
      adapters.push(adapter);
      expect(adapter.backend).toBe('nats');
      expect((await adapter.health()).ok).toBe(true);
    } finally {
      process.env = env;
    }
  });
});

describe('secrets', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  let silentPort = 0;
  const secured = new PrivateNats({ user: 'app', pass: 'right-pass-a1b2' });

  beforeAll(async () => {
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
    await secured.start();
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    await secured.stop();
  });

  test('against a server that never answers: connect, publish and health end by their deadlines, without the password', async () => {
    const { logger, text } = capturingLogger();
    const adapter = open({
      url: `nats://app:silent-secret-x9@127.0.0.1:${silentPort}`,
      logger,
      deadlines: { connectMs: 1_500, publishMs: 2_000, healthMs: 1_000 },
    });
    let started = Date.now();
    const connectError = await adapter.connect().catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(1_500 + 2_000);
    expect(connectError).toBeInstanceOf(EventportError);
    expect(['CONNECTION', 'TIMEOUT']).toContain((connectError as EventportError).code);
    started = Date.now();
    const publishError = await adapter.publish({ topic: topicFor('silent'), data: 1 }).catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(2_000 + 2_000);
    expect(publishError).toBeInstanceOf(EventportError);
    const health = await adapter.health();
    expect(health.ok).toBe(false);
    for (const output of [printed(connectError), printed(publishError), JSON.stringify(health), text()]) {
      expect(output).not.toContain('silent-secret-x9');
    }
  });

  test('a token in the URL never shows either', async () => {
    const adapter = open({ url: `nats://token-abc-123@127.0.0.1:${silentPort}`, deadlines: { connectMs: 1_000 } });
    const error = await adapter.connect().catch((caught: unknown) => caught);
    expect(printed(error)).not.toContain('token-abc-123');
    expect(JSON.stringify(await adapter.health())).not.toContain('token-abc-123');
  });

  test('a wrong password is PERMISSION_DENIED, not retried, and not printed; the right one connects', async () => {
    const { logger, text } = capturingLogger();
    const wrong = open({ url: `nats://app:wrong-pass-z7@127.0.0.1:${secured.port}`, logger });
    const error = await wrong.connect().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'PERMISSION_DENIED', retryable: false });
    const health = await wrong.health();
    expect(health.ok).toBe(false);
    for (const output of [printed(error), JSON.stringify(health), text()]) {
      expect(output).not.toContain('wrong-pass-z7');
    }
    const viaEnvStyle = open({ url: `nats://127.0.0.1:${secured.port}`, user: 'app', password: 'right-pass-a1b2' });
    await viaEnvStyle.connect();
    const right = open({ url: `nats://app:right-pass-a1b2@127.0.0.1:${secured.port}` });
    expect((await right.health()).ok).toBe(true);
  });
});

describe('NKey authentication', () => {
  const user = nkeys.createUser();
  const server = new PrivateNats({ config: `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }` });
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  test('NATS_NKEY names a seed file; with it the adapter connects, without it the server refuses', async () => {
    const seedFile = path.join(mkdtempSync(path.join(tmpdir(), 'eventport-nkey-')), 'user.nk');
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    const env = { ...process.env };
    try {
      Object.assign(process.env, { NATS_URL: server.url, NATS_NKEY: seedFile });
      const adapter = await createAdapter('nats');
      adapters.push(adapter);
      expect((await adapter.health()).ok).toBe(true);
    } finally {
      process.env = env;
    }
    await expect(open({ url: server.url }).connect()).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });
});

describe('TLS', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eventport-nats-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const server = new PrivateNats({
    args: ['--tls', '--tlscert', file('server.crt'), '--tlskey', file('server.key')],
  });
  beforeAll(async () => {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
    );
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    );
    // With an IP in the URL the 3.x client checks the certificate against "localhost".
    writeFileSync(file('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1');
    openssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      file('san.ext'),
      '-out',
      file('server.crt'),
    );
    await server.start();
  });
  afterAll(() => server.stop());

  test('tls:// with NATS_CA trusting the server connects; without the CA the certificate is refused', async () => {
    const trusted = open({ url: `tls://127.0.0.1:${server.port}`, caFile: file('ca.crt') });
    const health = await trusted.health();
    expect(health.error).toBeUndefined();
    expect(health.ok).toBe(true);
    const untrusted = open({ url: `tls://127.0.0.1:${server.port}`, deadlines: { connectMs: 3_000 } });
    await expect(untrusted.connect()).rejects.toBeInstanceOf(EventportError);
  });
});

describe('on the shared server', () => {
  let adapter: EventAdapter;
  beforeAll(async () => {
    adapter = open();
    await adapter.connect();
  });

  test('headers NATS cannot carry as they are, and keys of any text, arrive unchanged', async () => {
    const topic = topicFor('headers');
    created.push(topic);
    const headers = {
      'Nats-Expected-Stream': 'not-this-one',
      'nats-msg-id': 'user-value',
      'eventport-headers': 'user value',
      'ce-partitionkey': 'user value',
      'a:b': 'colon in the name',
      'x-edges': '\t tabs and spaces \t',
      'x-crlf': 'one\r\ntwo',
      ünïcode: 'näme',
    };
    const keys = ['line\nbreak', 'per%cent', '  spaces  ', '日本語'];
    const subscription = await adapter.subscribe(topic, () => undefined, { group: 'probe' });
    await subscription.close();
    const sent = await adapter.publishBatch(keys.map((key) => ({ topic, key, data: key, headers })));
    const received = new Map<string, { key?: string; headers: Record<string, string> }>();
    const reader = await adapter.subscribe(topic, (message) => void received.set(message.id, message), {
      group: 'probe',
    });
    expect(await eventually(() => received.size === keys.length, 20_000)).toBe(true);
    await reader.close();
    for (const message of sent) {
      expect(received.get(message.id)?.key).toBe(message.key);
      expect(received.get(message.id)?.headers).toEqual(message.headers);
    }
  });

  test('one subscriber sees each key in publish order (without failures)', async () => {
    const topic = topicFor('order');
    created.push(topic);
    const seen = new Map<string, number[]>();
    const tally = new Tally();
    const subscription = await adapter.subscribe<{ seq: number }>(
      topic,
      async (message) => {
        await sleep(message.data.seq % 3);
        seen.set(message.key as string, [...(seen.get(message.key as string) ?? []), message.data.seq]);
        tally.record(message.id);
      },
      { group: 'order', concurrency: 8 },
    );
    const sent = await adapter.publishBatch(
      Array.from({ length: 400 }, (_, seq) => ({ topic, key: `k${seq % 8}`, data: { seq } })),
    );
    tally.expect(sent.map((message) => message.id));
    await tally.waitForAll(30_000);
    await subscription.close();
    for (const list of seen.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
  });

  test('a new group without fromBeginning starts at new messages; with it, at the oldest', async () => {
    const topic = topicFor('start');
    created.push(topic);
    const old = await adapter.publish({ topic, data: 'old' });
    const fresh = new Tally();
    const replay = new Tally();
    const late = await adapter.subscribe(topic, (message) => fresh.record(message.id), { group: 'late' });
    const all = await adapter.subscribe(topic, (message) => replay.record(message.id), {
      group: 'all',
      fromBeginning: true,
    });
    const next = await adapter.publish({ topic, data: 'new' });
    fresh.expect([next.id]);
    replay.expect([old.id, next.id]);
    await Promise.all([fresh.waitForAll(20_000), replay.waitForAll(20_000)]);
    await sleep(300);
    await Promise.all([late.close(), all.close()]);
    expect(fresh.timesReceived(old.id)).toBe(0);
  });

  test('a send retried within the duplicate window is stored once; the same message id published again (a replay) is stored again', async () => {
    const topic = topicFor('dedupe');
    created.push(topic);
    const driver = backendDriver(backend, { url });
    await driver.connect(AbortSignal.timeout(10_000));
    try {
      await driver.createTopic(topic); // a driver's send creates no stream: core does, on NOT_FOUND
      // What core does when a send's answer is lost: the same record, the same dedupeId, sent again.
      const record = {
        headers: { [RESERVED_HEADERS.id]: `dedupe-${run}` },
        body: Buffer.from('1'),
        dedupeId: randomUUID(),
      };
      await driver.send(topic, [record], AbortSignal.timeout(10_000));
      await driver.send(topic, [record], AbortSignal.timeout(10_000));
    } finally {
      await driver.disconnect();
    }
    // A dead-letter replay keeps the message id but is a new publish: it must not vanish.
    await adapter.publish({ topic, id: `dedupe-${run}`, data: 2 });
    const received: unknown[] = [];
    const subscription = await adapter.subscribe(topic, (message) => void received.push(message.data), {
      group: 'dedupe',
      fromBeginning: true,
    });
    expect(await eventually(() => received.length >= 2, 20_000)).toBe(true);
    await sleep(500);
    await subscription.close();
    expect(received).toEqual([1, 2]);
  });

  test('a topic whose stream someone deleted is created again by the next publish', async () => {
    const topic = topicFor('recreate');
    created.push(topic);
    await adapter.publish({ topic, data: 1 });
    await adapter.deleteTopic(topic);
    expect(await adapter.listTopics()).not.toContain(topic);
    await adapter.publish({ topic, data: 2 });
    expect(await adapter.listTopics()).toContain(topic);
  });

  test('a stream of your own that captures the subject is used as it is (and is not listed as a topic)', async () => {
    const nc = await connect({ servers: url });
    const jsm = await jetstreamManager(nc);
    const prefix = `own-${run}`;
    await jsm.streams.add({ name: `OWN_${run}`, subjects: [`${prefix}.>`] });
    try {
      const topic = `${prefix}.placed`;
      const tally = new Tally();
      const subscription = await adapter.subscribe(topic, (message) => tally.record(message.id), { group: 'billing' });
      const sent = await adapter.publishBatch([1, 2, 3].map((n) => ({ topic, data: n })));
      tally.expect(sent.map((message) => message.id));
      await tally.waitForAll(20_000);
      await subscription.close();
      expect((await jsm.streams.info(`OWN_${run}`)).state.messages).toBe(3);
      const consumers = [];
      for await (const info of jsm.consumers.list(`OWN_${run}`)) consumers.push(info.name);
      expect(consumers).toEqual([`billing__${prefix}_placed`]);
      expect(await adapter.listTopics()).not.toContain(topic);
    } finally {
      await jsm.streams.delete(`OWN_${run}`);
      await nc.close();
    }
  });

  test('topics or groups whose NATS names collide ("." and "_") fail with CONFLICT instead of mixing', async () => {
    const dotted = `${topicFor('clash')}.a`;
    const underscored = `${topicFor('clash')}_a`;
    created.push(dotted, underscored);
    await adapter.publish({ topic: dotted, data: 1 });
    await expect(adapter.publish({ topic: underscored, data: 2 })).rejects.toMatchObject({ code: 'CONFLICT' });
    await (await adapter.subscribe(dotted, () => undefined, { group: 'team.a' })).close();
    await expect(adapter.subscribe(dotted, () => undefined, { group: 'team_a' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  test('an ephemeral group: the server would remove it by itself, closing members keeps it, deleteGroup removes it, and it never takes over a durable one', async () => {
    const topic = topicFor('ephemeral');
    created.push(topic);
    const driver = backendDriver(backend, { url });
    await driver.connect(AbortSignal.timeout(5_000));
    const nc = await connect({ servers: url });
    try {
      const jsm = await jetstreamManager(nc);
      await driver.createTopic(topic); // what core does before opening a receiver on a new topic
      const options = { group: 'look.on', fromBeginning: false, maxUnsettled: 8, ephemeral: true };
      const first = await driver.openReceiver(topic, options, AbortSignal.timeout(5_000));
      const second = await driver.openReceiver(topic, options, AbortSignal.timeout(5_000));
      const stream = `EP_${topic}`;
      const info = await jsm.consumers.info(stream, 'look_on');
      expect(info.config.durable_name).toBeUndefined();
      expect(info.config.inactive_threshold).toBeGreaterThan(0);
      expect(await driver.listGroups(topic)).toEqual(['look.on']);
      await first.close();
      await second.close();
      // Core counts an adapter's members and calls deleteGroup after the last one (core's driver-contract test).
      expect(await driver.listGroups(topic)).toEqual(['look.on']);
      await driver.deleteGroup(topic, 'look.on');
      expect(await driver.listGroups(topic)).toEqual([]);
      await driver.deleteGroup(topic, 'look.on');

      const durable = await driver.openReceiver(topic, { ...options, ephemeral: false }, AbortSignal.timeout(5_000));
      await durable.close();
      await expect(driver.openReceiver(topic, options, AbortSignal.timeout(5_000))).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      expect(await driver.listGroups(topic)).toEqual(['look.on']);
    } finally {
      await Promise.all([driver.disconnect(), nc.close()]);
    }
  });

  test('wildcard topics are refused by core (TopicSchema), before anything reaches the broker', async () => {
    for (const topic of ['orders.*', 'orders.>']) {
      await expect(adapter.subscribe(topic, () => undefined)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  test('extend() (working) keeps a slow record from being redelivered past the ack wait', async () => {
    const topic = topicFor('extend');
    created.push(topic);
    const driver = backendDriver(backend, { url, ackWaitMs: 1_000 });
    const other = backendDriver(backend, { url, ackWaitMs: 1_000 });
    await Promise.all([driver.connect(AbortSignal.timeout(5_000)), other.connect(AbortSignal.timeout(5_000))]);
    try {
      const options = { group: 'slow', fromBeginning: true, maxUnsettled: 8 };
      await driver.createTopic(topic);
      const receiver = await driver.openReceiver(topic, options, AbortSignal.timeout(5_000));
      const competitor = await other.openReceiver(topic, options, AbortSignal.timeout(5_000));
      const record = {
        headers: { [RESERVED_HEADERS.id]: randomUUID() },
        body: Buffer.from('slow'),
        dedupeId: randomUUID(),
      };
      const [sent] = await driver.send(topic, [record], AbortSignal.timeout(5_000));
      expect(sent?.ok).toBe(true);
      let got = await receiver.receive(1, AbortSignal.timeout(5_000));
      for (let wait = 0; got.length === 0 && wait < 10; wait++)
        got = await receiver.receive(1, AbortSignal.timeout(1_000));
      expect(got).toHaveLength(1);
      const stolen: unknown[] = [];
      for (let beat = 0; beat < 6; beat++) {
        await receiver.extend?.(got, AbortSignal.timeout(1_000));
        stolen.push(...(await competitor.receive(1, AbortSignal.timeout(500))));
      }
      expect(stolen).toEqual([]);
      await receiver.settle(got, [], AbortSignal.timeout(5_000));
      await Promise.all([receiver.close(), competitor.close()]);
    } finally {
      await Promise.all([driver.disconnect(), other.disconnect()]);
    }
  });
});

describe('classify', () => {
  const api = (err_code: number, code = 400) => new JetStreamApiError({ err_code, code, description: 'x' });
  test.each([
    ['timeout', new errors.TimeoutError(), 'TIMEOUT', true],
    [
      'no responders (JetStream down)',
      new errors.RequestError('r', { cause: new errors.NoRespondersError('s') }),
      'CONNECTION',
      true,
    ],
    ['closed connection', new errors.ClosedConnectionError(), 'CONNECTION', true],
    ['a flush cut off by a reconnect', new errors.RequestError('connection disconnected'), 'CONNECTION', true],
    [
      'a request refused for permissions: the cause decides',
      new errors.RequestError('r', {
        cause: new errors.PermissionViolationError('Permissions Violation', 'publish', '$JS.API.INFO'),
      }),
      'PERMISSION_DENIED',
      false,
    ],
    [
      'a request cut off for a reason not known',
      new errors.RequestError('r', { cause: new Error('?') }),
      'CONNECTION',
      true,
    ],
    [
      'wrapped in an Error cause',
      new Error('outer', { cause: new errors.ConnectionError('refused') }),
      'CONNECTION',
      true,
    ],
    ['authorization violation', new errors.AuthorizationError('Authorization Violation'), 'PERMISSION_DENIED', false],
    ['stream not found', api(10059, 404), 'NOT_FOUND', false],
    ['subjects overlap', api(10065), 'CONFLICT', false],
    ['insufficient resources', api(10023, 503), 'RESOURCE_EXHAUSTED', true],
    [
      'max payload',
      errors.InvalidArgumentError.format('payload', 'max_payload size exceeded'),
      'PAYLOAD_TOO_LARGE',
      false,
    ],
    ['a programming error', new TypeError('bug'), 'INTERNAL', false],
  ])('%s', (_name, error, code, retryable) => {
    expect(classifyNatsError(error)).toEqual({ code, retryable });
  });
});
