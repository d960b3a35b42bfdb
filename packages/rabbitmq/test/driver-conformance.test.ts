import { backendDriver, silentLogger } from '@eventport/core';
import { backend } from '@eventport/rabbitmq';
import { runDriverConformance } from '@eventport/testkit';
import { afterAll } from '@jest/globals';
import { claimRestartsFor, deleteTopology, groupsBoundTo, RABBITMQ_URL, restartRabbitMq } from './broker';

claimRestartsFor(/broker restarted/);

// With RABBITMQ_MANAGEMENT_URL (CI: scripts/brokers/env.sh) the driver lists groups itself, through the
// management plugin; without it the driver has no listGroups, and the ephemeral case reads the broker's
// bindings with rabbitmqctl instead. Ephemeral groups work either way.
const managementUrl = process.env.RABBITMQ_MANAGEMENT_URL;

runDriverConformance({
  name: 'rabbitmq',
  makeDriver: () => backendDriver(backend, { url: RABBITMQ_URL, managementUrl }, { logger: silentLogger }),
  makeSilentDriver: ({ host, port }) =>
    backendDriver(backend, { url: `amqp://guest:guest@${host}:${port}` }, { logger: silentLogger }),
  restartBroker: restartRabbitMq,
  listGroups: (topic) => groupsBoundTo(topic),
});

afterAll(() => deleteTopology(/^dc-rabbitmq-/), 120_000);
