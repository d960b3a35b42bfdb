import { randomUUID } from 'node:crypto';
import { createAdapter, type EventAdapter, isEventportError, type ReceivedMessage } from '@eventport/core';
import { createRedisStreamsAdapter } from '@eventport/redis-streams';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import Redis from 'ioredis';
import { parseCursorReply, parseGroups, parsePending, parseReadReply } from '../src/entries.js';
import { PrivateRedis } from './private-redis.js';

const url = process.env.REDIS_URL ?? 'redis://localhost:6379';
const run = randomUUID().slice(0, 8);
const topicFor = (name: string) => `ep-redis-extra-${name}-${run}`;
const adapters: EventAdapter[] = [];
let redis: Redis;

function open(options: Parameters<typeof createRedisStreamsAdapter>[0] = {}): EventAdapter {
  const adapter = createRedisStreamsAdapter({ url, claimIdleMs: 500, claimIntervalMs: 200, ...options });
  adapters.push(adapter);
  return adapter;
}

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(() => {
  redis = new Redis(url);
});

afterAll(async () => {
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
  redis.disconnect();
});

describe('redis-streams specifics', () => {
  test('the stream (and its group) deleted under a running subscription: the group is recreated and new messages arrive', async () => {
    const topic = topicFor('nogroup');
    const adapter = open();
    const received: number[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(topic, (message) => {
      received.push(message.data.n);
    });
    await adapter.publish({ topic, data: { n: 1 } });
    await until(() => received.includes(1));
    expect(await redis.del(`eventport:${topic}`)).toBe(1);
    await adapter.publish({ topic, data: { n: 2 } });
    await until(() => received.includes(2));
    await subscription.close();
    expect(received).toEqual([1, 2]);
  });

  test("a dead consumer's pending entries are claimed (XAUTOCLAIM) and delivered with attempt 2", async () => {
    const topic = topicFor('claim');
    const stream = `eventport:${topic}`;
    const adapter = open();
    const sent = await adapter.publishBatch(Array.from({ length: 5 }, (_, n) => ({ topic, data: { n } })));
    await redis.xgroup('CREATE', stream, 'workers', '0', 'MKSTREAM');
    // A consumer that read everything and died before acking.
    const taken = (await redis.xreadgroup('GROUP', 'workers', 'dead', 'COUNT', 10, 'STREAMS', stream, '>')) as Array<
      [string, unknown[]]
    >;
    expect(taken[0]?.[1]).toHaveLength(5);
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        received.push(message);
      },
      { group: 'workers' },
    );
    await until(() => received.length >= 5);
    await subscription.close();
    expect(received.map((message) => message.id).sort()).toEqual(sent.map((message) => message.id).sort());
    expect(received.every((message) => message.attempt === 2)).toBe(true);
    expect(received.every((message) => typeof message.meta.id === 'string')).toBe(true);
    const pending = (await redis.xpending(stream, 'workers')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });

  test('a live member keeps a slow message: handlers longer than claimIdleMs are not taken over', async () => {
    const topic = topicFor('slow');
    const handled: string[] = [];
    const slow = await open().subscribe(
      topic,
      async (message) => {
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        handled.push(message.id);
      },
      { group: 'g', concurrency: 4 },
    );
    const other = await open().subscribe(
      topic,
      (message) => {
        handled.push(message.id);
      },
      { group: 'g' },
    );
    const sent = await open().publishBatch(Array.from({ length: 6 }, (_, n) => ({ topic, data: { n } })));
    await until(() => sent.every((message) => handled.includes(message.id)));
    // Four times claimIdleMs (500 ms) later, still nothing handled twice.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await Promise.all([slow.close(), other.close()]);
    expect(handled.sort()).toEqual(sent.map((message) => message.id).sort());
  });

  test('within one subscriber, a nacked message is handled again before later messages of its key', async () => {
    const topic = topicFor('order');
    const adapter = open();
    const seen = new Map<string, number[]>();
    let failed = false;
    let retriedAttempt: number | undefined;
    let handled = 0;
    const subscription = await adapter.subscribe<{ seq: number }>(
      topic,
      (message) => {
        const key = message.key as string;
        if (key === 'k0' && message.data.seq === 0) {
          if (!failed) {
            failed = true;
            throw new Error('planned failure');
          }
          retriedAttempt = message.attempt;
        }
        seen.set(key, [...(seen.get(key) ?? []), message.data.seq]);
        handled++;
      },
      { concurrency: 8, redeliveryDelayMs: () => 200 },
    );
    await adapter.publishBatch(Array.from({ length: 200 }, (_, seq) => ({ topic, key: `k${seq % 4}`, data: { seq } })));
    await until(() => handled >= 200);
    await subscription.close();
    expect(failed).toBe(true);
    expect(retriedAttempt).toBe(2);
    for (const list of seen.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
    expect(seen.get('k0')?.[0]).toBe(0);
  });

  test('closing with messages still buffered hands them back to the group at once', async () => {
    const topic = topicFor('handback');
    const adapter = open({ claimIdleMs: 60_000, claimIntervalMs: 60_000 });
    const sent = await adapter.publishBatch(Array.from({ length: 40 }, (_, n) => ({ topic, data: { n } })));
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = await adapter.subscribe(topic, () => blocked, {
      group: 'g',
      fromBeginning: true,
      concurrency: 4,
      drainTimeoutMs: 100,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Its 4 handlers never finish: close() gives up after the drain timeout and hands their messages back.
    await first.close();
    const ids = new Set<string>();
    const second = await adapter.subscribe(
      topic,
      (message) => {
        ids.add(message.id);
      },
      { group: 'g' },
    );
    // claimIdleMs is a minute: only the hand-back can make these arrive within the wait.
    await until(() => ids.size === sent.length, 10_000);
    await second.close();
    release();
  });

  test('listTopics sees only streams under the key prefix, found with SCAN', async () => {
    const adapter = open({ keyPrefix: `eventport-${run}:` });
    await adapter.createTopic('listed');
    await redis.set(`eventport-${run}:not-a-stream`, 'x');
    await redis.xadd(`other-${run}:stream`, '*', 'a', '1');
    expect(await adapter.listTopics()).toEqual(['listed']);
    await expect(adapter.createTopic('listed')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(adapter.deleteTopic('not-a-stream')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await redis.exists(`eventport-${run}:not-a-stream`)).toBe(1);
    await adapter.deleteTopic('listed');
    expect(await adapter.listTopics()).toEqual([]);
    await redis.del(`eventport-${run}:not-a-stream`, `other-${run}:stream`);
  });

  test('maxLength trims streams on publish (approximately, as XADD MAXLEN ~ does)', async () => {
    const topic = topicFor('trim');
    const adapter = open({ maxLength: 10 });
    for (let chunk = 0; chunk < 10; chunk++) {
      await adapter.publishBatch(Array.from({ length: 100 }, (_, n) => ({ topic, data: { n } })));
    }
    expect(await redis.xlen(`eventport:${topic}`)).toBeLessThan(250);
  });

  test('entries written by other tools arrive as a JSON object of their fields', async () => {
    const topic = topicFor('foreign');
    const adapter = open();
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe(topic, (message) => {
      received.push(message);
    });
    const id = await redis.xadd(`eventport:${topic}`, '*', 'order', '42', 'status', 'paid');
    await until(() => received.length === 1);
    await subscription.close();
    expect(received[0]?.data).toEqual({ order: '42', status: 'paid' });
    expect(received[0]?.id).toBe(id);
  });

  test('an ephemeral group outlives a closed subscriber while another runs; the last one destroys it, and opened again it starts afresh', async () => {
    const topic = topicFor('ephemeral');
    const adapter = open();
    expect(await adapter.listGroups(topic)).toEqual([]);
    const received: number[] = [];
    const subscribe = () =>
      adapter.subscribe<{ n: number }>(topic, (message) => void received.push(message.data.n), {
        group: 'look',
        ephemeral: true,
      });
    const first = await subscribe();
    const second = await subscribe();
    await adapter.publish({ topic, data: { n: 1 } });
    await until(() => received.includes(1));
    await first.close();
    expect(await adapter.listGroups(topic)).toEqual(['look']);
    await second.close();
    expect(await adapter.listGroups(topic)).toEqual([]);
    // Published while no subscriber ran: not kept for the group, not even by this process.
    await adapter.publish({ topic, data: { n: 2 } });
    const third = await subscribe();
    await adapter.publish({ topic, data: { n: 3 } });
    await until(() => received.includes(3));
    await third.close();
    expect(received).toEqual([1, 3]);
    expect(await adapter.listGroups(topic)).toEqual([]);
  });

  test('lag is left undefined, not guessed, while Redis cannot count it (an entry deleted ahead of the group)', async () => {
    const topic = topicFor('lag-deleted');
    const adapter = open();
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const subscription = await adapter.subscribe(topic, () => blocked, { group: 'g', concurrency: 1 });
    const lagUntil = async (done: (messages: number | undefined) => boolean) => {
      const deadline = Date.now() + 15_000;
      let messages = (await subscription.lag())?.messages;
      while (!done(messages) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        messages = (await subscription.lag())?.messages;
      }
      return messages;
    };
    await adapter.publishBatch(Array.from({ length: 5 }, (_, n) => ({ topic, data: { n } })));
    expect(await lagUntil((messages) => messages !== undefined && messages < 5)).toBeGreaterThan(0);
    const [[newest]] = (await redis.xrevrange(`eventport:${topic}`, '+', '-', 'COUNT', 1)) as [[string, string[]]];
    await redis.xdel(`eventport:${topic}`, newest);
    expect(await lagUntil((messages) => messages === undefined)).toBeUndefined();
    release();
    await adapter.publish({ topic, data: { n: 5 } });
    // Once the group has read the newest entry, Redis counts again.
    expect(await lagUntil((messages) => messages === 0)).toBe(0);
    await subscription.close();
  });

  test('createAdapter("redis-streams") reads REDIS_URL', async () => {
    const adapter = await createAdapter('redis-streams', { url: process.env.REDIS_URL });
    adapters.push(adapter);
    expect(adapter.backend).toBe('redis-streams');
    expect(await adapter.health()).toMatchObject({ ok: true });
  });
});

describe('ioredis 5 and 6 reply shapes', () => {
  const entry = [Buffer.from('1-0'), [Buffer.from('body'), Buffer.from('{}')]];
  const ids = (reply: unknown) => parseReadReply(reply).map((parsed) => parsed.id);

  test('XREADGROUP: nested (ioredis 5), flattened RESP3 map (ioredis 6), object (replyMapping resp3), null', () => {
    expect(ids([[Buffer.from('s'), [entry]]])).toEqual(['1-0']);
    expect(ids([Buffer.from('s'), [entry]])).toEqual(['1-0']);
    expect(ids({ s: [entry] })).toEqual(['1-0']);
    expect(ids(null)).toEqual([]);
  });

  test('a malformed reply is an error, never an empty read', () => {
    const malformed: unknown[] = [
      undefined,
      42,
      'OK',
      [Buffer.from('s')],
      [[Buffer.from('s'), 'not entries']],
      [[Buffer.from('s'), [[Buffer.from('1-0'), [Buffer.from('odd')]]]]],
      [[Buffer.from('s'), [[42, []]]]],
    ];
    for (const reply of malformed) expect(() => parseReadReply(reply)).toThrow(/unexpected XREADGROUP reply shape/);
    expect(() => parseCursorReply([Buffer.from('0-0')], 'XAUTOCLAIM')).toThrow(/unexpected XAUTOCLAIM reply/);
    expect(() => parsePending([['1-0', 'c', 5]])).toThrow(/unexpected XPENDING reply/);
    expect(() => parseCursorReply({ cursor: '0' }, 'SCAN')).toThrow(/unexpected SCAN reply/);
  });

  test('XINFO GROUPS: field lists (RESP2 and RESP3 flattened) and objects; a null or absent lag (Redis 6) is undefined', () => {
    expect(parseGroups([['name', 'a', 'pending', 1, 'lag', 3]])).toEqual([{ name: 'a', lag: 3 }]);
    expect(parseGroups([{ name: 'a', lag: null }, ['name', Buffer.from('b')]])).toEqual([{ name: 'a' }, { name: 'b' }]);
    expect(parseGroups([])).toEqual([]);
    for (const reply of [null, [['name']], [[]], [42]]) {
      expect(() => parseGroups(reply)).toThrow(/unexpected XINFO GROUPS reply/);
    }
  });

  test.each([2, 3] as const)(
    "RESP%i: new entries, a nack (attempt 2), a dead member's entries (attempt 2) and listTopics all work",
    async (protocol) => {
      const topic = topicFor(`resp${protocol}`);
      const stream = `eventport:${topic}`;
      const adapter = open({ redis: { protocol } });
      await redis.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
      await adapter.publishBatch([
        { topic, data: { n: 'dead-1' } },
        { topic, data: { n: 'dead-2' } },
      ]);
      await redis.xreadgroup('GROUP', 'g', 'dead', 'COUNT', 10, 'STREAMS', stream, '>');
      const attempts = new Map<string, number>();
      let failed = false;
      const subscription = await adapter.subscribe<{ n: string }>(
        topic,
        (message) => {
          if (message.data.n === 'new-0' && !failed) {
            failed = true;
            throw new Error('planned failure');
          }
          attempts.set(message.data.n, message.attempt);
        },
        { group: 'g', redeliveryDelayMs: () => 10 },
      );
      await adapter.publishBatch(['new-0', 'new-1', 'new-2'].map((n) => ({ topic, data: { n } })));
      await until(() => attempts.size >= 5);
      expect(Object.fromEntries(attempts)).toEqual({ 'dead-1': 2, 'dead-2': 2, 'new-0': 2, 'new-1': 1, 'new-2': 1 });
      expect(await adapter.listTopics()).toContain(topic);
      expect(await adapter.health()).toMatchObject({ ok: true, ready: true });
      await subscription.close();
    },
  );

  test('a malformed XREADGROUP reply reaches onError and health, instead of "0 received, ok"', async () => {
    const topic = topicFor('malformed');
    const adapter = open();
    await adapter.connect();
    // The reader of the next subscription answers XREADGROUP with a reply of no known shape.
    const native = adapter.native() as Redis;
    const duplicate = native.duplicate.bind(native);
    native.duplicate = (options) => {
      const reader = duplicate(options);
      reader.callBuffer = (async () => [Buffer.from('x'), 'garbage']) as never;
      native.duplicate = duplicate;
      return reader;
    };
    const errors: Error[] = [];
    const received: number[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(
      topic,
      (message) => void received.push(message.data.n),
      {
        onError: (error) => errors.push(error as Error),
      },
    );
    await until(() => errors.length > 0);
    expect(errors[0]?.message).toMatch(/unexpected XREADGROUP reply shape/);
    expect((await adapter.health()).subscriptions[0]).toMatchObject({ state: 'reconnecting' });
    // The replacement receiver reads normally again.
    await adapter.publish({ topic, data: { n: 1 } });
    await until(() => received.includes(1) && subscription.state.state === 'running');
    await subscription.close();
  });
});

describe('poison', () => {
  test('6 undecodable entries among 200 valid ones at concurrency 8, no onInvalid: all 200 valid are handled', async () => {
    const topic = topicFor('poison');
    const adapter = open();
    const handled = new Set<number>();
    const errors: unknown[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(
      topic,
      (message) => {
        handled.add(message.data.n);
      },
      { concurrency: 8, onError: (error) => errors.push(error) },
    );
    for (let chunk = 0; chunk < 6; chunk++) {
      const size = chunk < 2 ? 34 : 33;
      const from = chunk < 2 ? chunk * 34 : 68 + (chunk - 2) * 33;
      await adapter.publishBatch(Array.from({ length: size }, (_, n) => ({ topic, data: { n: from + n } })));
      await redis.xadd(`eventport:${topic}`, '*', 'headers', '{"content-type":"application/json"}', 'body', '{nope');
    }
    await until(() => handled.size === 200, 30_000);
    await subscription.close();
    expect(errors.some((error) => isEventportError(error, 'INVALID_MESSAGE'))).toBe(true);
  });
});

describe('configuration errors never show credentials', () => {
  const secret = 's3cr3t-pa55';

  test('a URL with the wrong scheme', async () => {
    const attempt = createAdapter('redis-streams', { url: `http://admin:${secret}@localhost:6379` });
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    await attempt.catch((error: Error) => expect(error.message).not.toContain(secret));
    let thrown: unknown;
    try {
      createRedisStreamsAdapter({ url: `mysql://admin:${secret}@localhost` });
    } catch (error) {
      thrown = error;
    }
    expect(isEventportError(thrown, 'INVALID_CONFIG')).toBe(true);
    expect((thrown as Error).message).not.toContain(secret);
  });

  test('bad numeric options are rejected before connecting', () => {
    expect(() => createRedisStreamsAdapter({ url, claimIdleMs: 0 })).toThrow(
      /option "claimIdleMs": Too small: expected number to be >0/,
    );
    expect(() => createRedisStreamsAdapter({ url, redis: { keyPrefix: 'x:' } })).toThrow(/keyPrefix/);
    // The schema is strict: a misspelt option fails, naming the closest valid one.
    expect(() => createRedisStreamsAdapter({ url, claimIdelMs: 1_000 } as never)).toThrow(
      /unknown option "claimIdelMs" \(did you mean "claimIdleMs"\?\)/,
    );
  });

  test('an unreachable server with credentials: a CONNECTION error naming host and port only', async () => {
    // disconnectTimeout: ioredis otherwise keeps a 2 s timer after a refused connection, holding jest open.
    const adapter = createRedisStreamsAdapter({
      url: `redis://admin:${secret}@127.0.0.1:1`,
      redis: { disconnectTimeout: 10 },
    });
    const error = (await adapter.connect().catch((caught: unknown) => caught)) as Error;
    expect(isEventportError(error, 'CONNECTION')).toBe(true);
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).not.toContain(secret);
    const health = await adapter.health();
    expect(health.ok).toBe(false);
    expect(JSON.stringify(health)).not.toContain(secret);
    await adapter.disconnect();
  });
});

describe('on a private Redis', () => {
  const volatile = new PrivateRedis(false);
  beforeAll(() => volatile.start());
  afterAll(() => volatile.stop());

  test('an ACL user from the URL, without the CLIENT command: works, and close() still ends', async () => {
    const admin = new Redis(volatile.url);
    await admin.acl('SETUSER', 'app', 'on', '>app-password', '~*', '&*', '+@all', '-client');
    admin.disconnect();
    const topic = topicFor('acl');
    const adapter = open({ url: volatile.url.replace('redis://', 'redis://app:app-password@') });
    const received: number[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(topic, (message) => {
      received.push(message.data.n);
    });
    await adapter.publish({ topic, data: { n: 1 } });
    await until(() => received.includes(1));
    await subscription.close();
    await adapter.disconnect();
    const wrong = open({
      url: volatile.url.replace('redis://', 'redis://app:wrong-password@'),
      redis: { disconnectTimeout: 10 },
    });
    const refused = (await wrong.connect().catch((error: unknown) => error)) as Error;
    expect(isEventportError(refused, 'PERMISSION_DENIED')).toBe(true);
    expect(refused.message).not.toContain('wrong-password');
  });

  test('restarted without persistence (data lost): the group is recreated and what is published next arrives', async () => {
    const topic = topicFor('volatile');
    const adapter = open({ url: volatile.url });
    const received: number[] = [];
    const subscription = await adapter.subscribe<{ n: number }>(topic, (message) => {
      received.push(message.data.n);
    });
    await adapter.publish({ topic, data: { n: 1 } });
    await until(() => received.includes(1));
    await volatile.restart();
    // The first publish may meet the outage: it fails with a retryable CONNECTION error or goes through.
    for (let attempt = 1; ; attempt++) {
      try {
        await adapter.publish({ topic, data: { n: 2 } });
        break;
      } catch (error) {
        expect(isEventportError(error, 'CONNECTION')).toBe(true);
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    await until(() => received.includes(2));
    await subscription.close();
    // Before the server goes away for good, or ioredis keeps reconnecting to it.
    await adapter.disconnect();
    expect(received).toEqual([1, 2]);
  });
});
