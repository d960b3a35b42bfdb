import { EventChannel, type InvalidDelivery, InvalidMessageError } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually } from '@eventport/testkit';
import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';

const Order = z.object({ orderId: z.string(), amount: z.number().positive() });

function setup() {
  const broker = new MemoryBroker();
  const adapter = createMemoryAdapter({ broker });
  const invalid: Array<{ error: InvalidMessageError; delivery: InvalidDelivery }> = [];
  const channel = new EventChannel({
    schema: Order,
    topicPrefix: 'shop',
    adapter,
    onInvalid: (error, delivery) => {
      invalid.push({ error, delivery });
    },
  });
  // A producer that does not validate, as an older service might be.
  const loose = new EventChannel({ schema: z.unknown(), topicPrefix: 'shop', adapter });
  return { adapter, channel, loose, invalid };
}

describe('EventChannel', () => {
  test('push validates and publishes to <prefix>.<name>', async () => {
    const { adapter, channel } = setup();
    const sent = await channel.push('placed', { orderId: 'o1', amount: 5 }, { key: 'o1' });
    expect(sent.topic).toBe('shop.placed');
    await expect(channel.push('placed', { orderId: 'o1', amount: -1 } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await adapter.disconnect();
  });

  test('pull with a callback: a schema-invalid payload goes to onInvalid and the loop continues', async () => {
    const { adapter, channel, loose, invalid } = setup();
    const handled: string[] = [];
    const subscription = await channel.pull('placed', (event) => {
      handled.push(event.data.orderId);
    });
    await loose.push('placed', { orderId: 'bad', amount: 'lots' });
    await channel.push('placed', { orderId: 'good', amount: 3 });
    expect(await eventually(() => handled.length === 1 && invalid.length === 1, 2_000)).toBe(true);
    await subscription.close();
    expect(handled).toEqual(['good']);
    expect(invalid[0]?.error).toBeInstanceOf(InvalidMessageError);
    expect(invalid[0]?.error.message).toMatch(/amount/);
    expect(JSON.parse(invalid[0]?.delivery.body.toString() ?? '')).toEqual({ orderId: 'bad', amount: 'lots' });
    await adapter.disconnect();
  });

  test('pull as an async iterator: invalid payloads are diverted, valid ones yielded and acked on the next step', async () => {
    const { adapter, channel, loose, invalid } = setup();
    await loose.push('placed', { nope: true });
    await channel.push('placed', { orderId: 'o2', amount: 7 });
    await channel.push('placed', { orderId: 'o3', amount: 8 });
    const seen: Array<[string, number]> = [];
    for await (const event of channel.pull('placed', { fromBeginning: true })) {
      seen.push([event.data.orderId, event.attempt]);
      // Leaving the loop cannot tell "done" from "failed", so the current event goes back unless acked.
      if (event.data.orderId === 'o3') break;
    }
    for await (const event of channel.pull('placed')) {
      seen.push([event.data.orderId, event.attempt]);
      await event.ack();
      break;
    }
    const later: string[] = [];
    const subscription = await channel.pull('placed', (event) => {
      later.push(event.data.orderId);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await subscription.close();
    expect(seen).toEqual([
      ['o2', 1],
      ['o3', 1],
      ['o3', 2],
    ]);
    expect(invalid).toHaveLength(1);
    expect(later).toEqual([]);
    await adapter.disconnect();
  });
});
