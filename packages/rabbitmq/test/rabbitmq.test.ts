import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { inspect } from 'node:util';
import {
  type AdapterOptions,
  backendDriver,
  createAdapter,
  createPortableAdapter,
  type EventAdapter,
  EventportError,
  type Logger,
  loadBackendConfig,
  type ReceivedMessage,
} from '@eventport/core';
import {
  backend,
  classifyAmqpError,
  createRabbitMqAdapter,
  queueName,
  RABBITMQ_CAPABILITIES,
  RabbitMqDriver,
  type RabbitMqNative,
  type RabbitMqOptions,
} from '@eventport/rabbitmq';
import { eventually, sleep } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';
import { connect, IllegalOperationError } from 'amqplib';
import { CloudEvent } from 'cloudevents';
import { BrokerProxy, selfSignedCertificate } from '../../../scripts/faults/proxy';
import {
  closeConnectionsNamed,
  deleteTopology,
  groupsBoundTo,
  keepBrokerSteadyDuringEachTest,
  RABBITMQ_MANAGEMENT_URL,
  RABBITMQ_URL,
  rabbitmqctl,
  urlForVhost,
} from './broker';

const run = randomUUID().slice(0, 8);
const prefix = `ep-rmqx-${run}-`;
const topicFor = (name: string) => `${prefix}${name}`;
const adapters: EventAdapter[] = [];

/** Collects background warnings instead of printing them; tests assert on what matters. */
function quietLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const keep = (message: string, fields?: Record<string, unknown>) => {
    warnings.push(`${message} ${JSON.stringify(fields ?? {})}`);
  };
  return { warnings, debug() {}, info() {}, warn: keep, error: keep };
}

function open(options: RabbitMqOptions & AdapterOptions = {}): EventAdapter {
  const adapter = createRabbitMqAdapter({ url: RABBITMQ_URL, logger: quietLogger(), ...options });
  adapters.push(adapter);
  return adapter;
}

/** Configured from `options` alone: RABBITMQ_MANAGEMENT_URL (env.sh exports it) is not read. */
function driverWithoutEnv(options: RabbitMqOptions = {}): RabbitMqDriver {
  return new RabbitMqDriver(loadBackendConfig(backend, { url: RABBITMQ_URL, ...options }, {}), quietLogger());
}

/** An adapter with no management API, as most deployments have (the plugin is off by default). */
function openWithoutManagementApi(options: RabbitMqOptions = {}): EventAdapter {
  const adapter = createPortableAdapter(driverWithoutEnv(options), { logger: quietLogger() });
  adapters.push(adapter);
  return adapter;
}

async function nativeChannel(adapter: EventAdapter) {
  const model = await (adapter.native() as RabbitMqNative).connection();
  return model.createChannel();
}

keepBrokerSteadyDuringEachTest(async () => {
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
  await deleteTopology(new RegExp(`^${prefix}`));
});

