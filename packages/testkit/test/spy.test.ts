import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { type EventAdapter, EventChannel, type Logger } from '@eventport/core';
import { withDeadLetters } from '@eventport/dlq';
import { createMemoryAdapter, MemoryBroker, MemoryDriver } from '@eventport/memory';
import { type SpyAdapter, SpyTimeoutError, withSpy } from '@eventport/testkit';
import { afterEach, describe, expect, test } from '@jest/globals';
import { z } from 'zod';

const run = promisify(execFile);
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const opened: EventAdapter[] = [];

/** A spy over a memory broker of its own, so tests never see each other's messages. */
function spyOnMemory(broker = new MemoryBroker()): SpyAdapter {
  const spy = withSpy(createMemoryAdapter({ broker, logger: silent }));
  opened.push(spy);
  return spy;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((adapter) => adapter.disconnect()));
});

describe('withSpy records', () => {
  test('publishes (single and batched), and waits resolve for what was already seen', async () => {
    const spy = spyOnMemory();
    const one = await spy.publish({ topic: 'spy.orders', data: { n: 1 }, key: 'k' });
    const batch = await spy.publishBatch([
      { topic: 'spy.orders', data: { n: 2 } },
      { topic: 'spy.audit', data: { n: 3 } },
    ]);
    expect(spy.published.map((record) => record.id)).toEqual([one.id, ...batch.map((message) => message.id)]);
    await expect(spy.waitForPublished(one.id)).resolves.toMatchObject({
      topic: 'spy.orders',
      key: 'k',
      data: { n: 1 },
    });
    await expect(spy.waitForPublished((record) => record.topic === 'spy.audit')).resolves.toMatchObject({
      data: { n: 3 },
    });
    expect(spy.counts()).toEqual({ published: 3, consumed: 0, nacked: 0, invalid: 0, deadLettered: 0 });
  });

  test('consumptions once the handler finished, with group, attempt and the broker position', async () => {
    const spy = spyOnMemory();
    const handled: number[] = [];
    await spy.subscribe<{ n: number }>(
      'spy.work',
      async (message) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        handled.push(message.data.n);
      },
      { group: 'workers' },
    );
    const waiting = spy.waitForConsumed((delivery) => (delivery.data as { n: number }).n === 2);
    const [, second] = await spy.publishBatch([
      { topic: 'spy.work', data: { n: 1 } },
      { topic: 'spy.work', data: { n: 2 } },
    ]);
    const consumed = await waiting;
    expect(consumed).toMatchObject({ id: second?.id, topic: 'spy.work', group: 'workers', attempt: 1 });
    expect(consumed.meta).toHaveProperty('offset');
    // Recorded after the handler's work, not when the delivery arrived.
    expect(handled).toContain(2);
  });

  test('nacks, thrown or explicit, and the redelivery that succeeds', async () => {
    const spy = spyOnMemory();
    let calls = 0;
    await spy.subscribe(
      'spy.flaky',
      () => {
        calls++;
        if (calls === 1) throw new Error('transient');
      },
      { redeliveryDelayMs: () => 0 },
    );
    const sent = await spy.publish({ topic: 'spy.flaky', data: 'x' });
    const nack = await spy.waitForNacked(sent.id);
    expect(nack).toMatchObject({ how: 'threw', attempt: 1 });
    expect(String(nack.error)).toMatch(/transient/);
    await expect(
      spy.waitForConsumed((delivery) => delivery.id === sent.id && delivery.attempt === 2),
    ).resolves.toBeTruthy();

    // consume(): an explicit nack(), then an ack of the redelivery.
    const stream = spy.consume('spy.stream', { redeliveryDelayMs: () => 0 });
    const streamed = await spy.publish({ topic: 'spy.stream', data: 'y' });
    let seen = 0;
    for await (const message of stream) {
      seen++;
      if (seen === 1) await message.nack();
      else {
        await message.ack();
        break;
      }
    }
    await expect(spy.waitForNacked(streamed.id)).resolves.toMatchObject({ how: 'nack' });
    await expect(spy.waitForConsumed(streamed.id)).resolves.toMatchObject({ attempt: 2 });
  });

  test('invalid deliveries: schema-rejected and undecodable, with or without an onInvalid of yours', async () => {
    const broker = new MemoryBroker();
    const spy = spyOnMemory(broker);
    const diverted: string[] = [];
    const channel = new EventChannel({
      schema: z.object({ orderId: z.string() }),
      topicPrefix: 'spy',
      adapter: spy,
      onInvalid: (error) => void diverted.push(error.message),
    });
    await channel.pull('placed', () => undefined, { group: 'billing' });
    const wrong = await spy.publish({ topic: 'spy.placed', data: { orderId: 42 } });
    const invalid = await spy.waitForInvalid(wrong.id);
    expect(invalid).toMatchObject({ topic: 'spy.placed', group: 'billing', attempt: 1 });
    expect(invalid.error.message).toMatch(/does not match the channel schema/);
    expect(diverted).toHaveLength(1);
    expect(spy.consumed).toHaveLength(0);
    expect(spy.nacked).toHaveLength(0);

    // No hook: recorded, and left with the broker as it would be without the spy (so it comes back).
    await spy.subscribe('spy.raw', () => undefined, { redeliveryDelayMs: () => 10 });
    await new MemoryDriver({ broker }).send('spy.raw', [
      {
        headers: { 'ce-id': 'raw-1', 'content-type': 'application/json' },
        body: Buffer.from('{not json'),
        dedupeId: 'raw-1',
      },
    ]);
    await expect(spy.waitForInvalid('raw-1')).resolves.toMatchObject({ attempt: 1 });
    await expect(spy.waitForInvalid((delivery) => delivery.attempt === 2)).resolves.toMatchObject({ topic: 'spy.raw' });
  });

  test('dead letters under withDeadLetters: reason, attempts and the error once; not counted as consumed', async () => {
    const spy = spyOnMemory();
    const adapter = withDeadLetters(spy, { maxAttempts: 2, initialDelayMs: 5, logger: silent });
    await adapter.subscribe(
      'spy.payments',
      () => {
        throw new Error('card declined');
      },
      { group: 'payments' },
    );
    const sent = await adapter.publish({ topic: 'spy.payments', data: { cents: 100 }, key: 'customer-1' });
    const letter = await spy.waitForDeadLettered(sent.id);
    expect(letter).toMatchObject({
      id: sent.id,
      topic: 'spy.payments.dlq',
      originalTopic: 'spy.payments',
      reason: 'exhausted',
      attempts: 2,
      group: 'payments',
      error: { class: 'Error', message: 'card declined' },
      data: { cents: 100 },
    });
    expect(letter.headers['dlq-original-key']).toBe('customer-1');
    expect(spy.published.map((record) => record.topic)).toEqual(['spy.payments', 'spy.payments.dlq']);
    // The decorator retried in-process and acked the original once the letter was out: not a consumption.
    expect(spy.consumed.filter((delivery) => delivery.topic === 'spy.payments')).toEqual([]);

    // Undecodable payloads go to the dead-letter topic at once, raw.
    await adapter.subscribe('spy.schema', () => undefined);
    const channel = new EventChannel({ schema: z.object({ ok: z.literal(true) }), topicPrefix: 'spy', adapter });
    await channel.pull('checked', () => undefined);
    const bad = await adapter.publish({ topic: 'spy.checked', data: { ok: false } });
    await expect(spy.waitForInvalid(bad.id)).resolves.toBeTruthy();
    await expect(spy.waitForDeadLettered(bad.id)).resolves.toMatchObject({
      reason: 'invalid',
      originalTopic: 'spy.checked',
    });
  });

  test('above withDeadLetters the spy sees each in-process attempt as a nack, and says why it sees no dead letter', async () => {
    const spy = withSpy(
      withDeadLetters(createMemoryAdapter({ broker: new MemoryBroker() }), {
        maxAttempts: 2,
        initialDelayMs: 5,
        logger: silent,
      }),
    );
    opened.push(spy);
    await spy.subscribe('spy.top', () => {
      throw new Error('nope');
    });
    const sent = await spy.publish({ topic: 'spy.top', data: 1 });
    await expect(spy.waitForNacked((nack) => nack.id === sent.id && nack.attempt === 2)).resolves.toBeTruthy();
    const timedOut = spy.waitForDeadLettered(sent.id, { timeoutMs: 300 });
    await expect(timedOut).rejects.toThrow(
      /put it under the dead-letter decorator, withDeadLetters\(withSpy\(adapter\)\)/,
    );
  });
});

