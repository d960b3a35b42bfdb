/**
 * Testing an event-driven service without sleeps: the spy sits on the broker's adapter, under
 * withDeadLetters, and each test waits for the outcome it expects. When the outcome does not come,
 * the error lists what happened instead (topics, ids and counts).
 */
import { withDeadLetters } from '@eventport/dlq';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { type SpyAdapter, withSpy } from '@eventport/testkit';
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { type PaymentGateway, startConfirmations, TOPICS } from '../src/confirmations';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const declined = new Set<string>();
const payments: PaymentGateway = {
  async charge(customer, cents) {
    if (declined.has(customer)) throw new Error(`card of ${customer} declined`);
    return `charge-${customer}-${cents}`;
  },
};

let spy: SpyAdapter;
let adapter: ReturnType<typeof withDeadLetters>;

beforeEach(async () => {
  declined.clear();
  // A broker per test: nothing carries over between tests.
  spy = withSpy(createMemoryAdapter({ broker: new MemoryBroker(), logger: silent }));
  // The spy under the dead-letter decorator, so dead-letter publishes go through it.
  adapter = withDeadLetters(spy, { maxAttempts: 3, initialDelayMs: 5, logger: silent });
  await startConfirmations(adapter, payments);
});

afterEach(() => adapter.disconnect());

test('an order placed is charged and confirmed', async () => {
  const placed = await adapter.publish({
    topic: TOPICS.placed,
    data: { orderId: 'o-1', customer: 'alice', totalCents: 1250 },
  });
  await spy.waitForConsumed(placed.id);
  const confirmed = await spy.waitForPublished((message) => message.topic === TOPICS.confirmed);
  expect(confirmed).toMatchObject({ key: 'o-1', data: { orderId: 'o-1', chargeId: 'charge-alice-1250' } });
  // Published while handling the order: the confirmation points back at it.
  expect(confirmed.headers['causation-id']).toBe(placed.id);
});

test('a declined card is retried, then dead-lettered, and nothing is confirmed', async () => {
  declined.add('mallory');
  const placed = await adapter.publish({
    topic: TOPICS.placed,
    data: { orderId: 'o-2', customer: 'mallory', totalCents: 990 },
  });
  const letter = await spy.waitForDeadLettered(placed.id);
  expect(letter).toMatchObject({
    originalTopic: TOPICS.placed,
    reason: 'exhausted',
    attempts: 3,
    error: { message: 'card of mallory declined' },
  });
  expect(spy.published.filter((message) => message.topic === TOPICS.confirmed)).toEqual([]);
});

test('an order that fails the schema goes to the dead-letter topic at once, untouched', async () => {
  const placed = await adapter.publish({ topic: TOPICS.placed, data: { orderId: 'o-3', totalCents: -5 } });
  const invalid = await spy.waitForInvalid(placed.id);
  expect(invalid.error.message).toMatch(/does not match the channel schema/);
  await expect(spy.waitForDeadLettered(placed.id)).resolves.toMatchObject({ reason: 'invalid', attempts: 1 });
});

test('when the expected outcome never comes, the error says what happened instead', async () => {
  declined.add('mallory');
  const placed = await adapter.publish({
    topic: TOPICS.placed,
    data: { orderId: 'o-4', customer: 'mallory', totalCents: 100 },
  });
  await spy.waitForDeadLettered(placed.id);
  await expect(
    spy.waitForPublished((message) => message.topic === TOPICS.confirmed, { timeoutMs: 200 }),
  ).rejects.toThrow(
    new RegExp(
      `no published message matched [\\s\\S]*published 2: shop\\.order-placed ×1 \\(id ${placed.id}\\), shop\\.order-placed\\.dlq ×1[\\s\\S]*dead-lettered 1`,
    ),
  );
});
