import {
  type Capabilities,
  createPortableAdapter,
  type Driver,
  EventportError,
  type IncomingRecord,
  type OutgoingRecord,
  PushBuffer,
  type Receiver,
  SENT,
  silentLogger,
} from '@eventport/core';
import { describe, expect, test } from '@jest/globals';

const capabilities: Capabilities = {
  orderingKeys: false,
  consumerGroups: true,
  replayFromStart: true,
  persistent: false,
  topicAdmin: false,
  nativeDeadLetter: false,
  ephemeralGroups: false,
  deliveryCount: false,
  maxPayloadBytes: 1_000_000,
};

/** A scripted driver: what core hands it is recorded, what it returns is chosen by the test. */
function scriptedDriver(overrides: Partial<Driver> = {}) {
  const sent: OutgoingRecord[][] = [];
  const buffer = new PushBuffer();
  const extended: string[][] = [];
  const settled: Array<{ acks: string[]; nacks: string[] }> = [];
  const receiver: Receiver = {
    receive: (max, signal) => buffer.receive(max, signal),
    settle: async (acks, nacks) => void settled.push({ acks: acks.map((r) => r.id), nacks: nacks.map((r) => r.id) }),
    extend: async (records) => void extended.push(records.map((r) => r.id)),
    extendEveryMs: 50,
    close: async () => void buffer.end(),
  };
  const driver: Driver = {
    backend: 'scripted',
    capabilities,
    connect: async () => undefined,
    disconnect: async () => undefined,
    send: async (_topic, records) => {
      sent.push([...records]);
      return records.map(() => SENT);
    },
    openReceiver: async () => receiver,
    createTopic: async () => undefined,
    deleteTopic: async () => undefined,
    listTopics: async () => [],
    ping: async () => undefined,
    classify: (error) =>
      error instanceof EventportError
        ? { code: error.code, retryable: error.retryable }
        : { code: 'INTERNAL', retryable: false },
    ...overrides,
  };
  return { driver, sent, buffer, extended, settled };
}

const record = (id: string): IncomingRecord => ({
  id,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from('{}'),
  meta: {},
});

test('a retried send carries the same dedupeId; the next publish of the same message id a new one', async () => {
  let calls = 0;
  const seen: string[] = [];
  const { driver } = scriptedDriver({
    send: async (_topic, records) => {
      calls++;
      seen.push(...records.map((r) => r.dedupeId));
      return records.map(() =>
        calls === 1 ? { ok: false as const, error: new EventportError('CONNECTION', 'lost the answer') } : SENT,
      );
    },
  });
  const adapter = createPortableAdapter(driver, { logger: silentLogger });
  await adapter.publish({ topic: 't', id: 'same', data: 1 });
  await adapter.publish({ topic: 't', id: 'same', data: 1 });
  expect(seen).toHaveLength(3);
  expect(seen[0]).toBe(seen[1]);
  expect(seen[2]).not.toBe(seen[0]);
  await adapter.disconnect();
});

test('records whose handler runs long are extended every extendEveryMs, and only those', async () => {
  const { driver, buffer, extended, settled } = scriptedDriver();
  const adapter = createPortableAdapter(driver, { logger: silentLogger });
  let release: () => void = () => undefined;
  const slow = new Promise<void>((resolve) => (release = resolve));
  const subscription = await adapter.subscribe('t', (message) => (message.meta.slow ? slow : undefined));
  void buffer.push({ ...record('quick'), meta: {} }, { ...record('slow'), meta: { slow: true } });
  await new Promise((resolve) => setTimeout(resolve, 300));
  release();
  await subscription.close();
  expect(extended.length).toBeGreaterThanOrEqual(3);
  expect(extended.every((ids) => ids.length === 1 && ids[0] === 'slow')).toBe(true);
  expect(settled.flatMap((batch) => batch.acks).sort()).toEqual(['quick', 'slow']);
  await adapter.disconnect();
});

