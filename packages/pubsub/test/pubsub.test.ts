import { randomUUID } from 'node:crypto';
import type { EventAdapter, ReceivedMessage } from '@eventport/core';
import {
  classifyPubSubError,
  createPubSubAdapter,
  defaultSubscriptionName,
  type PubSubOptions,
} from '@eventport/pubsub';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, describe, expect, test } from '@jest/globals';
import { resolvePubSubOptions } from '../src/options';
import { emulatorHost, projectId } from './env';

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

  test('defaults, env vars for what the options leave out, and cross-field rules', () => {
    const env = { GCP_PROJECT_ID: process.env.GCP_PROJECT_ID, PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST };
    process.env.GCP_PROJECT_ID = 'from-env-project';
    process.env.PUBSUB_EMULATOR_HOST = 'localhost:1';
    try {
      const resolved = resolvePubSubOptions({ projectId: 'explicit-project', deadLetter: { maxDeliveryAttempts: 5 } });
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
      expect(() => resolvePubSubOptions({ projectId })).toThrow(/PUBSUB_EMULATOR_HOST: must be host:port/);
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
  });

  test('an unreachable emulator fails connect() with a typed, retryable error', async () => {
    const adapter = open({ emulatorHost: '127.0.0.1:1', requestTimeoutMs: 1_000 });
    const failure = await adapter.connect().catch((error: unknown) => error);
    expect(failure).toMatchObject({ retryable: true });
    expect(['CONNECTION', 'TIMEOUT']).toContain((failure as { code: string }).code);
  });

  test('a topic name Pub/Sub rejects fails with INVALID_ARGUMENT', async () => {
    const adapter = open();
    await expect(adapter.publish({ topic: '1-starts-with-a-digit', data: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
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

  test('native retry policy: set on the subscription; a nack goes straight back and Pub/Sub redelivers', async () => {
    const topic = topicFor('retry');
    const adapter = open({ retryPolicy: { minimumBackoffMs: 100, maximumBackoffMs: 1_500 } });
    const attempts: number[] = [];
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        attempts.push(message.attempt);
        if (message.attempt < 3) throw new Error('not yet');
      },
      { group: 'g', redeliveryDelayMs: () => 60_000 },
    );
    const [metadata] = await (adapter.native() as PubSub).subscription(`${topic}.g`).getMetadata();
    expect(metadata.retryPolicy?.minimumBackoff).toMatchObject({ nanos: 100_000_000 });
    expect(metadata.retryPolicy?.maximumBackoff).toMatchObject({ seconds: '1', nanos: 500_000_000 });
    await adapter.publish({ topic, data: 1 });
    // The 60 s redeliveryDelayMs is not waited out: with a retry policy the broker spaces redeliveries.
    expect(await eventually(() => attempts.length === 3, 20_000)).toBe(true);
    await subscription.close();
    expect(attempts).toEqual([1, 2, 3]);
  });

  test('nack delay: a failed message comes back after the redelivery delay, not before', async () => {
    const topic = topicFor('delay');
    const adapter = open();
    const seen: number[] = [];
    const subscription = await adapter.subscribe(
      topic,
      () => {
        seen.push(Date.now());
        if (seen.length === 1) throw new Error('once');
      },
      { redeliveryDelayMs: () => 1_500 },
    );
    await adapter.publish({ topic, data: 1 });
    expect(await eventually(() => seen.length === 2)).toBe(true);
    await subscription.close();
    expect((seen[1] as number) - (seen[0] as number)).toBeGreaterThanOrEqual(1_400);
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
