import { createRabbitMqAdapter, RABBITMQ_CAPABILITIES } from '@eventport/rabbitmq';
import { runConformance } from '@eventport/testkit';
import { afterAll } from '@jest/globals';
import { claimRestartsFor, deleteTopology, RABBITMQ_URL, restartRabbitMq } from './broker';

// The other test files pause while the restart case runs, so both restarts hit messages in flight.
claimRestartsFor(/broker restart/);

runConformance({
  name: 'rabbitmq',
  capabilities: RABBITMQ_CAPABILITIES,
  makeAdapter: (options) => createRabbitMqAdapter({ url: RABBITMQ_URL, ...options }),
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

afterAll(() => deleteTopology(/^ep-rabbitmq-\d/), 120_000);
