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
import { expect, test } from '@jest/globals';

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
