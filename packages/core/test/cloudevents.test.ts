import { cloudEventsHeaders, createAdapter, type EventAdapter } from '@eventport/core';
import { MemoryBroker } from '@eventport/memory';
import { afterAll, expect, test } from '@jest/globals';
import { CloudEvent, HTTP, Kafka } from 'cloudevents';

const broker = new MemoryBroker();
const opened: EventAdapter[] = [];
const adapter = async () => {
  const created = await createAdapter('memory', {
    broker,
    cloudEvents: { source: 'https://billing.example.com/eventport' },
  });
  opened.push(created);
  return created;
};
afterAll(() => Promise.all(opened.map((created) => created.disconnect())));

/** The raw record as it sits on the broker: headers and body exactly as eventport wrote them. */
const rawRecord = (topic: string) => {
  const record = broker.topic(topic).at(0);
  if (!record) throw new Error(`nothing on ${topic}`);
  return record;
};

test('what eventport writes is a valid CloudEvent 1.0 in binary content mode', async () => {
  const published = await (await adapter()).publish({
    topic: 'orders.placed',
    type: 'com.example.order.placed',
    data: { orderId: 'o-1' },
  });
  const { headers, body } = rawRecord('orders.placed');
  const event = HTTP.toEvent({ headers, body: body.toString('utf8') }) as CloudEvent<{ orderId: string }>;
  expect(event.validate()).toBe(true);
  expect(event).toMatchObject({
    specversion: '1.0',
    id: published.id,
    source: 'https://billing.example.com/eventport',
    type: 'com.example.order.placed',
    datacontenttype: 'application/json',
    data: { orderId: 'o-1' },
  });
  expect(Date.parse(event.time as string)).toBe(published.timestamp);
});

test('each message carries its own time, also when several share a millisecond or alternate between two', async () => {
  const publisher = await adapter();
  const times = [0, 0, 1_700_000_000_123, 0, 1_700_000_000_123];
  await publisher.publishBatch(times.map((timestamp, n) => ({ topic: 'orders.timed', data: { n }, timestamp })));
  const written = times.map((_, index) => broker.topic('orders.timed').at(index)?.headers['ce-time']);
  expect(written).toEqual(times.map((timestamp) => new Date(timestamp).toISOString()));
  const received: number[] = [];
  const subscription = await publisher.subscribe(
    'orders.timed',
    async (message) => {
      received[(message.data as { n: number }).n] = message.timestamp;
    },
    { group: 'timed', fromBeginning: true },
  );
  await new Promise<void>((resolve) => {
    const poll = () =>
      received.filter((each) => each !== undefined).length === times.length ? resolve() : setTimeout(poll, 5);
    poll();
  });
  await subscription.close();
  expect(received).toEqual(times);
});

test("Kafka's binding names (ce_id...) are what a Kafka driver writes with cloudEventsHeaders('ce_')", async () => {
  await (await adapter()).publish({ topic: 'orders.kafka', data: { n: 1 } });
  const { headers, body } = rawRecord('orders.kafka');
  const event = Kafka.toEvent({ headers: cloudEventsHeaders('ce_').toWire(headers), value: body, body } as never);
  expect((event as CloudEvent).validate()).toBe(true);
  expect((event as CloudEvent).type).toBe('orders.kafka');
});

test('eventport consumes a CloudEvent written by another producer', async () => {
  const foreign = new CloudEvent({
    source: 'urn:other-service',
    type: 'com.example.invoice.paid',
    datacontenttype: 'application/json',
    data: { invoice: 42 },
  });
  const { headers, body } = HTTP.binary(foreign);
  const lowerCased = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), String(value)]),
  );
  broker.topic('invoices').append(undefined, lowerCased, Buffer.from(String(body)));
  const consumer = await adapter();
  const received = await new Promise<Record<string, unknown>>((resolve) => {
    void consumer.subscribe('invoices', (message) => resolve({ ...message }), { fromBeginning: true, group: 'ce' });
  });
  expect(received).toMatchObject({
    id: foreign.id,
    type: 'com.example.invoice.paid',
    source: 'urn:other-service',
    data: { invoice: 42 },
    timestamp: Date.parse(foreign.time as string),
  });
  expect(received.headers).toEqual({});
});
