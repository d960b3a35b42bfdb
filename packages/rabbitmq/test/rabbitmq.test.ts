import { randomUUID } from 'node:crypto';
import {
  createAdapter,
  type EventAdapter,
  EventportError,
  type Logger,
  loadBackendConfig,
  type ReceivedMessage,
} from '@eventport/core';
import {
  classifyAmqpError,
  createRabbitMqAdapter,
  queueName,
  RABBITMQ_CAPABILITIES,
  type RabbitMqNative,
  type RabbitMqOptions,
} from '@eventport/rabbitmq';
import { eventually, sleep } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';
import { connect } from 'amqplib';
import {
  closeConnectionsNamed,
  deleteTopology,
  keepBrokerSteadyDuringEachTest,
  RABBITMQ_URL,
  rabbitmqctl,
  urlForVhost,
} from './broker';
import { BrokerProxy, selfSignedCertificate } from './proxy';

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

function open(options: RabbitMqOptions & { publishAttempts?: number; logger?: Logger } = {}): EventAdapter {
  const adapter = createRabbitMqAdapter({ url: RABBITMQ_URL, logger: quietLogger(), ...options });
  adapters.push(adapter);
  return adapter;
}

async function nativeChannel(adapter: EventAdapter) {
  const model = await (adapter.native() as RabbitMqNative).publisherConnection();
  return model.createChannel();
}

keepBrokerSteadyDuringEachTest(async () => {
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
  await deleteTopology(new RegExp(`^${prefix}`));
});

describe('configuration', () => {
  test('RABBITMQ_URL must be amqp:// or amqps://; the error names the variable', () => {
    expect(() => loadBackendConfig('rabbitmq', {}, { RABBITMQ_URL: 'http://localhost:5672' })).toThrow(/RABBITMQ_URL/);
    expect(loadBackendConfig('rabbitmq', {}, { RABBITMQ_URL: 'amqps://u:p@broker.example:5671/prod' }).url).toBe(
      'amqps://u:p@broker.example:5671/prod',
    );
  });

  test('bad options fail with INVALID_CONFIG before any connection opens', () => {
    const invalid: RabbitMqOptions[] = [
      { queueType: 'stream' as never },
      { queueType: 'classic', deliveryLimit: 5 },
      { deliveryLimit: 0 },
      { operationTimeoutMs: -1 },
      { reconnect: { initialDelayMs: 500, maxDelayMs: 100 } },
    ];
    for (const options of invalid) {
      expect(() => createRabbitMqAdapter({ url: 'amqp://nowhere.invalid', ...options })).toThrow(
        expect.objectContaining({ code: 'INVALID_CONFIG' }),
      );
    }
  });

  test('createAdapter("rabbitmq") builds it from RABBITMQ_URL and overrides', async () => {
    const adapter = await createAdapter('rabbitmq', { url: RABBITMQ_URL, logger: quietLogger() });
    adapters.push(adapter);
    expect(adapter.backend).toBe('rabbitmq');
    expect(adapter.capabilities).toEqual(RABBITMQ_CAPABILITIES);
    expect(await adapter.health()).toMatchObject({ ok: true, backend: 'rabbitmq' });
  });

  test('a wrong password fails with PERMISSION_DENIED and never shows up in the error', async () => {
    const url = new URL(RABBITMQ_URL);
    url.password = 'not-the-password-s3cret';
    const adapter = open({ url: url.toString() });
    const failure = await adapter.connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EventportError);
    expect(failure).toMatchObject({ code: 'PERMISSION_DENIED', retryable: false });
    expect(String((failure as Error).message)).not.toContain('not-the-password-s3cret');
    const health = await adapter.health();
    expect(health.ok).toBe(false);
    expect(JSON.stringify(health)).not.toContain('not-the-password-s3cret');
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

  test('messages are persistent, keyed by routing key, with ce-id as message id, readable by plain AMQP clients', async () => {
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
      expect(raw.properties.headers).toMatchObject({ tenant: 'acme', 'ce-id': sent.id });
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
    const adapter = open({ logger, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
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
    const adapter = open({ connectionName: name, reconnect: { initialDelayMs: 50, maxDelayMs: 1_000 } });
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
    expect(await closeConnectionsNamed(name)).toBe(2);
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
      operationTimeoutMs: 1_500,
      reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
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
    expect(classifyAmqpError(new Error('something else'))).toBeUndefined();
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
