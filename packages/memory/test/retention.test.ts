import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { eventually, Tally } from '@eventport/testkit';
import { expect, test } from '@jest/globals';

/**
 * The defect: a group lagging behind the 100,000-record retention lost its oldest unread messages
 * (44,000 of 150,000), silently. Now retention only trims what every group has consumed, and a
 * group too far behind makes publishing push back with RESOURCE_EXHAUSTED instead.
 */
test('a lagging group loses nothing: retention keeps unconsumed records, the backlog limit pushes back on publish', async () => {
  const broker = new MemoryBroker();
  const options = { broker, retainPerTopic: 1_000, maxBacklogPerTopic: 5_000, deadlines: { publishMs: 1_500 } };
  const adapter = createMemoryAdapter(options);
  const topic = 'lagging';
  // The group exists (its position is taken) but reads nothing for now.
  await (await adapter.subscribe(topic, () => undefined, { group: 'slow' })).close();
  const tally = new Tally();
  const accepted: string[] = [];
  let refused: unknown;
  for (let batch = 0; batch < 60 && refused === undefined; batch++) {
    try {
      const sent = await adapter.publishBatch(Array.from({ length: 100 }, (_, n) => ({ topic, data: { n } })));
      accepted.push(...sent.map((message) => message.id));
    } catch (error) {
      refused = error;
    }
  }
  expect(accepted).toHaveLength(5_000);
  expect(refused).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
  expect(String((refused as Error).message)).toMatch(/a consumer group has not consumed yet/);
  tally.expect(accepted);
  const subscription = await adapter.subscribe(topic, (message) => tally.record(message.id), { group: 'slow' });
  await tally.waitForAll(20_000);
  // Consumed now: publishing works again, and the consumed history is trimmed to the retention.
  await eventually(() => broker.topic(topic).backlog === 0, 5_000);
  const after = await adapter.publish({ topic, data: 'again' });
  tally.expect([after.id]);
  await tally.waitForAll(5_000);
  await subscription.close();
  await adapter.disconnect();
  console.log(
    `memory lagging group: published ${accepted.length + 1}, ${JSON.stringify(tally.summary())}, publish refused once with RESOURCE_EXHAUSTED`,
  );
  expect(tally.missing).toHaveLength(0);
  expect(broker.topic(topic).firstOffset).toBeGreaterThan(0);
});
