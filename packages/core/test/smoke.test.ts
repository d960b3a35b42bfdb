import { createAdapter, EventChannel } from '@eventport/core';
import { expect, test } from '@jest/globals';
import { z } from 'zod';

test('smoke', async () => {
  const t0 = Date.now();
  const lap = (s: string) => console.log(s, Date.now() - t0);
  const a = await createAdapter('memory');
  const got: unknown[] = [];
  let fail = true;
  const sub = await a.subscribe(
    't1',
    async (m) => {
      if (fail) {
        fail = false;
        throw new Error('x');
      }
      got.push(m.data);
    },
    { redeliveryDelayMs: () => 1 },
  );
  await a.publish({ topic: 't1', data: { a: 1 }, key: 'k' });
  await a.publish({ topic: 't1', data: Buffer.from([1, 2, 3]) });
  await new Promise((r) => setTimeout(r, 100));
  lap('a');
  await sub.close();
  lap('b');
  expect(got.length).toBe(2);
  const ch = new EventChannel({ schema: z.object({ n: z.number() }), topicPrefix: 'demo', adapter: a });
  await ch.push('x', { n: 1 });
  const it = ch.pull('x', { fromBeginning: true });
  for await (const e of it) {
    expect(e.data.n).toBe(1);
    break;
  }
  lap('c');
  await a.disconnect();
  lap('d');
  await expect(createAdapter('nope')).rejects.toThrow(/known backend/);
});