describe('a wait that times out', () => {
  test('lists what was seen: topics, ids and counts per kind', async () => {
    const spy = spyOnMemory();
    await spy.subscribe('spy.seen', (message) => {
      if (message.data === 'fail') throw new Error('boom');
    });
    const ok = await spy.publish({ topic: 'spy.seen', data: 'ok' });
    const failing = await spy.publish({ topic: 'spy.seen', data: 'fail' });
    await spy.waitForConsumed(ok.id);
    await spy.waitForNacked(failing.id);
    const error = await spy
      .waitForConsumed((delivery) => delivery.data === 'other', { timeoutMs: 200 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SpyTimeoutError);
    const { message, code, kind, seen } = error as SpyTimeoutError;
    expect(code).toBe('TIMEOUT');
    expect(kind).toBe('consumed');
    expect(seen).toMatchObject({ published: 2, consumed: 1, deadLettered: 0 });
    expect(message).toMatch(
      /^waitForConsumed timed out after 200 ms: no consumed message matched \(delivery\) ?=> ?delivery\.data === 'other'\.\nSeen instead:\n/,
    );
    expect(message).toContain(`published 2: spy.seen ×2 (ids ${ok.id}, ${failing.id})`);
    expect(message).toContain(`consumed 1: spy.seen ×1 (id ${ok.id})`);
    expect(message).toMatch(
      // The message nacked twice or more is listed once, with its count.
      new RegExp(`nacked (\\d+): spy\\.seen ×\\1 \\(id ${failing.id}( ×\\1)?\\); last error: Error: boom`),
    );
    expect(message).toContain('invalid 0');
    expect(message).toContain('dead-lettered 0');
  });

  test('a long list is cut at ten ids per topic', async () => {
    const spy = spyOnMemory();
    await spy.publishBatch(Array.from({ length: 15 }, (_, n) => ({ topic: 'spy.many', id: `id-${n}`, data: n })));
    await expect(spy.waitForPublished('id-99', { timeoutMs: 50 })).rejects.toThrow(
      /published 15: spy\.many ×15 \(ids id-0, id-1, .*, id-9 and 5 more\)/,
    );
  });

  test('a predicate that throws rejects the wait with its error', async () => {
    const spy = spyOnMemory();
    const waiting = spy.waitForPublished(() => {
      throw new Error('bad predicate');
    });
    await spy.publish({ topic: 'spy.p', data: 1 });
    await expect(waiting).rejects.toThrow('bad predicate');
  });
});

describe('withSpy itself', () => {
  test('applied twice returns the same spy; clear() forgets what was recorded', async () => {
    const spy = spyOnMemory();
    expect(withSpy(spy)).toBe(spy);
    await spy.publish({ topic: 'spy.clear', data: 1 });
    spy.clear();
    expect(spy.published).toEqual([]);
    const later = spy.waitForPublished((record) => record.topic === 'spy.clear');
    await spy.publish({ topic: 'spy.clear', data: 2 });
    await expect(later).resolves.toMatchObject({ data: 2 });
  });

  test('spy.ts imports no test runner, so it works under jest, vitest and node:test', () => {
    const source = readFileSync(path.resolve(__dirname, '../src/spy.ts'), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((match) => match[1]);
    expect(imports).toEqual(['@eventport/core']);
  });

  test('the same spy passes under node --test (node:test and node:assert)', async () => {
    const hook = path.resolve(__dirname, '../../../scripts/register-ts.js');
    const file = path.resolve(__dirname, 'fixtures/spy.node-test.ts');
    // TAP explicitly: from Node 23 the default reporter is "spec".
    const { stdout } = await run(process.execPath, ['-r', hook, '--test', '--test-reporter=tap', file], {
      env: { ...process.env, NODE_OPTIONS: '' },
    }).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`node --test failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
    });
    expect(stdout).toMatch(/^# tests 3$/m);
    expect(stdout).toMatch(/^# pass 3$/m);
    expect(stdout).toMatch(/^# fail 0$/m);
  }, 60_000);
});
