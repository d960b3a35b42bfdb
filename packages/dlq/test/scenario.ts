import { randomUUID } from 'node:crypto';
import { type EventAdapter, silentLogger } from '@eventport/core';
import { DLQ_HEADERS, listDeadLetters, replay, withDeadLetters } from '@eventport/dlq';
import { Tally } from '@eventport/testkit';
import { expect } from '@jest/globals';

export const SCENARIO_GROUP = 'orders-service';

export interface ScenarioOptions {
  poison: number;
  good: number;
  maxAttempts: number;
}

/**
 * The done-when case: an always-failing handler for `poison` messages, a succeeding one for the
 * others; every poison message ends in <topic>.dlq after exactly maxAttempts runs with the right
 * headers, the good ones all arrive meanwhile, and replay brings the poison ones back.
 */
export async function runDeadLetterScenario(raw: EventAdapter, options: ScenarioOptions): Promise<string> {
  const { poison, good, maxAttempts } = options;
  const adapter = withDeadLetters(raw, { maxAttempts, initialDelayMs: 5, maxDelayMs: 50, logger: silentLogger });
  const topic = `dlq-scenario-${randomUUID().slice(0, 8)}`;
  const group = SCENARIO_GROUP;
  const runs = new Map<string, number>();
  const goodTally = new Tally();
  let fixed = false;
  const replayedTally = new Tally();
  const replayedHeaders = new Map<string, Record<string, string>>();

  try {
    const subscription = await adapter.subscribe<{ n: number; poison: boolean }>(
      topic,
      async (message) => {
        if (message.data.poison) {
          if (fixed) {
            replayedTally.record(message.id);
            replayedHeaders.set(message.id, message.headers);
            return;
          }
          runs.set(message.id, (runs.get(message.id) ?? 0) + 1);
          throw new TypeError(`cannot process order ${message.data.n}`);
        }
        goodTally.record(message.id);
      },
      { group, concurrency: 8 },
    );

    // Poison and good messages interleaved, sharing keys, so good ones queue behind poison ones.
    const inputs = Array.from({ length: poison + good }, (_, n) => ({
      topic,
      id: randomUUID(),
      key: `customer-${n % 7}`,
      headers: { tenant: 'acme', 'x-n': String(n) },
      data: { n, poison: n % 2 === 0 ? n / 2 < poison : (n - 1) / 2 >= good },
    }));
    const poisonInputs = inputs.filter((input) => input.data.poison);
    const goodInputs = inputs.filter((input) => !input.data.poison);
    expect(poisonInputs).toHaveLength(poison);
    goodTally.expect(goodInputs.map((input) => input.id));
    const startedAt = Date.now();
    for (let index = 0; index < inputs.length; index += 50) await adapter.publishBatch(inputs.slice(index, index + 50));

    expect(await goodTally.waitForAll(60_000)).toBe(true);
    console.log(`[dlq ${raw.backend}] good messages while poison ones retried`, goodTally.summary());

    const letters = await collectDeadLetters(adapter, topic, poison);
    const byId = new Map(letters.map((letter) => [letter.id, letter]));
    console.log(`[dlq ${raw.backend}] dead letters: ${byId.size} unique of ${poison} poison, ${letters.length} listed`);
    expect(byId.size).toBe(poison);
    for (const input of poisonInputs) {
      const letter = byId.get(input.id);
      expect(letter).toBeDefined();
      if (!letter) continue;
      expect(runs.get(input.id)).toBe(maxAttempts);
      expect(letter.topic).toBe(topic);
      expect(letter.key).toBe(input.key);
      expect(letter.data).toEqual(input.data);
      expect(letter.headers).toEqual({ ...input.headers, 'correlation-id': input.id });
      expect(letter.reason).toBe('exhausted');
      expect(letter.attempts).toBe(maxAttempts);
      expect(letter.error.class).toBe('TypeError');
      expect(letter.error.message).toBe(`TypeError: cannot process order ${input.data.n}`);
      expect(letter.group).toBe(group);
      expect(letter.firstFailureAt!.getTime()).toBeGreaterThanOrEqual(startedAt - 1000);
      expect(letter.lastFailureAt!.getTime()).toBeGreaterThanOrEqual(letter.firstFailureAt!.getTime());
    }
    const totalRuns = [...runs.values()].reduce((sum, count) => sum + count, 0);
    console.log(`[dlq ${raw.backend}] handler runs for poison messages: ${totalRuns} (= ${poison} x ${maxAttempts})`);
    expect(totalRuns).toBe(poison * maxAttempts);

    fixed = true;
    replayedTally.expect(poisonInputs.map((input) => input.id));
    const result = await replay(adapter, topic, { startTimeoutMs: 10_000 });
    expect(result).toEqual({ replayed: poison, skipped: 0 });
    expect(await replayedTally.waitForAll(60_000)).toBe(true);
    console.log(`[dlq ${raw.backend}] replayed`, replayedTally.summary());
    expect(replayedTally.missing).toHaveLength(0);
    for (const input of poisonInputs) {
      const headers = replayedHeaders.get(input.id)!;
      expect(headers[DLQ_HEADERS.replayedAt]).toBeDefined();
      expect(headers.tenant).toBe('acme');
      expect(headers[DLQ_HEADERS.errorMessage]).toBeUndefined();
    }
    expect(await listDeadLetters(adapter, topic, { startTimeoutMs: 1_500, idleMs: 500 })).toHaveLength(0);
    await subscription.close();
    return topic;
  } finally {
    // Leaves the shared broker as it found it (queues / streams of this run's unique topics).
    if (raw.capabilities.topicAdmin) {
      await Promise.allSettled([adapter.deleteTopic(topic), adapter.deleteTopic(adapter.deadLetterTopic(topic))]);
    }
    await adapter.disconnect();
  }
}

/** Lists until all expected dead letters are there: the last ones may still be in their retry loop. */
async function collectDeadLetters(
  adapter: EventAdapter,
  topic: string,
  expected: number,
): Promise<Awaited<ReturnType<typeof listDeadLetters>>> {
  let letters: Awaited<ReturnType<typeof listDeadLetters>> = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    letters = await listDeadLetters(adapter, topic, { limit: expected * 2, idleMs: 500 });
    if (new Set(letters.map((letter) => letter.id)).size >= expected) break;
  }
  return letters;
}
