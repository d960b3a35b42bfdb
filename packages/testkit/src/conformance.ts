import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { inspect } from 'node:util';
import {
  type AdapterOptions,
  CAUSATION_HEADER,
  type Capabilities,
  CORRELATION_HEADER,
  type Codec,
  defineEvent,
  type EventAdapter,
  EventChannel,
  type EventMessage,
  EventportError,
  InvalidMessageError,
  jsonCodec,
  type PublishInput,
  type ReceivedMessage,
  type SubscribeOptions,
  type Subscription,
  silentLogger,
} from '@eventport/core';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { z } from 'zod';
import { type CrashWorkerOptions, runCompetingCase, runCrashCase } from './crash.js';
import { eventually, sleep, Tally } from './tally.js';

export interface ConformanceHarness {
  /** Shown in test names and in the printed counts. */
  name: string;
  /** What the adapter declares; cases needing a capability it lacks are skipped (and shown as skipped). */
  capabilities: Capabilities;
  /** A new, unconnected adapter on the backend under test. Options are the portable ones (codec, logger...). */
  makeAdapter(options?: AdapterOptions): EventAdapter | Promise<EventAdapter>;
  /** Restarts the broker process (case 16). Absent: the case is reported as not applicable, not passed. */
  restartBroker?(): Promise<void>;
  /** Environment for a child process that builds the same backend with createAdapter() (case 17). */
  crashWorker?: CrashWorkerOptions;
  /** How long to wait for deliveries before calling a message missing. Default 60 s. */
  deliveryTimeoutMs?: number;
  /**
   * A new adapter configured to talk to `address`, a TCP server that accepts connections and never
   * answers (case 22). Absent only for an in-process backend.
   */
  makeSilentAdapter?(
    address: { host: string; port: number },
    options: AdapterOptions,
  ): EventAdapter | Promise<EventAdapter>;
  /** An adapter whose credential is wrong, and that credential (case 23). Absent where the backend has none. */
  wrongCredential?: {
    secret: string;
    makeAdapter(options: AdapterOptions): EventAdapter | Promise<EventAdapter>;
  };
  /** Per-backend settings for the subscriptions the suite opens (e.g. a short redelivery delay). */
  subscribeDefaults?: { drainTimeoutMs?: number };
}

export interface CaseReport {
  case: string;
  published: number;
  receivedUnique: number;
  missing: number;
  duplicates: number;
  note?: string;
}

const fastRedelivery = () => 20;

/** A case the backend cannot run shows up as skipped in jest's output, never as passed. */
const testIf = (condition: boolean) => (condition ? test : test.skip);

/**
 * The one suite every adapter passes. Each case reports published / received unique / missing /
 * duplicates; cases whose capability the backend does not declare are listed as not applicable.
 */
