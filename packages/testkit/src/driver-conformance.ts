import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  ABORT_GRACE_MS,
  createPortableAdapter,
  type Driver,
  type IncomingRecord,
  type OutgoingRecord,
  RESERVED_HEADERS,
  type Receiver,
  type ReceiverOptions,
  retryWithin,
} from '@eventport/core';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { silentServer } from './conformance.js';

export interface DriverConformanceHarness {
  name: string;
  /** A fresh, unconnected driver on the real broker. */
  makeDriver(): Driver | Promise<Driver>;
  /**
   * A driver configured to talk to `address`, a TCP server that accepts connections and never
   * answers. Absent only for an in-process broker, which has no network: those cases show as skipped.
   */
  makeSilentDriver?(address: { host: string; port: number }): Driver | Promise<Driver>;
  /** Restarts the broker; enables the "settle after a reconnect" case. */
  restartBroker?(): Promise<void>;
  /**
   * Lists the groups holding a position on `topic`, straight from the broker, for a driver without
   * `listGroups` (RabbitMQ without its management API): how the ephemeral case sees what is left.
   */
  listGroups?(topic: string): Promise<string[]>;
  /** How long to wait for records to arrive. Default 30 s. */
  receiveTimeoutMs?: number;
}

/** The deadline the silent-server cases give each call; a driver must honour its abort signal by then. */
const SILENT_DEADLINE_MS = 1_000;

/**
 * The driver-level suite (Go CDK's drivertest): what core relies on from every driver, checked
 * directly against the driver, below the consume loop that would otherwise hide a driver's mistakes.
 */
