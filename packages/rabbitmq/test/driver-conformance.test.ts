import { silentLogger } from '@eventport/core';
import { createRabbitMqDriver } from '@eventport/rabbitmq';
import { runDriverConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { claimRestartsFor, deleteTopology, RABBITMQ_URL, restartRabbitMq, startManagementStandIn } from './broker';

claimRestartsFor(/broker restarted/);

// listGroups (and so ephemeralGroups) needs the management API; see startManagementStandIn.
let management: Awaited<ReturnType<typeof startManagementStandIn>>;
beforeAll(async () => {
  management = await startManagementStandIn();
});

runDriverConformance({
  name: 'rabbitmq',
  makeDriver: () => createRabbitMqDriver({ url: RABBITMQ_URL, managementUrl: management.url }, silentLogger),
  makeSilentDriver: ({ host, port }) =>
    createRabbitMqDriver({ url: `amqp://guest:guest@${host}:${port}` }, silentLogger),
  restartBroker: restartRabbitMq,
});

afterAll(async () => {
  await management.close();
  await deleteTopology(/^dc-rabbitmq-/);
}, 120_000);