export function runConformance(harness: ConformanceHarness): void {
  const reports: CaseReport[] = [];
  const run = randomUUID().slice(0, 8);
  const timeoutMs = harness.deliveryTimeoutMs ?? 60_000;
  const adapters: EventAdapter[] = [];
  let adapter: EventAdapter;

  const topicFor = (name: string) => `ep-${harness.name}-${name}-${run}`.replace(/[^A-Za-z0-9._-]/g, '-');
  const open = async (options?: AdapterOptions) => {
    const created = await harness.makeAdapter(options);
    adapters.push(created);
    return created;
  };
  const report = (name: string, tally: Tally, note?: string) => {
    const entry: CaseReport = { case: name, ...tally.summary(), ...(note ? { note } : {}) };
    reports.push(entry);
    return entry;
  };
  const subscribeAll = (
    target: EventAdapter,
    topic: string,
    tally: Tally,
    options: Parameters<EventAdapter['subscribe']>[2] = {},
  ): Promise<Subscription> =>
    target.subscribe(topic, (message) => tally.record(message.id), {
      redeliveryDelayMs: fastRedelivery,
      ...harness.subscribeDefaults,
      ...options,
    });
  /** Subscribes until every message of `sent` arrived once; returns what arrived, by id. */
  const receiveAll = async (topic: string, sent: readonly EventMessage[], options: SubscribeOptions) => {
    const tally = new Tally();
    tally.expect(sent.map((message) => message.id));
    const received = new Map<string, ReceivedMessage>();
    const subscription = await adapter.subscribe(
      topic,
      (message) => {
        received.set(message.id, message);
        tally.record(message.id);
      },
      options,
    );
    await tally.waitForAll(timeoutMs);
    await subscription.close();
    return { tally, received };
  };
  /** On a backend that replays, every case starts its group at the oldest message so a slow group join cannot miss any. */
  const fromStart = () => (harness.capabilities.replayFromStart ? { fromBeginning: true } : {});
  /** Where a backend does not replay, the group must exist before publishing for messages to be kept for it. */
  const startPosition = async (topic: string, group: string) => {
    if (harness.capabilities.replayFromStart) return { fromBeginning: true };
    const probe = await adapter.subscribe(topic, () => undefined, { group });
    await probe.close();
    return { fromBeginning: false };
  };

  describe(`conformance: ${harness.name}`, () => {
    // Cases wait up to a few delivery timeouts (large counts, rounds of rejoining a group); jest must not cut them off first.
    jest.setTimeout(timeoutMs * 5);
    beforeAll(async () => {
      adapter = await open();
      await adapter.connect();
    });

    test('00 declared capabilities match the adapter', () => {
      expect(adapter.capabilities).toEqual(harness.capabilities);
    });

    afterAll(async () => {
      await Promise.allSettled(adapters.map((each) => each.disconnect()));
      const lines = reports.map(
        (entry) =>
          `  ${entry.case.padEnd(28)} published=${entry.published} received-unique=${entry.receivedUnique} missing=${entry.missing} duplicates=${entry.duplicates}${entry.note ? ` (${entry.note})` : ''}`,
      );
      console.log(`conformance ${harness.name}:\n${lines.join('\n')}`);
    });

    test('01 publish then subscribe: payload, key, headers and id intact', async () => {
      const topic = topicFor('01');
      const start = await startPosition(topic, 'g01');
      const sent = await adapter.publishBatch(
        Array.from({ length: 100 }, (_, index) => ({
          topic,
          data: { index, text: `message ${index}` },
          key: `key-${index % 7}`,
          headers: { 'x-index': String(index), 'x-case': '01' },
        })),
      );
      const { tally, received } = await receiveAll(topic, sent, { group: 'g01', ...start });
      report('01 publish-then-subscribe', tally);
      expect(tally.missing).toEqual([]);
      for (const message of sent) {
        const got = received.get(message.id);
        expect(got?.data).toEqual(message.data);
        expect(got?.key).toBe(message.key);
        expect(got?.topic).toBe(topic);
        expect(got?.headers).toEqual(message.headers);
        expect(got?.timestamp).toBe(message.timestamp);
      }
    });

    test('02 concurrent publish and subscribe: 50 publishers x 100, 3 subscribers in one group', async () => {
      const topic = topicFor('02');
      const tally = new Tally();
      const subscriptions = await Promise.all(
        Array.from({ length: 3 }, () => subscribeAll(adapter, topic, tally, { group: 'g02', concurrency: 32 })),
      );
      const published = await Promise.all(
        Array.from({ length: 50 }, async (_, publisher) => {
          const ids: string[] = [];
          for (let index = 0; index < 100; index++) {
            ids.push((await adapter.publish({ topic, data: { publisher, index } })).id);
          }
          return ids;
        }),
      );
      tally.expect(published.flat());
      await tally.waitForAll(timeoutMs * 2);
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
      report('02 concurrent', tally);
      expect(tally.published.size).toBe(5000);
      expect(tally.missing).toHaveLength(0);
    });

    test('03 topic isolation: 20 topics x 100, each receives exactly its own', async () => {
      const topics = Array.from({ length: 20 }, (_, index) => topicFor(`03-${index}`));
      const tallies = topics.map(() => new Tally());
      const subscriptions = await Promise.all(
        topics.map((topic, index) => subscribeAll(adapter, topic, tallies[index] as Tally, { group: 'g03' })),
      );
      await Promise.all(
        topics.map(async (topic, index) => {
          const sent = await adapter.publishBatch(Array.from({ length: 100 }, (_, n) => ({ topic, data: { n } })));
          tallies[index]?.expect(sent.map((message) => message.id));
        }),
      );
      await Promise.all(tallies.map((tally) => tally.waitForAll(timeoutMs)));
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
      const total = new Tally();
      for (const tally of tallies) {
        total.expect(tally.published);
        for (const id of tally.published) for (let i = 0; i < tally.timesReceived(id); i++) total.record(id);
      }
      report('03 topic isolation', total);
      for (const tally of tallies) {
        expect(tally.missing).toHaveLength(0);
        expect(tally.strangers).toHaveLength(0);
      }
    });

    testIf(harness.capabilities.orderingKeys)(
      '04 order per key: 1,000 messages over 16 keys arrive in order per key, nacks in the middle included',
      async () => {
        const topic = topicFor('04');
        const tally = new Tally();
        const handled = new Map<string, number[]>();
        // Every 50th message fails twice: its key must wait for it, the other keys must not.
        const failuresLeft = new Map<number, number>(Array.from({ length: 20 }, (_, i) => [i * 50 + 7, 2]));
        let handledWhileAKeyWaited = 0;
        const subscription = await adapter.subscribe<{ seq: number }>(
          topic,
          (message) => {
            const left = failuresLeft.get(message.data.seq) ?? 0;
            if (left > 0) {
              failuresLeft.set(message.data.seq, left - 1);
              throw new Error(`planned failure of ${message.data.seq}`);
            }
            if ([...failuresLeft.values()].some((remaining) => remaining > 0)) handledWhileAKeyWaited++;
            const list = handled.get(message.key as string) ?? [];
            list.push(message.data.seq);
            handled.set(message.key as string, list);
            tally.record(message.id);
          },
          { group: 'g04', concurrency: 8, redeliveryDelayMs: () => 50, ...fromStart() },
        );
        const sent = await adapter.publishBatch(
          Array.from({ length: 1000 }, (_, seq) => ({ topic, key: `k${seq % 16}`, data: { seq } })),
        );
        tally.expect(sent.map((message) => message.id));
        await tally.waitForAll(timeoutMs);
        await subscription.close();
        report('04 order per key', tally, `40 nacks; ${handledWhileAKeyWaited} handled while a key waited`);
        expect(tally.missing).toHaveLength(0);
        expect([...failuresLeft.values()].every((remaining) => remaining === 0)).toBe(true);
        let outOfOrder = 0;
        for (const list of handled.values())
          for (let i = 1; i < list.length; i++) if ((list[i] as number) < (list[i - 1] as number)) outOfOrder++;
        expect(outOfOrder).toBe(0);
        expect(handledWhileAKeyWaited).toBeGreaterThan(0);
      },
    );

    test('05 redelivery on failure: 2 failing messages, all 100 processed', async () => {
      const topic = topicFor('05');
      const tally = new Tally();
      const failOnce = new Set<number>([13, 77]);
      const attempts = new Map<number, number[]>();
      const subscription = await adapter.subscribe<{ n: number }>(
        topic,
        (message) => {
          attempts.set(message.data.n, [...(attempts.get(message.data.n) ?? []), message.attempt]);
          if (failOnce.delete(message.data.n)) throw new Error(`planned failure of ${message.data.n}`);
          tally.record(message.id);
        },
        { group: 'g05', redeliveryDelayMs: fastRedelivery, ...fromStart() },
      );
      const sent = await adapter.publishBatch(Array.from({ length: 100 }, (_, n) => ({ topic, data: { n } })));
      tally.expect(sent.map((message) => message.id));
      await tally.waitForAll(timeoutMs);
      await subscription.close();
      report('05 redelivery', tally);
      expect(tally.missing).toHaveLength(0);
      expect(failOnce.size).toBe(0);
      if (harness.capabilities.deliveryCount) {
        expect(attempts.get(13)).toEqual([1, 2]);
        expect(attempts.get(77)).toEqual([1, 2]);
      }
    });

    test('06 no ack, no progress: with concurrency 1, message 2 waits for message 1', async () => {
      const topic = topicFor('06');
      const events: string[] = [];
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const subscription = await adapter.subscribe<{ n: number }>(
        topic,
        async (message) => {
          events.push(`start ${message.data.n}`);
          if (message.data.n === 1) await released;
          events.push(`end ${message.data.n}`);
        },
        { group: 'g06', concurrency: 1, ...fromStart() },
      );
      await adapter.publish({ topic, key: 'same', data: { n: 1 } });
      await adapter.publish({ topic, key: 'same', data: { n: 2 } });
      expect(await eventually(() => events.includes('start 1'), timeoutMs)).toBe(true);
      await sleep(500);
      const beforeRelease = [...events];
      release();
      expect(await eventually(() => events.includes('end 2'), timeoutMs)).toBe(true);
      await subscription.close();
      reports.push({ case: '06 no ack no progress', published: 2, receivedUnique: 2, missing: 0, duplicates: 0 });
      expect(beforeRelease).toEqual(['start 1']);
      expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    });

    testIf(harness.capabilities.persistent)(
      '07 continue after close: 5,000 messages over 5 rounds of the same group',
      async () => {
        const topic = topicFor('07');
        const start = await startPosition(topic, 'g07');
        const tally = new Tally();
        const sent = await publishInChunks(
          adapter,
          Array.from({ length: 5000 }, (_, n) => ({ topic, data: { n } })),
        );
        tally.expect(sent);
        for (let round = 1; round <= 5; round++) {
          const subscription = await subscribeAll(adapter, topic, tally, { group: 'g07', ...start });
          await tally.waitForAll(timeoutMs, round === 5 ? 5000 : round * 1000);
          await subscription.close();
        }
        report('07 continue after close', tally);
        expect(tally.missing).toHaveLength(0);
      },
    );

    test('08 concurrent close: 10 subscriptions closed at once, then 50 new messages all arrive', async () => {
      const topic = topicFor('08');
      const idle = new Tally();
      const many = await Promise.all(
        Array.from({ length: 10 }, () => subscribeAll(adapter, topic, idle, { group: 'g08' })),
      );
      await Promise.all(many.map((subscription) => subscription.close()));
      await Promise.all(many.map((subscription) => subscription.close()));
      const tally = new Tally();
      const subscription = await subscribeAll(adapter, topic, tally, { group: 'g08' });
      const sent = await adapter.publishBatch(Array.from({ length: 50 }, (_, n) => ({ topic, data: { n } })));
      tally.expect(sent.map((message) => message.id));
      await tally.waitForAll(timeoutMs);
      await subscription.close();
      report('08 concurrent close', tally);
      expect(tally.missing).toHaveLength(0);
      expect(idle.receivedUnique).toBe(0);
    });

    test('09 continue after errors: 100 failures in a row, then all 50 delivered', async () => {
      const topic = topicFor('09');
      const tally = new Tally();
      let failuresLeft = 100;
      const subscription = await adapter.subscribe(
        topic,
        (message) => {
          if (failuresLeft > 0) {
            failuresLeft--;
            throw new Error('planned failure');
          }
          tally.record(message.id);
        },
        { group: 'g09', redeliveryDelayMs: () => 5, ...fromStart() },
      );
      const sent = await adapter.publishBatch(Array.from({ length: 50 }, (_, n) => ({ topic, data: { n } })));
      tally.expect(sent.map((message) => message.id));
      await tally.waitForAll(timeoutMs);
      await subscription.close();
      report('09 continue after errors', tally, `${100 - failuresLeft} failures`);
      expect(failuresLeft).toBe(0);
      expect(tally.missing).toHaveLength(0);
    });

    testIf(harness.capabilities.consumerGroups)(
      '10 consumer groups: each group gets all 50; within a group each message goes to one member',
      async () => {
        const topic = topicFor('10');
        const start = fromStart();
        const groupA = [new Tally(), new Tally()];
        const groupB = new Tally();
        const subscriptions = [
          ...(await Promise.all(
            groupA.map((tally) => subscribeAll(adapter, topic, tally, { group: 'g10-a', ...start })),
          )),
          await subscribeAll(adapter, topic, groupB, { group: 'g10-b', ...start }),
        ];
        const sent = (await adapter.publishBatch(Array.from({ length: 50 }, (_, n) => ({ topic, data: { n } })))).map(
          (m) => m.id,
        );
        const wholeA = new Tally();
        wholeA.expect(sent);
        groupB.expect(sent);
        for (const tally of groupA) tally.expect(sent);
        await eventually(() => sent.every((id) => groupA.some((tally) => tally.timesReceived(id) > 0)), timeoutMs);
        await groupB.waitForAll(timeoutMs);
        await Promise.all(subscriptions.map((subscription) => subscription.close()));
        for (const id of sent)
          for (const tally of groupA) for (let i = 0; i < tally.timesReceived(id); i++) wholeA.record(id);
        report('10 consumer groups (a)', wholeA);
        report('10 consumer groups (b)', groupB);
        expect(wholeA.missing).toHaveLength(0);
        expect(groupB.missing).toHaveLength(0);
        expect(wholeA.duplicates).toBe(0);
      },
    );

    test('11 publisher close: 10,000 messages from 20 publishers that disconnect right away, none lost', async () => {
      const topic = topicFor('11');
      const tally = new Tally();
      const subscription = await subscribeAll(adapter, topic, tally, {
        group: 'g11',
        concurrency: 64,
        ...fromStart(),
      });
      const ids = await Promise.all(
        Array.from({ length: 20 }, async (_, publisher) => {
          const producer = await open();
          const pending = Array.from({ length: 10 }, (_, chunk) =>
            producer.publishBatch(
              Array.from({ length: 50 }, (_, n) => ({ topic, data: { publisher, n: chunk * 50 + n } })),
            ),
          );
          // disconnect() while the publishes are in flight: it must wait for them, not cut them off.
          const closed = producer.disconnect();
          const sent = (await Promise.all(pending)).flat();
          await closed;
          return sent.map((message) => message.id);
        }),
      );
      tally.expect(ids.flat());
      await tally.waitForAll(timeoutMs * 2);
      await subscription.close();
      report('11 publisher close', tally);
      expect(tally.published.size).toBe(10_000);
      expect(tally.missing).toHaveLength(0);
    });

    test('12 headers and body edge cases; an invalid header fails on publish with a typed error', async () => {
      const topic = topicFor('12');
      const headers: Record<string, string> = {
        unicode: 'zażółć gęślą jaźń — 日本語 — 🚀',
        slashes: 'a/b\\c//d',
        quotes: `"double" 'single' \`back\``,
        empty: '',
        'x-json': '{"a":[1,2]}',
        'x-url': 'https://example.com/a?b=c&d=e',
        'x-space': ' leading and trailing ',
        'x-newline': 'line1\nline2',
        'x-long': 'x'.repeat(1000),
        'x-ten': '10',
      };
      const binary = Buffer.from(Array.from({ length: 256 }, (_, byte) => byte));
      const start = await startPosition(topic, 'g12');
      const sent = [
        await adapter.publish({ topic, data: { text: 'ünïcödé "quoted" \\ / \u0000 end' }, headers }),
        await adapter.publish({ topic, data: binary, headers: { kind: 'binary' } }),
        await adapter.publish({ topic, data: '', headers: { kind: 'empty-string' } }),
        await adapter.publish({ topic, data: null, headers: { kind: 'null' } }),
      ];
      const { tally, received } = await receiveAll(topic, sent, { group: 'g12', ...start });
      report('12 headers and body', tally);
      expect(tally.missing).toHaveLength(0);
      const [text, bytes, emptyString, nothing] = sent.map((message) => received.get(message.id));
      expect(text?.headers).toEqual(sent[0]?.headers);
      expect(text?.data).toEqual(sent[0]?.data);
      expect(Buffer.isBuffer(bytes?.data) && bytes.data.equals(binary)).toBe(true);
      expect(emptyString?.data).toBe('');
      expect(nothing?.data).toBeNull();
      const invalidHeaders: unknown[] = [{ n: 1 }, { x: undefined }, { 'ce-id': 'reserved' }, { '': 'empty name' }];
      for (const bad of invalidHeaders) {
        const attempt = adapter.publish({ topic, data: 1, headers: bad as Record<string, string> });
        await expect(attempt).rejects.toBeInstanceOf(EventportError);
        await expect(attempt).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    });

    test('13 bad payload: not JSON and schema-invalid go to onInvalid; the next good message is processed', async () => {
      const topic = topicFor('13');
      const garbage: Codec = {
        encode: () => ({ body: Buffer.from('{not json'), contentType: 'application/json' }),
        decode: jsonCodec.decode,
      };
      const rogue = await open({ codec: garbage });
      const channel = new EventChannel({
        schema: z.object({ amount: z.number() }),
        topicPrefix: topicFor('13c'),
        adapter,
      });
      const invalid: Array<{ error: InvalidMessageError; body: string }> = [];
      const good = new Tally();
      const start = fromStart();
      const raw = await adapter.subscribe(topic, (message) => good.record(message.id), {
        group: 'g13',
        ...start,
        onInvalid: (error, delivery) => {
          invalid.push({ error, body: delivery.body.toString('utf8') });
        },
      });
      const typed = await channel.pull('paid', (event) => good.record(event.id), {
        group: 'g13',
        ...start,
        onInvalid: (error, delivery) => {
          invalid.push({ error, body: delivery.body.toString('utf8') });
        },
      });
      await rogue.publish({ topic, data: 'ignored' });
      const afterGarbage = await adapter.publish({ topic, data: { fine: true } });
      await adapter.publish({ topic: channel.topic('paid'), data: { amount: 'not a number' } });
      const afterInvalid = await channel.push('paid', { amount: 5 });
      good.expect([afterGarbage.id, afterInvalid.id]);
      await good.waitForAll(timeoutMs);
      expect(await eventually(() => invalid.length >= 2, timeoutMs)).toBe(true);
      await Promise.all([raw.close(), typed.close()]);
      report('13 bad payload', good, `${invalid.length} routed to onInvalid`);
      expect(good.missing).toHaveLength(0);
      expect(invalid).toHaveLength(2);
      expect(
        invalid.every(({ error }) => error instanceof InvalidMessageError && error.code === 'INVALID_MESSAGE'),
      ).toBe(true);
      expect(invalid.map(({ body }) => body).sort()).toEqual(['{"amount":"not a number"}', '{not json'].sort());
    });

    test('21 poison does not stall: 6 undecodable among 200 valid at concurrency 8, no onInvalid', async () => {
      const topic = topicFor('21');
      const garbage: Codec = {
        encode: () => ({ body: Buffer.from('{not json'), contentType: 'application/json' }),
        decode: jsonCodec.decode,
      };
      const rogue = await open({ codec: garbage });
      const tally = new Tally();
      const errors: unknown[] = [];
      const start = await startPosition(topic, 'g21');
      const subscription = await adapter.subscribe(topic, (message) => tally.record(message.id), {
        group: 'g21',
        concurrency: 8,
        redeliveryDelayMs: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
        onError: (error) => errors.push(error),
        ...start,
      });
      const sent: EventMessage[] = [];
      for (let chunk = 0; chunk < 6; chunk++) {
        await rogue.publish({ topic, data: 'poison', key: `k${chunk}` });
        sent.push(
          ...(await adapter.publishBatch(
            Array.from({ length: chunk < 5 ? 34 : 30 }, (_, n) => ({
              topic,
              key: `k${(chunk * 34 + n) % 6}`,
              data: { n },
            })),
          )),
        );
      }
      expect(sent).toHaveLength(200);
      tally.expect(sent.map((message) => message.id));
      await tally.waitForAll(timeoutMs);
      await subscription.close();
      // Never silently: reported through onError, or (under a dead-letter decorator) diverted to <topic>.dlq.
      const reported = errors.filter((error) => error instanceof InvalidMessageError).length;
      let deadLettered = 0;
      if (reported === 0) {
        const dlq = await adapter.subscribe(
          `${topic}.dlq`,
          () => {
            deadLettered++;
          },
          { group: 'g21-dlq', ...fromStart() },
        );
        await eventually(() => deadLettered >= 6, timeoutMs);
        await dlq.close();
      }
      report(
        '21 poison does not stall',
        tally,
        `${reported} invalid deliveries reported through onError, ${deadLettered} dead-lettered`,
      );
      expect(tally.missing).toHaveLength(0);
      expect(reported > 0 || deadLettered === 6).toBe(true);
    });

    test('14 closed handles: typed errors after disconnect, double close is safe', async () => {
      const topic = topicFor('14');
      const short = await open();
      const subscription = await short.subscribe(topic, () => undefined, { group: 'g14' });
      await subscription.close();
      await subscription.close();
      await short.disconnect();
      await short.disconnect();
      await expect(short.publish({ topic, data: 1 })).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(short.subscribe(topic, () => undefined)).rejects.toMatchObject({ code: 'CLOSED' });
      const stream = adapter.consume(topic, { group: 'g14' });
      await stream.close();
      const iterator = stream[Symbol.asyncIterator]();
      expect((await iterator.next()).done).toBe(true);
      reports.push({ case: '14 closed handles', published: 0, receivedUnique: 0, missing: 0, duplicates: 0 });
    });

    testIf(harness.capabilities.topicAdmin)('15 topic admin: create, list, delete', async () => {
      const topic = topicFor('15');
      await adapter.createTopic(topic, { partitions: 2 });
      expect(await adapter.listTopics()).toContain(topic);
      await adapter.deleteTopic(topic);
      expect(await adapter.listTopics()).not.toContain(topic);
      reports.push({ case: '15 topic admin', published: 0, receivedUnique: 0, missing: 0, duplicates: 0 });
    });

    testIf(!harness.capabilities.topicAdmin)(
      '15 topic admin: declared unsupported, so calls fail with UNSUPPORTED',
      async () => {
        await expect(adapter.createTopic(topicFor('15'))).rejects.toMatchObject({ code: 'UNSUPPORTED' });
        await expect(adapter.listTopics()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      },
    );

    testIf(harness.restartBroker !== undefined)(
      '16 broker restart: 10,000 messages while the broker restarts twice',
      async () => {
        const topic = topicFor('16');
        const tally = new Tally();
        const start = await startPosition(topic, 'g16');
        const subscription = await subscribeAll(adapter, topic, tally, { group: 'g16', concurrency: 64, ...start });
        const publishing = (async () => {
          for (let chunk = 0; chunk < 100; chunk++) {
            const batch = Array.from({ length: 100 }, (_, n) => ({
              topic,
              id: `r16-${run}-${chunk * 100 + n}`,
              data: { n: chunk * 100 + n },
            }));
            tally.expect(batch.map((message) => message.id));
            // A publish that fails while the broker is down is retried by the caller, as an application would.
            for (let attempt = 1; ; attempt++) {
              try {
                await adapter.publishBatch(batch);
                break;
              } catch (error) {
                if (attempt > 60) throw error;
                await sleep(500);
              }
            }
          }
        })();
        await sleep(300);
        await harness.restartBroker?.();
        await sleep(1_000);
        await harness.restartBroker?.();
        await publishing;
        await tally.waitForAll(timeoutMs * 3);
        await subscription.close();
        report('16 broker restart', tally, 'restarted twice');
        expect(tally.missing).toHaveLength(0);
      },
      600_000,
    );

    testIf(harness.crashWorker !== undefined)(
      '17 consumer crash: SIGKILL mid-stream, the group gets every unacked message',
      async () => {
        const result = await runCrashCase(
          adapter,
          harness.crashWorker as CrashWorkerOptions,
          topicFor('17'),
          timeoutMs,
        );
        report('17 consumer crash', result.tally, `worker acked ${result.ackedByWorker} before SIGKILL`);
        expect(result.tally.missing).toHaveLength(0);
        expect(result.ackedByWorker).toBeGreaterThan(0);
      },
      300_000,
    );

    testIf(harness.crashWorker !== undefined && harness.capabilities.consumerGroups)(
      '24 competing processes: two consumer processes in one group share 1,000 messages',
      async () => {
        const result = await runCompetingCase(
          adapter,
          harness.crashWorker as CrashWorkerOptions,
          topicFor('24'),
          timeoutMs,
        );
        const handled = result.shares.reduce((sum, share) => sum + share, 0);
        report('24 competing processes', result.tally, `shares ${result.shares.join(' / ')}`);
        expect(result.tally.missing).toHaveLength(0);
        // Competing, not each taking everything: duplicates are at-least-once redeliveries, far below a second copy.
        expect(handled).toBeLessThan(1_500);
      },
      300_000,
    );

    testIf(harness.makeSilentAdapter !== undefined)(
      '22 deadlines: against a server that accepts TCP and never answers, every call ends by its deadline',
      async () => {
        const silent = await silentServer();
        try {
          const deadlines = { connectMs: 2_000, healthMs: 1_500, publishMs: 3_000, adminMs: 3_000, closeMs: 2_000 };
          const mute = await (harness.makeSilentAdapter as NonNullable<ConformanceHarness['makeSilentAdapter']>)(
            silent.address,
            { deadlines, logger: silentLogger },
          );
          const timed = async (call: () => Promise<unknown>) => {
            const started = Date.now();
            const outcome = await call().then(
              (value) => ({ resolved: value }),
              (error: unknown) => ({ code: (error as EventportError).code }),
            );
            return { ...outcome, ms: Date.now() - started };
          };
          const results = {
            connect: await timed(() => mute.connect()),
            health: await timed(() => mute.health()),
            publish: await timed(() => mute.publish({ topic: topicFor('22'), data: 1 })),
            subscribe: await timed(() => mute.subscribe(topicFor('22'), () => undefined, { group: 'g22' })),
            disconnect: await timed(() => mute.disconnect()),
          };
          console.log(`conformance ${harness.name}: silent server ${JSON.stringify(results)}`);
          reports.push({
            case: '22 deadlines',
            published: 0,
            receivedUnique: 0,
            missing: 0,
            duplicates: 0,
            note: Object.entries(results)
              .map(([call, result]) => `${call} ${result.ms} ms`)
              .join(', '),
          });
          const grace = 2_500;
          expect(results.connect).toMatchObject({ code: expect.stringMatching(/^(TIMEOUT|CONNECTION)$/) });
          expect(results.connect.ms).toBeLessThan(deadlines.connectMs + grace);
          expect(results.health).toMatchObject({ resolved: { ok: false, ready: false } });
          expect(results.health.ms).toBeLessThan(deadlines.healthMs + grace);
          expect(results.publish).toMatchObject({ code: expect.stringMatching(/^(TIMEOUT|CONNECTION)$/) });
          expect(results.publish.ms).toBeLessThan(deadlines.publishMs + grace);
          expect(results.subscribe).toMatchObject({ code: expect.stringMatching(/^(TIMEOUT|CONNECTION)$/) });
          expect(results.subscribe.ms).toBeLessThan(deadlines.connectMs + deadlines.adminMs + grace);
          expect(results.disconnect.ms).toBeLessThan(deadlines.closeMs + grace);
        } finally {
          await silent.close();
        }
      },
    );

    testIf(harness.wrongCredential !== undefined)(
      '23 secrets: with a wrong credential, no error, log line or health output contains it',
      async () => {
        const { secret, makeAdapter } = harness.wrongCredential as NonNullable<ConformanceHarness['wrongCredential']>;
        const logged: string[] = [];
        const capture = (level: string) => (message: string, fields?: Record<string, unknown>) =>
          logged.push(`${level} ${message} ${inspect(fields, { depth: Number.POSITIVE_INFINITY })}`);
        const logger = {
          debug: capture('debug'),
          info: capture('info'),
          warn: capture('warn'),
          error: capture('error'),
        };
        const wrong = await makeAdapter({ logger, deadlines: { connectMs: 5_000, healthMs: 5_000, publishMs: 5_000 } });
        const outputs: string[] = [];
        const collect = (error: unknown) => {
          outputs.push(
            String((error as Error)?.message),
            String((error as Error)?.stack),
            JSON.stringify(error),
            inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
          );
          for (let cause = (error as Error)?.cause; cause !== undefined; cause = (cause as Error)?.cause) {
            outputs.push(JSON.stringify(cause), inspect(cause, { depth: Number.POSITIVE_INFINITY, showHidden: true }));
          }
        };
        await wrong.connect().catch(collect);
        await wrong.publish({ topic: topicFor('23'), data: 1 }).catch(collect);
        const health = await wrong.health();
        outputs.push(JSON.stringify(health), inspect(health, { depth: Number.POSITIVE_INFINITY }));
        await wrong.disconnect().catch(collect);
        const found = [...outputs, ...logged].filter((text) => text.includes(secret)).length;
        reports.push({
          case: '23 secrets',
          published: 0,
          receivedUnique: 0,
          missing: 0,
          duplicates: 0,
          note: `${found} occurrences in ${outputs.length + logged.length} outputs`,
        });
        expect(health.ok).toBe(false);
        expect(outputs.length).toBeGreaterThan(4);
        expect(found).toBe(0);
      },
    );

    test('18 graceful shutdown: close() waits for 20 slow handlers and acks them', async () => {
      const topic = topicFor('18');
      const started = new Tally();
      const finished = new Tally();
      const start = fromStart();
      const subscription = await adapter.subscribe(
        topic,
        async (message) => {
          started.record(message.id);
          await sleep(800);
          finished.record(message.id);
        },
        { group: 'g18', concurrency: 20, ...start },
      );
      const sent = await adapter.publishBatch(Array.from({ length: 20 }, (_, n) => ({ topic, data: { n } })));
      started.expect(sent.map((message) => message.id));
      finished.expect(sent.map((message) => message.id));
      await started.waitForAll(timeoutMs);
      await subscription.close();
      const finishedAtClose = finished.receivedUnique;
      const again = new Tally();
      const after = await subscribeAll(adapter, topic, again, { group: 'g18' });
      await sleep(3_000);
      await after.close();
      report('18 graceful shutdown', finished, `${again.receivedUnique} redelivered after close`);
      expect(finishedAtClose).toBe(20);
      expect(again.receivedUnique).toBe(0);
    });

    test('19 correlation and causation: one correlation id across a 3-hop flow, causation ids chain', async () => {
      const [first, second, third] = ['19a', '19b', '19c'].map(topicFor) as [string, string, string];
      const seen = new Map<string, ReceivedMessage>();
      const start = fromStart();
      const hops = await Promise.all([
        adapter.subscribe(
          first,
          async (message) => {
            seen.set('second-hop-input', message);
            await adapter.publish({ topic: second, data: { hop: 2 } });
          },
          { group: 'g19', ...start },
        ),
        adapter.subscribe(
          second,
          async (message) => {
            seen.set('third-hop-input', message);
            await adapter.publish({ topic: third, data: { hop: 3 } });
          },
          { group: 'g19', ...start },
        ),
        adapter.subscribe(
          third,
          (message) => {
            seen.set('end', message);
          },
          { group: 'g19', ...start },
        ),
      ]);
      const origin = await adapter.publish({ topic: first, data: { hop: 1 } });
      expect(await eventually(() => seen.has('end'), timeoutMs)).toBe(true);
      await Promise.all(hops.map((subscription) => subscription.close()));
      const [one, two, three] = ['second-hop-input', 'third-hop-input', 'end'].map(
        (name) => seen.get(name) as ReceivedMessage,
      );
      expect(one.id).toBe(origin.id);
      for (const message of [one, two, three]) expect(message.headers[CORRELATION_HEADER]).toBe(origin.id);
      expect(one.headers[CAUSATION_HEADER]).toBeUndefined();
      expect(two.headers[CAUSATION_HEADER]).toBe(one.id);
      expect(three.headers[CAUSATION_HEADER]).toBe(two.id);
      reports.push({ case: '19 correlation', published: 3, receivedUnique: 3, missing: 0, duplicates: 0 });
    });

    test('20 versioned events: v1 and v2 on one topic are both handled as v3; an unknown version is invalid', async () => {
      const orderPlaced = defineEvent('order.placed')
        .version(1, z.object({ id: z.string(), total: z.number() }))
        .version(2, z.object({ id: z.string(), totalCents: z.number().int() }))
        .version(3, z.object({ id: z.string(), totalCents: z.number().int(), currency: z.string() }))
        .upcast(1, 2, (v1) => {
          const { id, total } = v1 as { id: string; total: number };
          return { id, totalCents: Math.round(total * 100) };
        })
        .upcast(2, 3, (v2) => ({ ...(v2 as object), currency: 'EUR' }));
      const prefix = topicFor('20');
      const channel = new EventChannel({ schema: orderPlaced, topicPrefix: prefix, adapter });
      const tally = new Tally();
      const handled: unknown[] = [];
      const invalid: InvalidMessageError[] = [];
      const subscription = await channel.pull(
        'placed',
        (event) => {
          handled.push(event.data);
          tally.record(event.id);
        },
        { group: 'g20', ...fromStart(), onInvalid: (error) => void invalid.push(error) },
      );
      const topic = channel.topic('placed');
      const sent = [
        await adapter.publish({ topic, data: { id: 'a', total: 12.5 }, headers: { 'event-version': '1' } }),
        await adapter.publish({ topic, data: { id: 'b', totalCents: 900 }, headers: { 'event-version': '2' } }),
        await channel.push('placed', { id: 'c', totalCents: 100, currency: 'USD' }),
      ];
      await adapter.publish({ topic, data: { id: 'd' }, headers: { 'event-version': '9' } });
      tally.expect(sent.map((message) => message.id));
      await tally.waitForAll(timeoutMs);
      expect(await eventually(() => invalid.length === 1, timeoutMs)).toBe(true);
      await subscription.close();
      report('20 versioned events', tally, `${invalid.length} unknown version routed to onInvalid`);
      expect(handled).toEqual(
        expect.arrayContaining([
          { id: 'a', totalCents: 1250, currency: 'EUR' },
          { id: 'b', totalCents: 900, currency: 'EUR' },
          { id: 'c', totalCents: 100, currency: 'USD' },
        ]),
      );
      expect(invalid[0]?.message).toMatch(/no version 9/);
    });
  });
}

async function publishInChunks(adapter: EventAdapter, messages: PublishInput[], size = 250): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < messages.length; index += size) {
    ids.push(...(await adapter.publishBatch(messages.slice(index, index + size))).map((message) => message.id));
  }
  return ids;
}

/** A TCP server that accepts connections and never answers: the fault behind every hang. */
export async function silentServer(): Promise<{ address: { host: string; port: number }; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: { host: '127.0.0.1', port },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
