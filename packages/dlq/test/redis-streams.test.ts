import { createAdapter, silentLogger } from '@eventport/core';
import { describe, it } from '@jest/globals';
import { runDeadLetterScenario } from './scenario';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('withDeadLetters on redis-streams', () => {
  it('dead-letters 100 always-failing messages after exactly N attempts, keeps consuming, replays them', async () => {
    const adapter = await createAdapter('redis-streams', { url, logger: silentLogger });
    await runDeadLetterScenario(adapter, { poison: 100, good: 100, maxAttempts: 3 });
  }, 180_000);
});