describe('single publishes to a topic that arrive while a send to it is in flight (batchedSend)', () => {
  /** A driver whose sends wait until the test releases them; records whose data is "bad" fail for good. */
  function heldSends(batchedSend = true) {
    const releases: Array<() => void> = [];
    const { driver, sent } = scriptedDriver({
      batchedSend,
      send: async (_topic, records) => {
        sent.push([...records]);
        await new Promise<void>((resolve) => releases.push(resolve));
        return records.map((r) =>
          r.body.toString() === '"bad"'
            ? { ok: false as const, error: new EventportError('INVALID_ARGUMENT', 'refused') }
            : SENT,
        );
      },
    });
    const releaseNext = async () => {
      while (releases.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      releases.shift()?.();
    };
    return { driver, sent, releaseNext };
  }

  test('go out together in the next send, and each caller gets its own record outcome', async () => {
    const { driver, sent, releaseNext } = heldSends();
    const adapter = createPortableAdapter(driver, { logger: silentLogger });
    const first = adapter.publish({ topic: 't', data: 'first' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(sent).toHaveLength(1); // an idle topic sends at once
    const queued = ['a', 'bad', 'c'].map((data) => adapter.publish({ topic: 't', data }));
    const otherTopic = adapter.publish({ topic: 'u', data: 'elsewhere' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(sent.map((records) => records.length)).toEqual([1, 1]); // "u" does not wait for "t"
    await releaseNext();
    await releaseNext();
    await first;
    await otherTopic;
    await releaseNext();
    const outcomes = await Promise.allSettled(queued);
    expect(sent.map((records) => records.map((r) => JSON.parse(r.body.toString())))).toEqual([
      ['first'],
      ['elsewhere'],
      ['a', 'bad', 'c'],
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'INVALID_ARGUMENT' });
    await adapter.disconnect();
  });

  test('a publish waiting behind a send that never answers still fails within its deadline', async () => {
    const { driver, sent, releaseNext } = heldSends();
    const adapter = createPortableAdapter(driver, { logger: silentLogger, deadlines: { publishMs: 100 } });
    const started = Date.now();
    const stuck = adapter.publish({ topic: 't', data: 'first' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const waiting = adapter.publish({ topic: 't', data: 'waits' });
    const outcomes = await Promise.allSettled([stuck, waiting]);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outcomes.map((outcome) => (outcome as PromiseRejectedResult).reason?.code)).toEqual(['TIMEOUT', 'TIMEOUT']);
    expect(sent.map((records) => records.length)).toEqual([1, 1]); // the second went once the first gave up
    await releaseNext();
    await releaseNext();
    await adapter.disconnect();
  });

  test('without batchedSend (a broker call per record), each goes out at once, beside those in flight', async () => {
    const { driver, sent, releaseNext } = heldSends(false);
    const adapter = createPortableAdapter(driver, { logger: silentLogger });
    const published = ['a', 'b', 'c'].map((data) => adapter.publish({ topic: 't', data }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(sent.map((records) => records.length)).toEqual([1, 1, 1]);
    for (const _ of published) await releaseNext();
    await Promise.all(published);
    await adapter.disconnect();
  });
});

test('an ephemeral group is deleted once, after the last of the adapter’s subscriptions to it closed its receivers', async () => {
  const events: string[] = [];
  const { driver } = scriptedDriver({
    capabilities: { ...capabilities, ephemeralGroups: true },
    openReceiver: async (_topic, options) => {
      events.push(`open ${options.group} ephemeral=${options.ephemeral}`);
      return {
        receive: (_max, signal) => new PushBuffer().receive(1, signal),
        settle: async () => undefined,
        close: async () => void events.push('close'),
      };
    },
    deleteGroup: async (topic, group) => void events.push(`delete ${group} of ${topic}`),
  });
  const adapter = createPortableAdapter(driver, { logger: silentLogger });
  const first = await adapter.subscribe('t', () => undefined, { group: 'look', ephemeral: true });
  const second = await adapter.subscribe('t', () => undefined, { group: 'look', ephemeral: true });
  const durable = await adapter.subscribe('t', () => undefined, { group: 'keep' });
  await first.close();
  await durable.close();
  expect(events.filter((event) => event.startsWith('delete'))).toEqual([]);
  await second.close();
  await second.close();
  expect(events).toEqual([
    'open look ephemeral=true',
    'open look ephemeral=true',
    'open keep ephemeral=false',
    'close',
    'close',
    'close',
    'delete look of t',
  ]);
  await adapter.disconnect();
});

describe('a publish to a topic that does not exist (send fails NOT_FOUND)', () => {
  function missingTopicDriver(autoCreateTopics: boolean, createError?: EventportError) {
    const topics = new Set<string>();
    const created: string[] = [];
    const { driver, sent } = scriptedDriver({
      autoCreateTopics,
      send: async (topic, records) => {
        sent.push([...records]);
        const missing = new EventportError('NOT_FOUND', `no topic ${topic}`);
        return records.map(() => (topics.has(topic) ? SENT : { ok: false as const, error: missing }));
      },
      createTopic: async (topic) => {
        created.push(topic);
        if (createError) throw createError;
        topics.add(topic);
      },
    });
    return { driver, sent, created };
  }

  test('is created by core and sent again where the driver declares autoCreateTopics', async () => {
    const { driver, sent, created } = missingTopicDriver(true);
    const adapter = createPortableAdapter(driver, { logger: silentLogger });
    await adapter.publishBatch([
      { topic: 'fresh', data: 1 },
      { topic: 'fresh', data: 2 },
    ]);
    expect(created).toEqual(['fresh']);
    expect(sent.map((records) => records.length)).toEqual([2, 2]);
    await adapter.disconnect();
  });

  test('a subscribe whose openReceiver fails NOT_FOUND has core create the topic and open again', async () => {
    const { driver, created } = missingTopicDriver(true);
    let opened = 0;
    const receiver = driver.openReceiver;
    driver.openReceiver = async (topic, options, signal) => {
      opened++;
      if (!created.includes(topic)) throw new EventportError('NOT_FOUND', `no topic ${topic}`);
      return receiver(topic, options, signal);
    };
    const adapter = createPortableAdapter(driver, { logger: silentLogger });
    await (await adapter.subscribe('fresh', () => undefined)).close();
    expect(created).toEqual(['fresh']);
    expect(opened).toBe(2);
    const plain = createPortableAdapter({ ...driver, autoCreateTopics: false }, { logger: silentLogger });
    await expect(plain.subscribe('absent', () => undefined)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(created).toEqual(['fresh']);
    await Promise.all([adapter.disconnect(), plain.disconnect()]);
  });

  test('counts ALREADY_EXISTS from createTopic as made (someone else made it meanwhile)', async () => {
    const { driver, sent, created } = missingTopicDriver(true, new EventportError('ALREADY_EXISTS', 'made by another'));
    const adapter = createPortableAdapter(driver, { logger: silentLogger, publishAttempts: 3 });
    await expect(adapter.publish({ topic: 'raced', data: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Made "by someone else" yet still missing: sent once more after the create, then given up (NOT_FOUND is final).
    expect(created).toEqual(['raced']);
    expect(sent).toHaveLength(2);
    await adapter.disconnect();
  });

  test('fails with the create error where the topic cannot be made, and with NOT_FOUND without autoCreateTopics', async () => {
    const refused = missingTopicDriver(true, new EventportError('PERMISSION_DENIED', 'no admin rights'));
    const adapter = createPortableAdapter(refused.driver, { logger: silentLogger });
    await expect(adapter.publish({ topic: 'locked', data: 1 })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await adapter.disconnect();
    const plain = missingTopicDriver(false);
    const other = createPortableAdapter(plain.driver, { logger: silentLogger });
    await expect(other.publish({ topic: 'absent', data: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(plain.created).toEqual([]);
    await other.disconnect();
  });
});
