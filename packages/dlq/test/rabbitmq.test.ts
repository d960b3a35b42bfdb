import { createAdapter, silentLogger } from '@eventport/core';
import { REPLAY_GROUP } from '@eventport/dlq';
import { describe, it } from '@jest/globals';
import { connect } from 'amqplib';
import { runDeadLetterScenario, SCENARIO_GROUP } from './scenario';

const url = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

// RabbitMQ cannot replay from the start: listing works only because the decorator declares the
// replay group's queue before the first dead letter exists.
describe('withDeadLetters on rabbitmq', () => {
  it('dead-letters 100 always-failing messages after exactly N attempts, keeps consuming, replays them', async () => {
    const adapter = await createAdapter('rabbitmq', { url, logger: silentLogger });
    const topic = await runDeadLetterScenario(adapter, { poison: 100, good: 100, maxAttempts: 3 });
    // No topic admin over AMQP: remove this run's exchanges and group queues directly.
    const connection = await connect(url);
    const channel = await connection.createChannel();
    await channel.deleteQueue(`${topic}.${SCENARIO_GROUP}`);
    await channel.deleteQueue(`${topic}.dlq.${REPLAY_GROUP}`);
    await channel.deleteExchange(topic);
    await channel.deleteExchange(`${topic}.dlq`);
    await connection.close();
  }, 180_000);
});