export function runDriverConformance(harness: DriverConformanceHarness): void {
  const run = randomUUID().slice(0, 8);
  const receiveTimeoutMs = harness.receiveTimeoutMs ?? 30_000;
  const topicFor = (name: string) => `dc-${harness.name}-${name}-${run}`.replace(/[^A-Za-z0-9._-]/g, '-');
  const drivers: Driver[] = [];
  const receivers: Receiver[] = [];
  let driver: Driver;

  const connected = async () => {
    const created = await harness.makeDriver();
    drivers.push(created);
    await created.connect(AbortSignal.timeout(30_000));
    return created;
  };
  const made = new Set<string>();
  /** A driver that declares autoCreateTopics leaves making a topic to core: made here as core would. */
  const ensureTopic = async (target: Driver, topic: string) => {
    if (!target.autoCreateTopics || made.has(topic)) return;
    await target.createTopic(topic, {}, AbortSignal.timeout(30_000)).catch((error: unknown) => {
      if (target.classify(error).code !== 'ALREADY_EXISTS') throw error;
    });
    made.add(topic);
  };
  const open = async (target: Driver, topic: string, group: string, options: Partial<ReceiverOptions> = {}) => {
    await ensureTopic(target, topic);
    // As core's consumer does: a join the broker refuses retryably (a group mid-rebalance) is retried.
    const receiver = await retryWithin(
      30_000,
      (error) => target.classify(error).retryable,
      (remainingMs) =>
        target.openReceiver(
          topic,
          { group, fromBeginning: target.capabilities.replayFromStart, maxUnsettled: 64, ...options },
          AbortSignal.timeout(remainingMs),
        ),
    );
    receivers.push(receiver);
    return receiver;
  };
  /** `keyed`: each record gets its own key (a broker that orders by key may hold back a key's next record until the first is settled). */
  const records = (count: number, keyed = false): OutgoingRecord[] =>
    Array.from({ length: count }, (_, n) => ({
      headers: { [RESERVED_HEADERS.id]: randomUUID(), n: String(n) },
      body: Buffer.from(JSON.stringify({ n })),
      dedupeId: randomUUID(),
      ...(keyed ? { key: `k${n}` } : {}),
    }));
  const send = async (target: Driver, topic: string, batch: OutgoingRecord[]) => {
    await ensureTopic(target, topic);
    const results = await target.send(topic, batch, AbortSignal.timeout(30_000));
    expect(results).toHaveLength(batch.length);
    expect(results.filter((result) => !result.ok)).toEqual([]);
  };
  /** Receives until `count` records arrived (or the timeout), never asking for more than `max` at once. */
  const receiveCount = async (receiver: Receiver, count: number, max = 64) => {
    const got: IncomingRecord[] = [];
    const deadline = Date.now() + receiveTimeoutMs;
    while (got.length < count && Date.now() < deadline) {
      const batch = await receiver.receive(Math.min(max, count - got.length), AbortSignal.timeout(1_000));
      expect(batch.length).toBeLessThanOrEqual(Math.min(max, count - got.length));
      got.push(...batch);
    }
    return got;
  };
  const quietFor = async (receiver: Receiver, ms: number) => {
    const extra = await receiver.receive(64, AbortSignal.timeout(ms));
    return extra;
  };
  const n = (record: IncomingRecord) => Number(record.headers.n);

  describe(`driver conformance: ${harness.name}`, () => {
    jest.setTimeout(receiveTimeoutMs * 4);
    let silent: Awaited<ReturnType<typeof silentServer>>;

    beforeAll(async () => {
      driver = await connected();
      silent = await silentServer();
    });

    afterAll(async () => {
      await Promise.allSettled(receivers.map((receiver) => receiver.close()));
      await Promise.allSettled(drivers.map((created) => created.disconnect()));
      await silent.close();
    });

    test('send returns one ok result per record, in order', async () => {
      const topic = topicFor('send');
      const receiver = await open(driver, topic, 'g');
      const batch = records(25);
      await send(driver, topic, batch);
      const got = await receiveCount(receiver, 25);
      expect(new Set(got.map((record) => record.headers[RESERVED_HEADERS.id]))).toEqual(
        new Set(batch.map((record) => record.headers[RESERVED_HEADERS.id])),
      );
      await receiver.settle(got, [], AbortSignal.timeout(10_000));
    });

    test('a missing topic: send and openReceiver fail NOT_FOUND for core to create it (autoCreateTopics); else a send lands or fails NOT_FOUND for good', async () => {
      const topic = topicFor('missing');
      if (!driver.autoCreateTopics) {
        // Core creates nothing then: a send to a new topic lands (the broker makes it) or fails NOT_FOUND
        // for good, never with a retryable error that core would retry until the publish deadline.
        const results = await driver.send(topic, records(1), AbortSignal.timeout(30_000));
        for (const result of results.filter((each) => !each.ok)) {
          expect(driver.classify((result as { error: unknown }).error)).toEqual({
            code: 'NOT_FOUND',
            retryable: false,
          });
        }
        return;
      }
      const results = await driver.send(topic, records(2), AbortSignal.timeout(30_000));
      expect(results.map((result) => (result.ok ? 'ok' : driver.classify(result.error).code))).toEqual([
        'NOT_FOUND',
        'NOT_FOUND',
      ]);
      const opening = driver.openReceiver(
        topic,
        { group: 'g', fromBeginning: false, maxUnsettled: 8 },
        AbortSignal.timeout(30_000),
      );
      const failure = await opening.then(
        (receiver) => receiver.close().then(() => undefined),
        (error: unknown) => error,
      );
      expect(failure && driver.classify(failure).code).toBe('NOT_FOUND');
      await ensureTopic(driver, topic);
      await send(driver, topic, records(1));
    });

    test('receive(max) never returns more than max; records carry id, headers, body and key', async () => {
      const topic = topicFor('max');
      const receiver = await open(driver, topic, 'g');
      await send(driver, topic, records(30, true));
      const got = await receiveCount(receiver, 30, 7);
      expect(got).toHaveLength(30);
      for (const record of got) {
        expect(typeof record.id).toBe('string');
        expect(record.key).toBe(`k${n(record)}`);
        expect(JSON.parse(record.body.toString())).toEqual({ n: n(record) });
      }
      await receiver.settle(got, [], AbortSignal.timeout(10_000));
    });

    test('an aborted receive returns promptly, with nothing when nothing was sent', async () => {
      const receiver = await open(driver, topicFor('abort'), 'g');
      const started = Date.now();
      const got = await receiver.receive(10, AbortSignal.timeout(300));
      expect(got).toEqual([]);
      expect(Date.now() - started).toBeLessThan(300 + ABORT_GRACE_MS);
    });

    test('acked records are not delivered again; a nack redelivers that record only', async () => {
      const topic = topicFor('nack');
      const receiver = await open(driver, topic, 'g');
      await send(driver, topic, records(5));
      const got = await receiveCount(receiver, 5);
      expect(got).toHaveLength(5);
      const nacked = got.find((record) => n(record) === 2) as IncomingRecord;
      await receiver.settle(
        got.filter((record) => record !== nacked),
        [nacked],
        AbortSignal.timeout(10_000),
      );
      const again = await receiveCount(receiver, 1);
      expect(again.map(n)).toEqual([2]);
      expect(again[0]?.id).toBe(nacked.id);
      if (again[0]?.deliveryCount !== undefined) expect(again[0].deliveryCount).toBeGreaterThanOrEqual(2);
      await receiver.settle(again, [], AbortSignal.timeout(10_000));
      expect(await quietFor(receiver, 1_500)).toEqual([]);
    });

    test('a record given back with a delay comes again no sooner than the delay: by defer, else core waits, then nacks', async () => {
      const topic = topicFor('defer');
      const delayMs = 1_500;
      const receiver = await open(driver, topic, 'g');
      const defer = receiver.defer?.bind(receiver);
      if (!defer) {
        // Without defer, core holds the record for the delay and nacks it then: the same contract, end to end.
        const adapter = createPortableAdapter(await harness.makeDriver());
        const seen: number[] = [];
        const subscription = await adapter.subscribe(
          topic,
          () => {
            seen.push(Date.now());
            if (seen.length === 1) throw new Error('fails once');
          },
          { group: 'delayed', redeliveryDelayMs: () => delayMs },
        );
        await adapter.publish({ topic, data: 1 });
        const deadline = Date.now() + receiveTimeoutMs;
        while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        await subscription.close();
        await adapter.disconnect();
        expect(seen).toHaveLength(2);
        expect((seen[1] as number) - (seen[0] as number)).toBeGreaterThanOrEqual(delayMs);
        return;
      }
      await send(driver, topic, records(1));
      const [record] = await receiveCount(receiver, 1);
      const startedAt = Date.now();
      await defer([record as IncomingRecord], delayMs, AbortSignal.timeout(10_000));
      const again = await receiveCount(receiver, 1);
      expect(again[0]?.id).toBe(record?.id);
      // A few ms of slack: the broker's timer and ours read different clocks.
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(delayMs - 50);
      await receiver.settle(again, [], AbortSignal.timeout(10_000));
      expect(await quietFor(receiver, 1_000)).toEqual([]);
    });

    test('close() gives unsettled records back: another member of the group receives them', async () => {
      const topic = topicFor('close');
      const first = await open(driver, topic, 'g');
      await send(driver, topic, records(4));
      const held = await receiveCount(first, 4);
      expect(held).toHaveLength(4);
      await first.settle(held.slice(0, 2), [], AbortSignal.timeout(10_000));
      await first.close();
      const second = await open(await connected(), topic, 'g');
      const redelivered = await receiveCount(second, 2);
      expect(redelivered.map(n).sort()).toEqual(held.slice(2).map(n).sort());
      await second.settle(redelivered, [], AbortSignal.timeout(10_000));
    });

    test('a closed receiver receives nothing more', async () => {
      const topic = topicFor('stopped');
      const receiver = await open(driver, topic, 'g');
      await receiver.close();
      await send(driver, topic, records(3));
      const outcome = await receiver
        .receive(10, AbortSignal.timeout(1_000))
        .then((got) => got.length)
        .catch(() => 0);
      expect(outcome).toBe(0);
    });

    test('each group gets every record; within a group each record goes to one member', async () => {
      const topic = topicFor('groups');
      const a1 = await open(driver, topic, 'a');
      const a2 = await open(await connected(), topic, 'a');
      const b = await open(driver, topic, 'b');
      await send(driver, topic, records(40));
      const fromA: IncomingRecord[] = [];
      const deadline = Date.now() + receiveTimeoutMs;
      while (fromA.length < 40 && Date.now() < deadline) {
        const [one, two] = await Promise.all([
          a1.receive(10, AbortSignal.timeout(500)),
          a2.receive(10, AbortSignal.timeout(500)),
        ]);
        await Promise.all([
          a1.settle(one, [], AbortSignal.timeout(10_000)),
          a2.settle(two, [], AbortSignal.timeout(10_000)),
        ]);
        fromA.push(...one, ...two);
      }
      const fromB = await receiveCount(b, 40);
      await b.settle(fromB, [], AbortSignal.timeout(10_000));
      expect(new Set(fromA.map(n)).size).toBe(40);
      expect(fromA).toHaveLength(40);
      expect(new Set(fromB.map(n)).size).toBe(40);
    });

    test('an ephemeral group leaves nothing on the broker once closed (and deleteGroup called); a durable one stays (ephemeralGroups)', async () => {
      const topic = topicFor('ephemeral');
      if (!driver.capabilities.ephemeralGroups) {
        const adapter = createPortableAdapter(driver);
        await expect(adapter.subscribe(topic, () => undefined, { ephemeral: true })).rejects.toMatchObject({
          code: 'UNSUPPORTED',
        });
        return;
      }
      const listGroups = driver.listGroups?.bind(driver);
      // Without a way to look at the broker, "left nothing behind" cannot be checked: that is a failure.
      expect(listGroups ?? harness.listGroups).toBeDefined();
      const groups = () =>
        listGroups
          ? listGroups(topic, AbortSignal.timeout(30_000))
          : (harness.listGroups as (t: string) => Promise<string[]>)(topic);
      const durable = await open(driver, topic, 'kept');
      const ephemeral = await open(driver, topic, 'gone', { ephemeral: true });
      await send(driver, topic, records(3));
      const got = await receiveCount(ephemeral, 3);
      expect(got).toHaveLength(3);
      await ephemeral.settle(got, [], AbortSignal.timeout(10_000));
      await durable.settle(await receiveCount(durable, 3), [], AbortSignal.timeout(10_000));
      await ephemeral.close();
      // What core does after an ephemeral group's last receiver closed.
      await driver.deleteGroup?.(topic, 'gone', AbortSignal.timeout(30_000));
      const deadline = Date.now() + receiveTimeoutMs;
      let listed = await groups();
      while (listed.includes('gone') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        listed = await groups();
      }
      expect(listed).toContain('kept');
      expect(listed).not.toContain('gone');
    });

    test('lag: what the group has not received yet, as the broker counts it, down to 0 once settled', async () => {
      const topic = topicFor('lag');
      const receiver = await open(driver, topic, 'g', { maxUnsettled: 1 });
      const readLag = receiver.lag?.bind(receiver);
      if (readLag === undefined) {
        // Where the broker reports none, the subscription says so instead of inventing a number.
        const adapter = createPortableAdapter(driver);
        const subscription = await adapter.subscribe(topic, () => undefined, { group: 'lagless' });
        expect(await subscription.lag()).toBeUndefined();
        await subscription.close();
        return;
      }
      const lag = () => readLag(AbortSignal.timeout(10_000));
      const until = async (done: (value: Awaited<ReturnType<typeof lag>>) => boolean) => {
        const deadline = Date.now() + receiveTimeoutMs;
        let value = await lag();
        while (!done(value) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          value = await lag();
        }
        return value;
      };
      await send(driver, topic, records(5));
      // At most one record is out (maxUnsettled 1): at least 4 are still behind.
      const behind = await until((value) =>
        value.messages === undefined ? value.millisBehind !== undefined : value.messages >= 4,
      );
      if (behind.messages === undefined) {
        expect(behind.millisBehind).toEqual(expect.any(Number));
      } else {
        expect(behind.messages).toBeGreaterThanOrEqual(4);
        expect(behind.messages).toBeLessThanOrEqual(5);
      }
      const got: IncomingRecord[] = [];
      const deadline = Date.now() + receiveTimeoutMs;
      while (got.length < 5 && Date.now() < deadline) {
        const batch = await receiver.receive(1, AbortSignal.timeout(1_000));
        await receiver.settle(batch, [], AbortSignal.timeout(10_000));
        got.push(...batch);
      }
      expect(got).toHaveLength(5);
      const caughtUp = await until((value) => (value.messages ?? value.millisBehind) === 0);
      expect(caughtUp.messages ?? caughtUp.millisBehind).toBe(0);
    });

    const makeSilentDriver = harness.makeSilentDriver;
    const networkTest = makeSilentDriver ? test : test.skip;
    const networkDescribe = makeSilentDriver ? describe : describe.skip;

    test('classify: a programming error is not retryable', () => {
      expect(driver.classify(new TypeError('a bug')).retryable).toBe(false);
    });

    networkTest('classify: a refused connection is a retryable CONNECTION or TIMEOUT error', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as { port: number }).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const refused = await (makeSilentDriver as NonNullable<typeof makeSilentDriver>)({ host: '127.0.0.1', port });
      drivers.push(refused);
      const error = await Promise.race([
        refused
          .connect(AbortSignal.timeout(5_000))
          .then(() => refused.ping(AbortSignal.timeout(5_000)))
          .then(
            () => undefined,
            (caught: unknown) => caught,
          ),
        new Promise<unknown>((resolve) => setTimeout(() => resolve(new Error('no answer')), 5_000 + ABORT_GRACE_MS)),
      ]);
      expect(error).toBeDefined();
      const classified = refused.classify(error);
      expect(['CONNECTION', 'TIMEOUT']).toContain(classified.code);
      expect(classified.retryable).toBe(true);
    });

    networkDescribe('against a server that accepts TCP and never answers', () => {
      let mute: Driver;
      beforeAll(async () => {
        mute = await (makeSilentDriver as NonNullable<typeof makeSilentDriver>)(silent.address);
        drivers.push(mute);
      });
      const settlesInTime = async (call: (signal: AbortSignal) => Promise<unknown>) => {
        const started = Date.now();
        const outcome = await Promise.race([
          call(AbortSignal.timeout(SILENT_DEADLINE_MS)).then(
            () => 'resolved',
            () => 'rejected',
          ),
          new Promise<string>((resolve) => setTimeout(() => resolve('hung'), SILENT_DEADLINE_MS + ABORT_GRACE_MS)),
        ]);
        return { outcome, ms: Date.now() - started };
      };

      test('connect, ping, send and openReceiver each end by their deadline', async () => {
        const results = {
          connect: await settlesInTime((signal) => mute.connect(signal)),
          ping: await settlesInTime((signal) => mute.ping(signal)),
          send: await settlesInTime((signal) => mute.send(topicFor('silent'), records(1), signal)),
          openReceiver: await settlesInTime((signal) =>
            mute.openReceiver(topicFor('silent'), { group: 'g', fromBeginning: false, maxUnsettled: 8 }, signal),
          ),
        };
        console.log(`driver conformance ${harness.name}: silent server`, JSON.stringify(results));
        expect(results.connect.outcome).not.toBe('hung');
        expect(results.ping.outcome).toBe('rejected');
        expect(results.send.outcome).not.toBe('hung');
        expect(results.openReceiver.outcome).not.toBe('hung');
      });
    });

    if (harness.restartBroker) {
      const restart = harness.restartBroker;
      test('settling after the broker restarted works or fails with a classified, retryable error', async () => {
        const topic = topicFor('restart');
        const receiver = await open(driver, topic, 'g');
        await send(driver, topic, records(3));
        const got = await receiveCount(receiver, 3);
        await restart();
        const error = await receiver.settle(got, [], AbortSignal.timeout(30_000)).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        if (error !== undefined) expect(driver.classify(error).retryable).toBe(true);
      });
    }
  });
}
