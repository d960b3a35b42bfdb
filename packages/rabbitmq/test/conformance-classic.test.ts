import { createRabbitMqAdapter, rabbitMqCapabilities } from '@eventport/rabbitmq';
import { runConformance } from '@eventport/testkit';
import { deleteTopology, keepBrokerSteadyDuringEachTest, RABBITMQ_URL } from './broker';

// The same suite on classic queues (no delivery count). The broker-restart case runs only in the
// quorum suite, so the shared broker is bounced no more than needed.
keepBrokerSteadyDuringEachTest(() => deleteTopology(/^ep-rabbitmq-classic-/));

runConformance({
  name: 'rabbitmq-classic',
  capabilities: rabbitMqCapabilities('classic'),
  makeAdapter: (options) => createRabbitMqAdapter({ url: RABBITMQ_URL, queueType: 'classic', ...options }),
  crashWorker: { env: { EVENT_TYPE: 'rabbitmq', RABBITMQ_URL }, overrides: { queueType: 'classic' } },
});
