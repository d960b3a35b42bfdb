import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import {
  backendDriver,
  type EventAdapter,
  type Logger,
  loadBackendConfig,
  type ReceivedMessage,
} from '@eventport/core';
import {
  backend,
  classifyPubSubError,
  createPubSubAdapter,
  defaultSubscriptionName,
  type PubSubOptions,
  PubSubReceiver,
  type PubSubRecord,
} from '@eventport/pubsub';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { afterAll, describe, expect, test } from '@jest/globals';
import { emulatorHost, projectId } from './env';
import { fakeCredentials } from './fake-credentials';

const run = randomUUID().slice(0, 8);
const topicFor = (name: string) => `ep-pubsub-x-${name}-${run}`;
const adapters: EventAdapter[] = [];
const open = (options: Partial<PubSubOptions> = {}) => {
  const adapter = createPubSubAdapter({ projectId, emulatorHost, ...options });
  adapters.push(adapter);
  return adapter;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

afterAll(async () => {
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
});

describe('pubsub options', () => {
  test('invalid options fail before connecting, naming the setting', () => {
    expect(() => createPubSubAdapter({ projectId: 'X' })).toThrow(/pubsub option "projectId"/);
    expect(() => createPubSubAdapter({ projectId, ackDeadlineSeconds: 5 })).toThrow(/ackDeadlineSeconds/);
    expect(() => createPubSubAdapter({ projectId, deadLetter: { maxDeliveryAttempts: 2 } })).toThrow(
      /maxDeliveryAttempts/,
    );
    expect(() => createPubSubAdapter({ projectId, emulatorHost: 'http://x' })).toThrow(/pubsub option "emulatorHost"/);
  });

  test('one strict schema: an unknown option fails, naming the closest valid one; the backend lists its env vars', () => {
    const typo = { projectId, ackDeadlineSecond: 30 } as unknown as PubSubOptions;
    expect(() => createPubSubAdapter(typo)).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringMatching(/did you mean "ackDeadlineSeconds"/),
      }),
    );
    const nested = { projectId, deadLetter: { maxDeliveryAttempts: 5, topics: () => 'x' } } as unknown as PubSubOptions;
    expect(() => createPubSubAdapter(nested)).toThrow(/unknown option "topics"/);
    expect(backend).toMatchObject({
      name: 'pubsub',
      env: { projectId: 'GCP_PROJECT_ID', keyFilename: 'GCP_CREDENTIALS_PATH', emulatorHost: 'PUBSUB_EMULATOR_HOST' },
    });
    expect(backend.schema.safeParse({ projectId, streams: 2 }).success).toBe(true);
    expect(backend.schema.safeParse({ projectId, stream: 2 }).success).toBe(false);
  });

  test('defaults, env vars for what the options leave out, and cross-field rules', () => {
    const env = { GCP_PROJECT_ID: process.env.GCP_PROJECT_ID, PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST };
    process.env.GCP_PROJECT_ID = 'from-env-project';
    process.env.PUBSUB_EMULATOR_HOST = 'localhost:1';
    try {
      const resolved = loadBackendConfig(backend, {
        projectId: 'explicit-project',
        deadLetter: { maxDeliveryAttempts: 5 },
      });
      expect(resolved).toMatchObject({
        projectId: 'explicit-project',
        emulatorHost: 'localhost:1',
        ackDeadlineSeconds: 10,
        maxLeaseMinutes: 60,
        messageOrdering: true,
        autoCreateTopics: true,
        ackBatchMilliseconds: 10,
        streams: 1,
        requestTimeoutMs: 30_000,
        deadLetter: { maxDeliveryAttempts: 5 },
      });
      expect(resolved.subscriptionName('orders', 'billing')).toBe('orders.billing');
      expect(resolved.deadLetter?.topic('orders')).toBe('orders.dlq');
      process.env.PUBSUB_EMULATOR_HOST = 'http://x';
      expect(() => loadBackendConfig(backend, { projectId })).toThrow(/PUBSUB_EMULATOR_HOST: must be host:port/);
    } finally {
      for (const [name, value] of Object.entries(env)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    expect(() =>
      createPubSubAdapter({ projectId, emulatorHost, retryPolicy: { minimumBackoffMs: 10, maximumBackoffMs: 5 } }),
    ).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('minimumBackoffMs') }),
    );
  });

  test('subscription names: <topic>.<group>, shortened with a hash past 255 characters', () => {
    expect(defaultSubscriptionName('orders', 'billing')).toBe('orders.billing');
    const long = defaultSubscriptionName('t'.repeat(200), 'g'.repeat(100));
    expect(long).toHaveLength(255);
    expect(long).toBe(defaultSubscriptionName('t'.repeat(200), 'g'.repeat(100)));
    expect(long).not.toBe(defaultSubscriptionName('t'.repeat(200), `${'g'.repeat(99)}h`));
  });

  test('gRPC statuses map to portable codes; transient ones are retryable', () => {
    expect(classifyPubSubError({ code: 14 })).toEqual({ code: 'CONNECTION', retryable: true });
    expect(classifyPubSubError({ code: 4 })).toEqual({ code: 'TIMEOUT', retryable: true });
    expect(classifyPubSubError({ code: 5 })).toEqual({ code: 'NOT_FOUND', retryable: false });
    expect(classifyPubSubError({ code: 7 })).toEqual({ code: 'PERMISSION_DENIED', retryable: false });
    expect(classifyPubSubError(new TypeError('All attributes must be in the form of a string'))).toEqual({
      code: 'INVALID_ARGUMENT',
      retryable: false,
    });
    expect(classifyPubSubError(new Error('unrelated'))).toBeUndefined();
    for (const [status, code] of [
      [1, 'CONNECTION'],
      [8, 'RESOURCE_EXHAUSTED'],
      [10, 'CONNECTION'],
      [13, 'INTERNAL'],
    ] as const) {
      expect(classifyPubSubError({ code: status })).toEqual({ code, retryable: true });
    }
    for (const [status, code] of [
      [3, 'INVALID_ARGUMENT'],
      [6, 'ALREADY_EXISTS'],
      [16, 'PERMISSION_DENIED'],
    ] as const) {
      expect(classifyPubSubError({ code: status })).toEqual({ code, retryable: false });
    }
    // Through wrappers: PublishError keeps the gRPC error in `error`, others chain `cause`; socket errors too.
    expect(classifyPubSubError({ code: 'ordering', error: { code: 14 } })).toEqual({
      code: 'CONNECTION',
      retryable: true,
    });
    expect(classifyPubSubError(new Error('outer', { cause: new Error('inner', { cause: { code: 8 } }) }))).toEqual({
      code: 'RESOURCE_EXHAUSTED',
      retryable: true,
    });
    expect(classifyPubSubError(Object.assign(new Error('token'), { code: 'ECONNREFUSED' }))).toEqual({
      code: 'CONNECTION',
      retryable: true,
    });
    expect(classifyPubSubError(new DOMException('aborted', 'TimeoutError'))).toEqual({
      code: 'TIMEOUT',
      retryable: true,
    });
    const driver = backendDriver(backend, { projectId });
    expect(driver.classify(new Error('unrelated'))).toEqual({ code: 'INTERNAL', retryable: false });
  });

  test('sanitize: key-file content is scrubbed from messages, stacks and causes', () => {
    const driver = backendDriver(backend, { projectId });
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
    const parse = new SyntaxError(`Unexpected token 'M', ..."ate_key": MIIEvQIBAD"... is not valid JSON`);
    const sanitized = driver.sanitize(new Error(`cannot read key: ${pem}`, { cause: parse })) as Error;
    const text = `${sanitized.message} ${sanitized.stack} ${inspect(sanitized, { depth: Number.POSITIVE_INFINITY })}`;
    expect(text).not.toContain('MIIEvQIBAD');
    expect(text).toContain('[private key]');
    expect(text).toContain('(content hidden) is not valid JSON');
  });

  test('an unreachable emulator fails connect() with a typed, retryable error', async () => {
    const adapter = open({ emulatorHost: '127.0.0.1:1', requestTimeoutMs: 20_000 });
    const started = Date.now();
    const failure = await adapter.connect().catch((error: unknown) => error);
    expect(failure).toMatchObject({ retryable: true });
    expect(['CONNECTION', 'TIMEOUT']).toContain((failure as { code: string }).code);
    // A refused connection answers at once, not at the request timeout or core's 10 s connect deadline
    // (no client retries until then); the margin is for loading the gRPC client on a busy machine.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('fromBeginning fails with UNSUPPORTED, naming the capability', async () => {
    const adapter = open();
    await expect(adapter.subscribe(topicFor('replay'), () => undefined, { fromBeginning: true })).rejects.toMatchObject(
      { code: 'UNSUPPORTED', message: expect.stringContaining('replayFromStart') },
    );
  });

  test('a topic name Pub/Sub rejects fails with INVALID_ARGUMENT', async () => {
    const adapter = open();
    await expect(adapter.publish({ topic: '1-starts-with-a-digit', data: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('pubsub receiver over a fake client subscription', () => {
  /** What the receiver uses of a Subscription: events, isOpen, name, close(). */
  const fakeSubscription = () =>
    Object.assign(new EventEmitter(), {
      isOpen: true,
      name: 'projects/p/subscriptions/s',
      close: async () => undefined,
    });
  const fakeMessage = (subscription: EventEmitter, ackId: string, failAck?: { code: number; message: string }) =>
    ({
      id: `id-${ackId}`,
      ackId,
      attributes: { a: '1' },
      data: Buffer.from('{}'),
      orderingKey: 'k',
      deliveryAttempt: 0,
      publishTime: new Date(0),
      // Like the client outside exactly-once delivery: resolves, and reports a failed batch on 'debug'.
      ackWithResponse: async () => {
        if (failAck) setImmediate(() => subscription.emit('debug', { ackIds: [ackId], ...failAck }));
        await new Promise((resolve) => setImmediate(resolve));
        return 'SUCCESS';
      },
      nackWithResponse: async () => 'SUCCESS',
    }) as unknown as Message;

  test('records carry id, key and headers; core counts attempts when Pub/Sub does not', async () => {
    const subscription = fakeSubscription();
    const receiver = new PubSubReceiver(subscription as unknown as Subscription, 0);
    subscription.emit('message', fakeMessage(subscription, 'a'));
    const [record] = await receiver.receive(10, AbortSignal.timeout(1_000));
    expect(record).toMatchObject({ id: 'id-a', key: 'k', headers: { a: '1' } });
    expect(record?.deliveryCount).toBeUndefined();
    await receiver.close();
  });

  test('a failed ack request fails settle with its gRPC code, though the client resolved', async () => {
    const subscription = fakeSubscription();
    const receiver = new PubSubReceiver(subscription as unknown as Subscription, 0);
    subscription.emit('message', fakeMessage(subscription, 'ok'));
    subscription.emit('message', fakeMessage(subscription, 'bad', { code: 14, message: 'Failed to "ack"' }));
    const records = await receiver.receive(10, AbortSignal.timeout(1_000));
    expect(records).toHaveLength(2);
    const failure = await receiver.settle(records, [], AbortSignal.timeout(1_000)).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 14, message: expect.stringContaining('1 ack/nack(s) failed') });
    await expect(receiver.settle(records.slice(0, 1), [], AbortSignal.timeout(1_000))).resolves.toBeUndefined();
    await receiver.close();
  });

  test('when the client closes the stream, receive throws its last error and settle fails instead of dropping acks', async () => {
    const subscription = fakeSubscription();
    const receiver = new PubSubReceiver(subscription as unknown as Subscription, 0);
    subscription.emit('message', fakeMessage(subscription, 'held'));
    const held = (await receiver.receive(10, AbortSignal.timeout(1_000))) as PubSubRecord[];
    subscription.emit('error', Object.assign(new Error('5 NOT_FOUND: subscription gone'), { code: 5 }));
    subscription.isOpen = false;
    subscription.emit('close');
    await expect(receiver.receive(10, AbortSignal.timeout(1_000))).rejects.toMatchObject({ code: 5 });
    await expect(receiver.settle(held, [], AbortSignal.timeout(1_000))).rejects.toMatchObject({ code: 'CONNECTION' });
    await receiver.close();
  });
});

describe('pubsub against the emulator', () => {
  test('subscribe creates <topic>.<group>; an explicit subscription name is honoured', async () => {
    const topic = topicFor('names');
    const adapter = open({
      subscriptionName: (name, group) => (group === 'custom' ? `${name}-custom-sub` : `${name}.${group}`),
    });
    await (await adapter.subscribe(topic, () => undefined, { group: 'billing' })).close();
    await (await adapter.subscribe(topic, () => undefined, { group: 'custom' })).close();
    const client = adapter.native() as PubSub;
    const [subscriptions] = await client.topic(topic).getSubscriptions();
    expect(subscriptions.map((s) => s.name.split('/').pop()).sort()).toEqual(
      [`${topic}-custom-sub`, `${topic}.billing`].sort(),
    );
    const [metadata] = await client.subscription(`${topic}.billing`).getMetadata();
    expect(metadata.enableMessageOrdering).toBe(true);
    expect(metadata.labels).toEqual({ 'created-by': 'eventport' });
  });

  test('flow control: a receiver holds at most maxUnsettled unsettled records; settling lets the next ones in', async () => {
    const driver = backendDriver(backend, { projectId, emulatorHost });
    await driver.connect(AbortSignal.timeout(10_000));
    const topic = topicFor('window');
    await driver.createTopic(topic, {}, AbortSignal.timeout(10_000)); // what core does on NOT_FOUND
    const receiver = await driver.openReceiver(
      topic,
      { group: 'g', fromBeginning: false, maxUnsettled: 5 },
      AbortSignal.timeout(30_000),
    );
    const records = Array.from({ length: 40 }, (_, n) => ({
      headers: { n: String(n) },
      body: Buffer.from('{}'),
      dedupeId: String(n),
    }));
    const results = await driver.send(topic, records, AbortSignal.timeout(30_000));
    expect(results.every((result) => result.ok)).toBe(true);
    const drain = async (ms: number) => {
      const got: PubSubRecord[] = [];
      const until = Date.now() + ms;
      while (Date.now() < until) got.push(...(await receiver.receive(100, AbortSignal.timeout(200))));
      return got;
    };
    const first = await drain(2_000);
    expect(first).toHaveLength(5);
    await receiver.settle(first, [], AbortSignal.timeout(10_000));
    const second = await drain(2_000);
    expect(second).toHaveLength(5);
    expect(new Set([...first, ...second].map((record) => record.id)).size).toBe(10);
    await receiver.settle(second, [], AbortSignal.timeout(10_000));
    await receiver.close();
    await driver.disconnect();
  });

  test('ephemeral: a subscription of its own (expiring, not dead-lettered), deleted on close; listGroups maps names back', async () => {
    const topic = topicFor('ephemeral');
    // Every group is named `<topic>.kept`: an ephemeral one must neither use nor delete it.
    const adapter = open({ deadLetter: { maxDeliveryAttempts: 5 }, subscriptionName: (name) => `${name}.kept` });
    await (await adapter.subscribe(topic, () => undefined, { group: 'kept' })).close();
    const client = adapter.native() as PubSub;
    await client.topic(topic).createSubscription(`${topic}.other`);
    await client.topic(topic).createSubscription(`${topic}.not~agroup`);
    const subscription = await adapter.subscribe(topic, () => undefined, { group: 'look', ephemeral: true });
    expect(await adapter.listGroups(topic)).toEqual(['kept', 'look']);
    const names = async (on: string) =>
      (await client.topic(on).getSubscriptions())[0].map((s) => s.name.split('/').pop() as string);
    const ephemeral = (await names(topic)).find((name) => name.startsWith(`${topic}.look~`)) as string;
    const [metadata] = await client.subscription(ephemeral).getMetadata();
    expect(metadata.expirationPolicy?.ttl?.seconds).toBe('86400');
    expect(metadata.deadLetterPolicy).toBeNull();
    expect(await names(`${topic}.dlq`)).toEqual([`${topic}.dlq.kept`]);
    await subscription.close();
    expect(await adapter.listGroups(topic)).toEqual(['kept']);
    expect((await names(topic)).sort()).toEqual([`${topic}.kept`, `${topic}.not~agroup`, `${topic}.other`]);
  });

  test('deleteTopic removes the subscriptions eventport created and leaves foreign ones', async () => {
    const topic = topicFor('delete');
    const adapter = open();
    await adapter.createTopic(topic);
    await (await adapter.subscribe(topic, () => undefined, { group: 'ours' })).close();
    const client = adapter.native() as PubSub;
    await client.topic(topic).createSubscription(`${topic}-foreign`);
    await adapter.deleteTopic(topic);
    expect(await adapter.listTopics()).not.toContain(topic);
    const [ours] = await client.subscription(`${topic}.ours`).exists();
    const [foreign] = await client.subscription(`${topic}-foreign`).exists();
    expect(ours).toBe(false);
    expect(foreign).toBe(true);
    await client.subscription(`${topic}-foreign`).delete();
    await expect(adapter.deleteTopic(topic)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await adapter.createTopic(topic);
    await expect(adapter.createTopic(topic)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
  });

  test('a failed ordered publish does not block its ordering key: the next publish with it goes through', async () => {
    const topic = topicFor('resume');
    const adapter = open({ autoCreateTopics: false });
    await expect(adapter.publish({ topic, key: 'k', data: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await adapter.createTopic(topic);
    const received: number[] = [];
    const subscription = await adapter.subscribe<number>(topic, (message) => {
      received.push(message.data);
    });
    await adapter.publish({ topic, key: 'k', data: 2 });
    await adapter.publish({ topic, key: 'k', data: 3 });
    expect(await eventually(() => received.length === 2)).toBe(true);
    await subscription.close();
    expect(received).toEqual([2, 3]);
  });

  test('without autoCreateTopics, subscribing to a missing topic fails with NOT_FOUND', async () => {
    const adapter = open({ autoCreateTopics: false });
    await expect(adapter.subscribe(topicFor('missing'), () => undefined)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  test("native dead-letter policy: after maxDeliveryAttempts the message lands in <topic>.dlq; attempt is Pub/Sub's count", async () => {
    const topic = topicFor('dlq');
    // The emulator fails the stream of an ordered subscription once it dead-letters (UNKNOWN, 2026-11-23);
    // Pub/Sub itself supports both together.
    const adapter = open({ deadLetter: { maxDeliveryAttempts: 5 }, messageOrdering: false });
    const attempts: number[] = [];
    const failing = await adapter.subscribe(
      topic,
      (message) => {
        attempts.push(message.attempt);
        throw new Error('always fails');
      },
      { group: 'g', redeliveryDelayMs: () => 0 },
    );
    const deadLetters: ReceivedMessage[] = [];
    const dlq = await adapter.subscribe(
      `${topic}.dlq`,
      (message) => {
        deadLetters.push(message);
      },
      { group: 'g' },
    );
    const sent = await adapter.publish({ topic, data: { poison: true }, headers: { 'x-origin': 'test' } });
    expect(await eventually(() => deadLetters.length === 1, 60_000)).toBe(true);
    await Promise.all([failing.close(), dlq.close()]);
    expect(deadLetters[0]?.id).toBe(sent.id);
    expect(deadLetters[0]?.data).toEqual({ poison: true });
    expect(deadLetters[0]?.headers['x-origin']).toBe('test');
    expect(deadLetters[0]?.headers.CloudPubSubDeadLetterSourceDeliveryCount).toBe('5');
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
  }, 90_000);

  test('native retry policy: set on the subscription; a nack goes straight back to Pub/Sub (the emulator stores the policy but does not space redeliveries)', async () => {
    const topic = topicFor('retry');
    const adapter = open({ retryPolicy: { minimumBackoffMs: 100, maximumBackoffMs: 1_500 } });
    const attempts: number[] = [];
    const seenAt: number[] = [];
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        attempts.push(message.attempt);
        seenAt.push(Date.now());
        if (message.attempt < 3) throw new Error('not yet');
      },
      // Core waits out redeliveryDelayMs before it nacks; 0 leaves the spacing to the broker's policy.
      { group: 'g', redeliveryDelayMs: () => 0 },
    );
    const [metadata] = await (adapter.native() as PubSub).subscription(`${topic}.g`).getMetadata();
    expect(metadata.retryPolicy?.minimumBackoff).toMatchObject({ nanos: 100_000_000 });
    expect(metadata.retryPolicy?.maximumBackoff).toMatchObject({ seconds: '1', nanos: 500_000_000 });
    await adapter.publish({ topic, data: 1 });
    expect(await eventually(() => attempts.length === 3, 20_000)).toBe(true);
    await subscription.close();
    expect(attempts).toEqual([1, 2, 3]);
  });

  test('a streaming pull that the client gives up on (subscription deleted) is re-opened', async () => {
    const topic = topicFor('reopen');
    const adapter = open();
    const errors: unknown[] = [];
    const received: string[] = [];
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        received.push(message.id);
      },
      { group: 'g', onError: (error) => errors.push(error) },
    );
    const client = adapter.native() as PubSub;
    const native = client.subscription(`${topic}.g`);
    await native.delete();
    // Re-open recreates the group's subscription; only messages published after that reach it.
    expect(await eventually(async () => errors.length > 0 && (await native.exists())[0], 60_000)).toBe(true);
    await sleep(500);
    const sent = await adapter.publish({ topic, data: 'after re-open' });
    expect(await eventually(() => received.includes(sent.id), 60_000)).toBe(true);
    await subscription.close();
  }, 120_000);
});

describe('pubsub credentials: a service-account key file never shows', () => {
  const fake = fakeCredentials();
  afterAll(() => fake.close());

  test('connect, health, publish and subscribe against a TLS server that never answers: deadlines kept, no key material anywhere', async () => {
    const logged: string[] = [];
    const capture = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      logged.push(`${level} ${message} ${inspect(fields, { depth: Number.POSITIVE_INFINITY })}`);
    const logger: Logger = {
      debug: capture('debug'),
      info: capture('info'),
      warn: capture('warn'),
      error: capture('error'),
    };
    const outputs: string[] = [];
    const collect = (error: unknown) => {
      outputs.push(String((error as Error).message), String((error as Error).stack), JSON.stringify(error));
      outputs.push(inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }));
      for (let cause = (error as Error).cause; cause !== undefined; cause = (cause as Error).cause) {
        outputs.push(String((cause as Error).message), String((cause as Error).stack), JSON.stringify(cause));
      }
      return error as { code: string };
    };
    const deadlines = { connectMs: 3_000, healthMs: 2_000, publishMs: 3_000, adminMs: 3_000, closeMs: 2_000 };
    const times: Record<string, number> = {};
    const timed = async <T>(name: string, call: () => Promise<T>) => {
      const started = Date.now();
      try {
        return await call();
      } finally {
        times[name] = Date.now() - started;
      }
    };
    for (const file of [fake.keyFile, fake.damagedKeyFile]) {
      const adapter = await fake.makeAdapter({ logger, deadlines }, file);
      const label = file === fake.keyFile ? '' : 'damaged ';
      const connected = await timed(`${label}connect`, () => adapter.connect().catch(collect));
      const health = await timed(`${label}health`, () => adapter.health());
      outputs.push(JSON.stringify(health), inspect(health, { depth: Number.POSITIVE_INFINITY }));
      const published = await timed(`${label}publish`, () =>
        adapter.publish({ topic: 'ep-secret', data: 1 }).catch(collect),
      );
      const subscribed = await timed(`${label}subscribe`, () =>
        adapter.subscribe('ep-secret', () => undefined).catch(collect),
      );
      await timed(`${label}disconnect`, () => adapter.disconnect());
      expect(health).toMatchObject({ ok: false, ready: false });
      for (const failure of [connected, published, subscribed]) {
        expect(['TIMEOUT', 'CONNECTION']).toContain((failure as { code: string }).code);
      }
    }
    console.log('pubsub against a silent TLS server with a key file (ms):', JSON.stringify(times));
    expect(times.connect).toBeLessThan(deadlines.connectMs + 2_500);
    expect(times.health).toBeLessThan(deadlines.healthMs + 2_500);
    expect(times.publish).toBeLessThan(deadlines.publishMs + 2_500);
    // The client really authenticated: it signed a JWT with the key and sent it.
    expect(fake.seen.some((headers) => String(headers.authorization).startsWith('Bearer '))).toBe(true);
    const texts = [...outputs, ...logged];
    const found = fake.secrets.flatMap((secret) => texts.filter((text) => text.includes(secret)));
    console.log(`pubsub secrets: ${found.length} occurrences in ${texts.length} outputs`);
    expect(texts.length).toBeGreaterThan(10);
    expect(found).toEqual([]);
  }, 60_000);
});