describe('configuration', () => {
  test('RABBITMQ_URL must be amqp:// or amqps://; the error names the variable', () => {
    expect(() => loadBackendConfig(backend, {}, { RABBITMQ_URL: 'http://localhost:5672' })).toThrow(/RABBITMQ_URL/);
    expect(loadBackendConfig(backend, {}, { RABBITMQ_URL: 'amqps://u:p@broker.example:5671/prod' }).url).toBe(
      'amqps://u:p@broker.example:5671/prod',
    );
  });

  test('without RABBITMQ_URL the default is announced once, and it carries no credential', () => {
    const logger = quietLogger();
    const infos: string[] = [];
    logger.info = (message, fields) => void infos.push(`${message} ${JSON.stringify(fields)}`);
    const config = loadBackendConfig(backend, {}, {}, logger);
    expect(config.url).toBe('amqp://localhost:5672');
    expect(infos.join('\n')).toMatch(/RABBITMQ_URL is not set/);
    expect(infos.join('\n')).not.toMatch(/guest|@/);
  });

  test('bad options fail with INVALID_CONFIG before any connection opens', () => {
    const invalid: RabbitMqOptions[] = [
      { queueType: 'stream' as never },
      { queueType: 'classic', deliveryLimit: 5 },
      { deliveryLimit: 0 },
      { connectTimeoutMs: 0 },
      { heartbeatSeconds: -1 },
      { socketOptions: { recovery: true } },
      // Reconnects and deadlines are core's now: the old options are unknown keys, and unknown keys fail.
      { operationTimeoutMs: 1_000 } as never,
      { reconnect: { initialDelayMs: 500, maxDelayMs: 100 } } as never,
    ];
    for (const options of invalid) {
      expect(() => createRabbitMqAdapter({ url: 'amqp://nowhere.invalid', ...options })).toThrow(
        expect.objectContaining({ code: 'INVALID_CONFIG' }),
      );
    }
    expect(() => createRabbitMqAdapter({ queueTyp: 'classic' } as never)).toThrow(
      /"queueTyp" \(did you mean "queueType"\?\)/,
    );
  });

  test('createAdapter("rabbitmq") builds it from RABBITMQ_URL and overrides', async () => {
    const adapter = await createAdapter('rabbitmq', { url: RABBITMQ_URL, logger: quietLogger() });
    adapters.push(adapter);
    expect(adapter.backend).toBe('rabbitmq');
    expect(adapter.capabilities).toEqual(RABBITMQ_CAPABILITIES);
    expect(await adapter.health()).toMatchObject({ ok: true, backend: 'rabbitmq' });
  });

  test('a wrong password fails with PERMISSION_DENIED and appears in no error, stack, cause, serialisation, health or log', async () => {
    const secret = 'not-the-password-s3cret';
    const url = new URL(RABBITMQ_URL);
    url.password = secret;
    const lines: string[] = [];
    const capture = (message: string, fields?: Record<string, unknown>) =>
      void lines.push(
        `${message} ${JSON.stringify(fields ?? {})} ${inspect(fields, { depth: Infinity, showHidden: true })}`,
      );
    const logger: Logger = { debug: capture, info: capture, warn: capture, error: capture };
    const adapter = open({ url: url.toString(), logger, publishAttempts: 2 });
    const caught = (promise: Promise<unknown>) =>
      promise.then(
        () => new Error('expected a failure'),
        (error: unknown) => error,
      );
    const connectFailure = await caught(adapter.connect());
    expect(connectFailure).toBeInstanceOf(EventportError);
    expect(connectFailure).toMatchObject({ code: 'PERMISSION_DENIED', retryable: false });
    const failures = [
      connectFailure,
      await caught(adapter.publish({ topic: topicFor('secret'), data: 1 })),
      await caught(adapter.subscribe(topicFor('secret'), () => undefined, { group: 'g' })),
    ];
    for (const failure of failures) expect(failure).toMatchObject({ code: 'PERMISSION_DENIED' });
    // The raw driver error too: what a tool driving the driver directly would print.
    const driver = backendDriver(backend, { url: url.toString() }, { logger });
    failures.push(await caught(driver.connect(AbortSignal.timeout(10_000))));
    await driver.disconnect();
    const health = await adapter.health();
    expect(health.ok).toBe(false);
    const texts: string[] = [JSON.stringify(health), inspect(health, { depth: Infinity, showHidden: true }), ...lines];
    for (const failure of failures) {
      for (let link: unknown = failure, depth = 0; link !== undefined && depth < 10; depth++) {
        const error = link as Error;
        texts.push(
          String(error.message),
          String(error.stack),
          JSON.stringify(error),
          inspect(error, { depth: Infinity, showHidden: true }),
        );
        link = error.cause;
      }
    }
    expect(texts.length).toBeGreaterThan(10);
    for (const text of texts) expect(text).not.toContain(secret);
    await adapter.disconnect();
  });

  test('an unreachable broker fails connect() with a retryable CONNECTION error', async () => {
    const adapter = open({ url: 'amqp://guest:guest@127.0.0.1:1' });
    await expect(adapter.connect()).rejects.toMatchObject({ code: 'CONNECTION', retryable: true });
  });

  test('amqps:// works with TLS material in socketOptions (through a local TLS terminator)', async () => {
    const { key, cert } = await selfSignedCertificate();
    const target = new URL(RABBITMQ_URL);
    const terminator = new BrokerProxy(target.hostname, Number(target.port || 5672), { key, cert });
    const port = await terminator.start();
    try {
      const url = new URL(RABBITMQ_URL);
      url.protocol = 'amqps:';
      url.hostname = '127.0.0.1';
      url.port = String(port);
      const untrusting = open({ url: url.toString() });
      await expect(untrusting.connect()).rejects.toMatchObject({ code: 'CONNECTION', retryable: false });
      const adapter = open({ url: url.toString(), socketOptions: { ca: [cert] } });
      const topic = topicFor('tls');
      const received: string[] = [];
      const subscription = await adapter.subscribe(topic, (message) => void received.push(message.id), {
        group: 'g',
      });
      const sent = await adapter.publish({ topic, data: 'over TLS' });
      expect(await eventually(() => received.includes(sent.id), 10_000)).toBe(true);
      await subscription.close();
      await adapter.disconnect();
    } finally {
      await terminator.stop();
    }
  });

  test('the vhost in the URL is the one used', async () => {
    const vhost = `${prefix}vhost`;
    await rabbitmqctl('add_vhost', vhost);
    try {
      await rabbitmqctl('set_permissions', '-p', vhost, new URL(RABBITMQ_URL).username || 'guest', '.*', '.*', '.*');
      const adapter = open({ url: urlForVhost(vhost) });
      const topic = topicFor('vhost');
      const received: string[] = [];
      const subscription = await adapter.subscribe(topic, (message) => void received.push(message.id), {
        group: 'g',
      });
      const sent = await adapter.publish({ topic, data: 'in a vhost' });
      expect(await eventually(() => received.includes(sent.id), 10_000)).toBe(true);
      await subscription.close();
      expect(await rabbitmqctl('list_queues', '-p', vhost, 'name', '--no-table-headers')).toContain(
        queueName(topic, 'g'),
      );
      expect(await rabbitmqctl('list_queues', '-p', '/', 'name', '--no-table-headers')).not.toContain(
        queueName(topic, 'g'),
      );
      // listGroups asks the management API about the URL's vhost; in / the topic was never declared.
      const lister = open({ url: urlForVhost(vhost), managementUrl: RABBITMQ_MANAGEMENT_URL });
      expect(await lister.listGroups(topic)).toEqual(['g']);
      await expect(open({ managementUrl: RABBITMQ_MANAGEMENT_URL }).listGroups(topic)).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await adapter.disconnect();
    } finally {
      await rabbitmqctl('delete_vhost', vhost);
    }
  });
});

