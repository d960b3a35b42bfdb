import type { EventAdapter } from '@eventport/core';
import { createRabbitMqAdapter, RABBITMQ_CAPABILITIES } from '@eventport/rabbitmq';
import { runConformance } from '@eventport/testkit';
import { afterAll } from '@jest/globals';
import { claimRestartsFor, deleteTopology, RABBITMQ_URL, restartRabbitMq } from './broker';

// The other test files pause while the restart case runs, so both restarts hit messages in flight.
claimRestartsFor(/broker restart/);

/** publishBatch calls that rejected (case 16 retries them, as an application would), by error code. */
const rejected = new Map<string, number>();
function countingRejections(adapter: EventAdapter): EventAdapter {
  const publishBatch = adapter.publishBatch.bind(adapter);
  adapter.publishBatch = (inputs) =>
    publishBatch(inputs).catch((error: unknown) => {
      const code = String((error as { code?: unknown }).code);
      rejected.set(code, (rejected.get(code) ?? 0) + 1);
      throw error;
    });
  return adapter;
}

runConformance({
  name: 'rabbitmq',
  capabilities: RABBITMQ_CAPABILITIES,
  makeAdapter: (options) => countingRejections(createRabbitMqAdapter({ url: RABBITMQ_URL, ...options })),
  restartBroker: restartRabbitMq,
  crashWorker: { env: { EVENT_TYPE: 'rabbitmq', RABBITMQ_URL } },
  makeSilentAdapter: ({ host, port }, options) =>
    createRabbitMqAdapter({ url: `amqp://guest:guest@${host}:${port}`, ...options }),
  wrongCredential: {
    secret: 'wrong-pass-9f2c1e',
    makeAdapter: (options) =>
      createRabbitMqAdapter({ url: RABBITMQ_URL.replace(/\/\/[^@]*@/, '//guest:wrong-pass-9f2c1e@'), ...options }),
  },
});

afterAll(async () => {
  console.log(
    'rabbitmq conformance: rejected publishBatch calls by code',
    JSON.stringify(Object.fromEntries(rejected)),
  );
  await deleteTopology(/^ep-rabbitmq-\d/);
}, 120_000);
