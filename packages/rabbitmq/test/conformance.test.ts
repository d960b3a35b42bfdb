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
});

afterAll(() => deleteTopology(/^ep-rabbitmq-\d/), 120_000);