describe('topology', () => {
  test('a durable topic exchange per topic, a durable quorum queue <topic>.<group> bound with #', async () => {
    const adapter = open();
    const topic = topicFor('topology');
    const subscription = await adapter.subscribe(topic, () => undefined, { group: 'billing' });
    await subscription.close();
    const exchanges = await rabbitmqctl('list_exchanges', 'name', 'type', 'durable', '--no-table-headers');
    expect(exchanges).toMatch(new RegExp(`^${topic}\\s+topic\\s+true$`, 'm'));
    const queues = await rabbitmqctl('list_queues', 'name', 'type', 'durable', '--no-table-headers');
    expect(queues).toMatch(new RegExp(`^${topic}\\.billing\\s+quorum\\s+true$`, 'm'));
    const bindings = await rabbitmqctl(
      'list_bindings',
      'source_name',
      'destination_name',
      'routing_key',
      '--no-table-headers',
    );
    expect(bindings).toMatch(new RegExp(`^${topic}\\s+${topic}\\.billing\\s+#$`, 'm'));
  });

  test('queue names longer than AMQP allows are shortened with a digest, still unique', () => {
    const topic = 't'.repeat(200);
    const a = queueName(topic, 'g'.repeat(100));
    const b = queueName(topic, `${'g'.repeat(99)}h`);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(255);
    expect(a).not.toBe(b);
    expect(queueName('orders', 'billing')).toBe('orders.billing');
  });

  test('messages are persistent, keyed by routing key, CloudEvents in the AMQP binding, readable by plain AMQP clients', async () => {
    const adapter = open();
    const topic = topicFor('wire');
    await adapter.connect();
    const model = await connect(RABBITMQ_URL);
    try {
      const channel = await model.createChannel();
      await channel.assertExchange(topic, 'topic', { durable: true });
      const { queue } = await channel.assertQueue('', { exclusive: true });
      await channel.bindQueue(queue, topic, 'customer.*');
      const sent = await adapter.publish({
        topic,
        key: 'customer.42',
        data: { total: 10 },
        headers: { tenant: 'acme' },
      });
      await adapter.publish({ topic, key: 'other', data: 'not bound' });
      let raw: Awaited<ReturnType<typeof channel.get>> = false;
      for (let tries = 0; tries < 50 && raw === false; tries++) {
        raw = await channel.get(queue, { noAck: true });
        if (raw === false) await sleep(100);
      }
      expect(raw).not.toBe(false);
      if (raw === false) return;
      expect(raw.fields.routingKey).toBe('customer.42');
      expect(raw.properties.deliveryMode).toBe(2);
      expect(raw.properties.messageId).toBe(sent.id);
      expect(raw.properties.contentType).toBe('application/json');
      // The AMQP binding of CloudEvents 1.0: attributes as cloudEvents:* application properties, datacontenttype as content-type.
      expect(raw.properties.headers).toMatchObject({
        tenant: 'acme',
        'cloudEvents:specversion': '1.0',
        'cloudEvents:id': sent.id,
        'cloudEvents:type': topic,
        'cloudEvents:time': new Date(sent.timestamp).toISOString(),
      });
      expect(raw.properties.headers?.['cloudEvents:source']).toEqual(expect.any(String));
      const attributes = Object.fromEntries(
        Object.entries(raw.properties.headers ?? {})
          .filter(([name]) => name.startsWith('cloudEvents:'))
          .map(([name, value]) => [name.slice('cloudEvents:'.length), String(value)]),
      );
      const event = new CloudEvent({
        ...attributes,
        datacontenttype: raw.properties.contentType,
        data: JSON.parse(raw.content.toString()),
      });
      expect(event.validate()).toBe(true);
      expect(JSON.parse(raw.content.toString())).toEqual({ total: 10 });
      expect(await channel.get(queue, { noAck: true })).toBe(false);
    } finally {
      await model.close();
    }
  });

  test('messages from a plain AMQP producer arrive: non-string headers as text, message id as fallback id', async () => {
    const adapter = open();
    const topic = topicFor('foreign');
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe(topic, (message) => void received.push(message), { group: 'g' });
    const model = await connect(RABBITMQ_URL);
    try {
      const channel = await model.createConfirmChannel();
      channel.publish(topic, 'k1', Buffer.from('{"a":1}'), {
        messageId: 'native-1',
        contentType: 'application/json',
        headers: { count: 3, flag: true, text: 'x' },
      });
      await channel.waitForConfirms();
    } finally {
      await model.close();
    }
    expect(await eventually(() => received.length === 1, 10_000)).toBe(true);
    await subscription.close();
    expect(received[0]).toMatchObject({
      id: 'native-1',
      key: 'k1',
      data: { a: 1 },
      headers: { count: '3', flag: 'true', text: 'x' },
      attempt: 1,
    });
    expect(received[0]?.meta).toMatchObject({ queue: queueName(topic, 'g'), id: 'native-1', redelivered: false });
  });

  test('a key over 255 bytes is rejected with INVALID_ARGUMENT (it travels as the routing key)', async () => {
    const adapter = open();
    await expect(adapter.publish({ topic: topicFor('longkey'), key: 'ü'.repeat(200), data: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('delivery', () => {
  test('quorum delivery count: attempts 1, 2, 3 for a message that fails twice', async () => {
    const adapter = open();
    const topic = topicFor('attempts');
    const attempts: number[] = [];
    const headerNames = new Set<string>();
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        attempts.push(message.attempt);
        for (const name of Object.keys(message.headers)) headerNames.add(name);
        if (message.attempt < 3) throw new Error('planned');
      },
      { group: 'g', redeliveryDelayMs: () => 10 },
    );
    await adapter.publish({ topic, data: 1 });
    expect(await eventually(() => attempts.length === 3, 10_000)).toBe(true);
    await subscription.close();
    expect(attempts).toEqual([1, 2, 3]);
    // The broker's own bookkeeping header is not passed off as one of the publisher's.
    expect(headerNames.has('x-delivery-count')).toBe(false);
  });

  test('classic queues: attempt 2 on redelivery, capabilities say deliveryCount false', async () => {
    const adapter = open({ queueType: 'classic' });
    expect(adapter.capabilities.deliveryCount).toBe(false);
    const topic = topicFor('classic');
    const attempts: number[] = [];
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        attempts.push(message.attempt);
        if (attempts.length === 1) throw new Error('planned');
      },
      { group: 'g', redeliveryDelayMs: () => 10 },
    );
    await adapter.publish({ topic, data: 1 });
    expect(await eventually(() => attempts.length === 2, 10_000)).toBe(true);
    await subscription.close();
    expect(attempts).toEqual([1, 2]);
    const queues = await rabbitmqctl('list_queues', 'name', 'type', '--no-table-headers');
    expect(queues).toMatch(new RegExp(`^${topic}\\.g\\s+classic$`, 'm'));
  });

  test('a message waiting out its redelivery delay is not lost when the subscription closes', async () => {
    const adapter = open();
    const topic = topicFor('delayed');
    let failedOnce = false;
    const subscription = await adapter.subscribe(
      topic,
      () => {
        failedOnce = true;
        throw new Error('planned');
      },
      { group: 'g', redeliveryDelayMs: () => 60_000 },
    );
    const sent = await adapter.publish({ topic, data: 'keep me' });
    expect(await eventually(() => failedOnce, 10_000)).toBe(true);
    // close() must not wait the 60 s delay: the held message goes straight back to the queue.
    await subscription.close();
    const received: ReceivedMessage[] = [];
    const next = await adapter.subscribe(topic, (message) => void received.push(message), { group: 'g' });
    expect(await eventually(() => received.length === 1, 10_000)).toBe(true);
    await next.close();
    expect(received[0]?.id).toBe(sent.id);
    expect(received[0]?.attempt).toBe(2);
  });

  test('a deleted queue is re-declared and consumption resumes', async () => {
    const logger = quietLogger();
    const adapter = open({ logger });
    const topic = topicFor('cancelled');
    const received = new Set<string>();
    const errors: unknown[] = [];
    const subscription = await adapter.subscribe(topic, (message) => void received.add(message.id), {
      group: 'g',
      onError: (error) => void errors.push(error),
    });
    const channel = await nativeChannel(adapter);
    await channel.deleteQueue(queueName(topic, 'g'));
    await channel.close();
    // Until the consumer has re-declared its queue, the exchange drops messages: probe until one arrives.
    const probes: Promise<unknown>[] = [];
    const probing = setInterval(() => probes.push(adapter.publish({ topic, data: 'probe' })), 200);
    const resumed = await eventually(() => received.size > 0, 15_000);
    clearInterval(probing);
    await Promise.all(probes);
    expect(resumed).toBe(true);
    const after = await adapter.publish({ topic, data: 'after' });
    expect(await eventually(() => received.has(after.id), 10_000)).toBe(true);
    await subscription.close();
    expect(errors.some((error) => (error as EventportError).code === 'NOT_FOUND')).toBe(true);
  });

  test('a publish to an exchange someone deleted declares it again', async () => {
    const adapter = open();
    const topic = topicFor('redeclare');
    await adapter.publish({ topic, data: 1 });
    const channel = await nativeChannel(adapter);
    await channel.deleteExchange(topic);
    await channel.close();
    await expect(adapter.publish({ topic, data: 2 })).resolves.toMatchObject({ topic });
    expect(await rabbitmqctl('list_exchanges', 'name', '--no-table-headers')).toContain(topic);
  });
});

describe('channel errors', () => {
  test('a broker error on one topic fails only that publish; publishes to other topics on the shared channel succeed', async () => {
    const adapter = open();
    const topic = topicFor('neighbour');
    const received = new Set<string>();
    const subscription = await adapter.subscribe(topic, (message) => void received.add(message.id), { group: 'g' });
    const batch = (n: number) =>
      adapter.publishBatch(Array.from({ length: 50 }, (_, index) => ({ topic, data: { n, index } })));
    // RabbitMQ refuses exchange names with the reserved "amq." prefix: 403, and the channel is closed.
    const [before, refused, after] = await Promise.allSettled([
      Promise.all([batch(1), batch(2), batch(3)]),
      adapter.publish({ topic: `amq.${prefix}reserved`, data: 'refused' }),
      Promise.all([batch(4), batch(5)]),
    ]);
    expect(refused).toMatchObject({ status: 'rejected', reason: { code: 'PERMISSION_DENIED', retryable: false } });
    expect(before.status).toBe('fulfilled');
    expect(after.status).toBe('fulfilled');
    const ids = [before, after].flatMap((outcome) =>
      outcome.status === 'fulfilled' ? outcome.value.flat().map((message) => message.id) : [],
    );
    expect(ids).toHaveLength(250);
    expect(await eventually(() => ids.every((id) => received.has(id)), 10_000)).toBe(true);
    await subscription.close();
  });
});

describe('connection loss', () => {
  test('server-side close of every connection while publishing: publishes resolve or fail typed, the subscription resumes', async () => {
    const name = `${prefix}drop`;
    const adapter = open({ connectionName: name });
    const topic = topicFor('drop');
    const received = new Set<string>();
    const subscription = await adapter.subscribe(topic, (message) => void received.add(message.id), {
      group: 'g',
      concurrency: 32,
    });
    const outcomes: Array<PromiseSettledResult<string[]>> = [];
    const publishing = (async () => {
      for (let round = 0; round < 40; round++) {
        const batch = Array.from({ length: 25 }, (_, n) => ({ topic, data: { round, n } }));
        outcomes.push(
          ...(await Promise.allSettled([
            adapter.publishBatch(batch).then((sent) => sent.map((message) => message.id)),
          ])),
        );
      }
    })();
    await eventually(() => outcomes.length >= 5, 20_000);
    // One connection carries publishes and consumers.
    expect(await closeConnectionsNamed(name)).toBe(1);
    await publishing;
    const confirmed = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? outcome.value : []));
    const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(EventportError);
      expect((failure as EventportError).retryable).toBe(true);
    }
    expect(confirmed.length).toBeGreaterThan(0);
    expect(await eventually(() => confirmed.every((id) => received.has(id)), 30_000)).toBe(true);
    await subscription.close();
  }, 90_000);

  test('broker unreachable: a publish fails with a retryable CONNECTION error instead of hanging; both sides recover', async () => {
    const target = new URL(RABBITMQ_URL);
    const proxy = new BrokerProxy(target.hostname, Number(target.port || 5672));
    const port = await proxy.start();
    const url = new URL(RABBITMQ_URL);
    url.port = String(port);
    const adapter = open({
      url: url.toString(),
      deadlines: { publishMs: 1_500 },
      publishAttempts: 1,
    });
    const topic = topicFor('outage');
    const received = new Set<string>();
    const subscription = await adapter.subscribe(topic, (message) => void received.add(message.id), { group: 'g' });
    const before = await adapter.publish({ topic, data: 'before' });
    expect(await eventually(() => received.has(before.id), 10_000)).toBe(true);

    // In flight when the link dies: each batch either confirms or fails typed, none is left hanging.
    const inFlight = Array.from({ length: 10 }, (_, batch) =>
      adapter.publishBatch(Array.from({ length: 100 }, (_, n) => ({ topic, data: { batch, n } }))),
    );
    await proxy.stop();
    const settled = await Promise.allSettled(inFlight);
    for (const outcome of settled) {
      if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ retryable: true });
    }
    await expect(adapter.publish({ topic, data: 'during' })).rejects.toMatchObject({
      code: 'CONNECTION',
      retryable: true,
    });
    expect((await adapter.health()).ok).toBe(false);

    await proxy.start();
    let after: string | undefined;
    for (let tries = 0; tries < 30 && after === undefined; tries++) {
      after = await adapter.publish({ topic, data: 'after' }).then(
        (message) => message.id,
        () => sleep(200).then(() => undefined),
      );
    }
    expect(after).toBeDefined();
    const confirmed = settled.flatMap((outcome) =>
      outcome.status === 'fulfilled' ? outcome.value.map((message) => message.id) : [],
    );
    expect(
      await eventually(() => received.has(after as string) && confirmed.every((id) => received.has(id)), 20_000),
    ).toBe(true);
    await subscription.close();
    await adapter.disconnect();
    await proxy.stop();
  }, 90_000);
});

