import { silentLogger } from '@eventport/core';
import { createRabbitMqDriver } from '@eventport/rabbitmq';
import { runDriverConformance } from '@eventport/testkit';
import { afterAll } from '@jest/globals';
import { claimRestartsFor, deleteTopology, RABBITMQ_URL, restartRabbitMq } from './broker';

claimRestartsFor(/broker restarted/);

runDriverConformance({
  name: 'rabbitmq',
  makeDriver: () => createRabbitMqDriver({ url: RABBITMQ_URL }, silentLogger),
  makeSilentDriver: ({ host, port }) =>
    createRabbitMqDriver({ url: `amqp://guest:guest@${host}:${port}` }, silentLogger),
  restartBroker: restartRabbitMq,
});

afterAll(() => deleteTopology(/^dc-rabbitmq-/), 120_000);