describe('error classification', () => {
  test('AMQP reply codes and socket errors map to portable codes', () => {
    const withCode = (message: string, code: number | string) => Object.assign(new Error(message), { code });
    expect(classifyAmqpError(withCode('Channel closed by server: 404 (NOT-FOUND)', 404))).toEqual({
      code: 'NOT_FOUND',
      retryable: false,
    });
    expect(classifyAmqpError(withCode('Connection closed: 320 (CONNECTION-FORCED)', 320))).toEqual({
      code: 'CONNECTION',
      retryable: true,
    });
    expect(classifyAmqpError(new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message'))).toEqual({
      code: 'PERMISSION_DENIED',
      retryable: false,
    });
    expect(classifyAmqpError(withCode('connect ECONNREFUSED 127.0.0.1:5672', 'ECONNREFUSED'))).toEqual({
      code: 'CONNECTION',
      retryable: true,
    });
    expect(classifyAmqpError(new Error('channel closed'))).toEqual({ code: 'CONNECTION', retryable: true });
    expect(classifyAmqpError(withCode('PRECONDITION_FAILED - inequivalent arg', 406))).toEqual({
      code: 'INVALID_ARGUMENT',
      retryable: false,
    });
    expect(
      classifyAmqpError(
        withCode('PRECONDITION_FAILED - message size 2000000 is larger than configured max size 1000000', 406),
      ),
    ).toEqual({ code: 'PAYLOAD_TOO_LARGE', retryable: false });
    // Frame and internal errors close the connection; a new connection can succeed.
    for (const code of [501, 502, 503, 504, 505, 541]) {
      expect(classifyAmqpError(withCode(`Connection closed: ${code} (SOME-ERROR)`, code))).toEqual({
        code: 'CONNECTION',
        retryable: true,
      });
    }
    expect(
      classifyAmqpError(
        new IllegalOperationError('Connection closed (Error: Connection closed: 541 (INTERNAL-ERROR))'),
      ),
    ).toEqual({ code: 'CONNECTION', retryable: true });
    expect(classifyAmqpError(new Error('Channel ended, no reply will be forthcoming'))).toEqual({
      code: 'CONNECTION',
      retryable: true,
    });
    expect(classifyAmqpError(withCode('read ECONNRESET', 'ECONNRESET'))).toEqual({
      code: 'CONNECTION',
      retryable: true,
    });
    expect(classifyAmqpError(new Error('Heartbeat timeout'))).toEqual({ code: 'CONNECTION', retryable: true });
    // Through wrappers: a cause chain, and the AggregateError Node gives for a dual-stack host.
    expect(
      classifyAmqpError(new Error('wrapped', { cause: withCode('Connection closed: 320 (CONNECTION-FORCED)', 320) })),
    ).toEqual({ code: 'CONNECTION', retryable: true });
    expect(classifyAmqpError(new AggregateError([withCode('connect ECONNREFUSED ::1:5672', 'ECONNREFUSED')]))).toEqual({
      code: 'CONNECTION',
      retryable: true,
    });
    expect(classifyAmqpError(new Error('something else'))).toEqual({ code: 'INTERNAL', retryable: false });
    expect(classifyAmqpError(new TypeError('a bug'))).toEqual({ code: 'INTERNAL', retryable: false });
  });

  test('real amqplib errors: a closed channel and a refused connection are retryable CONNECTION', async () => {
    const model = await connect(RABBITMQ_URL);
    const channel = await model.createChannel();
    await channel.close();
    const closed = await channel.assertQueue('never').then(
      () => undefined,
      (error: unknown) => error,
    );
    await model.close();
    expect(closed).toBeInstanceOf(IllegalOperationError);
    expect(classifyAmqpError(closed)).toEqual({ code: 'CONNECTION', retryable: true });
    const refused = await connect('amqp://guest:guest@127.0.0.1:1').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(classifyAmqpError(refused)).toEqual({ code: 'CONNECTION', retryable: true });
  });

  test('a queue declared with another type fails subscribe with INVALID_ARGUMENT (406)', async () => {
    const topic = topicFor('mismatch');
    const classic = open({ queueType: 'classic' });
    await (await classic.subscribe(topic, () => undefined, { group: 'g' })).close();
    const quorum = open();
    await expect(quorum.subscribe(topic, () => undefined, { group: 'g' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('ephemeral groups and listGroups', () => {
  const queueLines = async (queue: string) =>
    (await rabbitmqctl('list_queues', 'name', 'type', 'durable', 'exclusive', 'auto_delete', '--no-table-headers'))
      .split('\n')
      .filter((line) => line.split('\t')[0] === queue);
  const bindingLines = async (queue: string) =>
    (await rabbitmqctl('list_bindings', 'destination_name', '--no-table-headers'))
      .split('\n')
      .filter((line) => line.trim() === queue);
  // The driver's own listGroups, through the broker's management plugin (scripts/brokers/up.sh enables it).
  const listGroupsVia = (managementUrl: string) => {
    const driver = backendDriver(backend, { url: RABBITMQ_URL, managementUrl }, { logger: quietLogger() });
    const listGroups = driver.listGroups as NonNullable<typeof driver.listGroups>;
    return (topic: string) => listGroups(topic, AbortSignal.timeout(30_000));
  };

  test('an ephemeral group, without managementUrl, is an exclusive auto-delete classic queue <topic>.<group>; close() leaves no queue and no binding', async () => {
    // No plugin needed to consume one: the adapter has no managementUrl, only the observer below does.
    const adapter = openWithoutManagementApi();
    expect(adapter.capabilities.ephemeralGroups).toBe(true);
    const lister = open({ managementUrl: RABBITMQ_MANAGEMENT_URL });
    const topic = topicFor('ephemeral');
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe(topic, (message) => void received.push(message), {
      group: 'look',
      ephemeral: true,
    });
    expect(await queueLines(`${topic}.look`)).toEqual([`${topic}.look\tclassic\tfalse\ttrue\ttrue`]);
    expect(await lister.listGroups(topic)).toEqual(['look']);
    await adapter.publish({ topic, data: { n: 1 } });
    expect(await eventually(() => received.length === 1, 10_000)).toBe(true);
    expect(await subscription.lag()).toEqual({ messages: 0 });
    await subscription.close();
    // The broker deletes an auto-delete queue just after its consumer's cancel-ok.
    let left = await queueLines(`${topic}.look`);
    for (let tries = 0; left.length > 0 && tries < 20; tries++) {
      await sleep(250);
      left = await queueLines(`${topic}.look`);
    }
    expect(left).toEqual([]);
    expect(await bindingLines(`${topic}.look`)).toEqual([]);
    expect(await lister.listGroups(topic)).toEqual([]);
    // The connection the queue was exclusive to is still in use: the queue went with its consumer.
    await adapter.publish({ topic, data: { n: 2 } });
    const again = await adapter.subscribe(topic, (message) => void received.push(message), {
      group: 'look',
      ephemeral: true,
    });
    await sleep(500);
    expect(received).toHaveLength(1);
    await again.close();
  }, 120_000);

  test('listGroups lists the <topic>.<group> queues bound to the topic through the management API; without managementUrl UNSUPPORTED', async () => {
    const topic = topicFor('groups');
    const plain = openWithoutManagementApi();
    expect(driverWithoutEnv().listGroups).toBeUndefined();
    await expect(plain.listGroups(topic)).rejects.toMatchObject({ code: 'UNSUPPORTED' });

    await (await plain.subscribe(topic, () => undefined, { group: 'billing' })).close();
    await (
      await openWithoutManagementApi({ queueType: 'classic' }).subscribe(topic, () => undefined, { group: 'audit' })
    ).close();
    // A queue someone else bound to the exchange is no group of this topic.
    const channel = await nativeChannel(plain);
    await channel.assertQueue(`${prefix}foreign`);
    await channel.bindQueue(`${prefix}foreign`, topic, '#');
    await channel.close();

    // Credentials from RABBITMQ_URL (guest:guest); the adapter's listGroups needs no topicAdmin.
    const adapter = open({ managementUrl: RABBITMQ_MANAGEMENT_URL });
    // The management API adds listGroups and changes no capability.
    expect(adapter.capabilities).toEqual(plain.capabilities);
    expect(plain.capabilities.ephemeralGroups).toBe(true);
    expect((await adapter.listGroups(topic)).sort()).toEqual(['audit', 'billing']);
    expect((await listGroupsVia(RABBITMQ_MANAGEMENT_URL)(topic)).sort()).toEqual(['audit', 'billing']);
    // What the broker itself holds, read without the plugin.
    expect((await groupsBoundTo(topic)).sort()).toEqual(['audit', 'billing']);
    await expect(adapter.listGroups(topicFor('never-used'))).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const wrong = listGroupsVia(RABBITMQ_MANAGEMENT_URL.replace('//', '//guest:wrong-secret@'));
    const refused = await wrong(topic).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(inspect(refused, { depth: 10 })).not.toContain('wrong-secret');
  }, 120_000);

  test('RABBITMQ_MANAGEMENT_URL sets managementUrl (http or https only)', () => {
    expect(
      loadBackendConfig(backend, {}, { RABBITMQ_MANAGEMENT_URL: 'https://broker.example:15671' }).managementUrl,
    ).toBe('https://broker.example:15671');
    expect(loadBackendConfig(backend, {}, {}).managementUrl).toBeUndefined();
    expect(() => loadBackendConfig(backend, {}, { RABBITMQ_MANAGEMENT_URL: 'amqp://broker.example' })).toThrow(
      /RABBITMQ_MANAGEMENT_URL/,
    );
  });
});

describe('driver contract', () => {
  test('fromBeginning: true is refused with UNSUPPORTED, naming the capability', async () => {
    const adapter = open();
    await expect(
      adapter.subscribe(topicFor('replay'), () => undefined, { group: 'g', fromBeginning: true }),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/replayFromStart/) });
  });

  test('10 subscriptions of one group (from two adapters) opened and closed at once, 20 rounds on new queues: none fails, no connection is lost', async () => {
    const logger = quietLogger();
    const adapter = open({ logger });
    const other = open({ logger });
    let topic = '';
    for (let round = 0; round < 20; round++) {
      topic = topicFor(`churn-${round}`);
      const opened = await Promise.allSettled(
        Array.from({ length: 10 }, (_, n) =>
          (n % 2 === 0 ? adapter : other).subscribe(topic, () => undefined, { group: 'g' }),
        ),
      );
      expect(opened.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
      await Promise.all(opened.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value.close() : undefined)));
    }
    expect(logger.warnings.filter((line) => /connection lost/.test(line))).toEqual([]);
    const received = new Set<string>();
    const subscription = await adapter.subscribe(topic, (message) => void received.add(message.id), { group: 'g' });
    const sent = await adapter.publishBatch(Array.from({ length: 50 }, (_, n) => ({ topic, data: { n } })));
    expect(await eventually(() => sent.every((message) => received.has(message.id)), 10_000)).toBe(true);
    await subscription.close();
  }, 120_000);

  test('a broker nack of a confirm is a failed result for that record only', async () => {
    const topic = topicFor('nacked');
    const model = await connect(RABBITMQ_URL);
    const channel = await model.createChannel();
    await channel.assertExchange(topic, 'topic', { durable: true });
    // A queue that takes one message and refuses (nacks) publishes beyond it.
    const { queue } = await channel.assertQueue('', {
      exclusive: true,
      arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
    });
    await channel.bindQueue(queue, topic, '#');
    const driver = backendDriver(backend, { url: RABBITMQ_URL }, { logger: quietLogger() });
    try {
      const records = [1, 2, 3].map((n) => ({
        headers: { n: String(n) },
        body: Buffer.from(String(n)),
        dedupeId: String(n),
      }));
      const results = await driver.send(topic, records, AbortSignal.timeout(10_000));
      expect(results.map((result) => result.ok)).toEqual([true, false, false]);
      for (const result of results) {
        if (!result.ok) expect(driver.classify(result.error)).toEqual({ code: 'RESOURCE_EXHAUSTED', retryable: true });
      }
    } finally {
      await driver.disconnect();
      await model.close();
    }
  });

  test('a lost connection: receive and settle throw a retryable CONNECTION error, the next call reconnects, the broker redelivers', async () => {
    const name = `${prefix}lost`;
    const driver = backendDriver(backend, { url: RABBITMQ_URL, connectionName: name }, { logger: quietLogger() });
    const topic = topicFor('lost');
    const options = { group: 'g', fromBeginning: false, maxUnsettled: 10 };
    try {
      const receiver = await driver.openReceiver(topic, options, AbortSignal.timeout(10_000));
      const records = [1, 2, 3].map((n) => ({
        headers: { 'ce-id': `lost-${n}` },
        body: Buffer.from(String(n)),
        dedupeId: `lost-${n}`,
      }));
      await driver.send(topic, records, AbortSignal.timeout(10_000));
      const got = [];
      while (got.length < 3) got.push(...(await receiver.receive(10, AbortSignal.timeout(5_000))));
      expect(await closeConnectionsNamed(name)).toBe(1);
      const receiveFailure = await receiver.receive(10, AbortSignal.timeout(10_000)).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(receiveFailure).toMatchObject({ code: 'CONNECTION', retryable: true });
      const settleFailure = await receiver.settle(got, [], AbortSignal.timeout(5_000)).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(settleFailure).toMatchObject({ code: 'CONNECTION', retryable: true });
      await receiver.close();
      const next = await driver.openReceiver(topic, options, AbortSignal.timeout(10_000));
      const again = [];
      while (again.length < 3) again.push(...(await next.receive(10, AbortSignal.timeout(5_000))));
      expect(again.map((record) => record.id).sort()).toEqual(['lost-1', 'lost-2', 'lost-3']);
      expect(again.every((record) => record.deliveryCount === 2)).toBe(true);
      await next.settle(again, [], AbortSignal.timeout(5_000));
      await next.close();
    } finally {
      await driver.disconnect();
    }
  });

  test('a server that accepts TCP and never answers: health, connect and publish answer by their deadlines', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const adapter = open({ url: `amqp://guest:guest@127.0.0.1:${port}` });
      const timed = async (call: () => Promise<unknown>) => {
        const started = Date.now();
        const outcome = await call().then(
          (value) => value,
          (error: unknown) => error,
        );
        return { outcome, ms: Date.now() - started };
      };
      const health = await timed(() => adapter.health());
      // healthMs (5 s) by default: core's deadline and the driver's connectTimeoutMs (5 s) end it.
      expect(health.outcome).toMatchObject({ ok: false });
      expect(health.ms).toBeLessThan(5_000 + 1_000);
      const connected = await timed(() => adapter.connect());
      expect(connected.outcome).toMatchObject({ retryable: true });
      expect(connected.ms).toBeLessThan(5_000 + 1_000);
      const published = await timed(() => adapter.publish({ topic: topicFor('silent'), data: 1 }));
      expect(published.outcome).toBeInstanceOf(EventportError);
      expect(published.ms).toBeLessThan(30_000 + 1_000);
      console.log('silent TCP server:', { healthMs: health.ms, connectMs: connected.ms, publishMs: published.ms });
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }, 60_000);
});
