import { backendDriver } from '@eventport/core';
import { backend } from '@eventport/nats';
import { runDriverConformance } from '@eventport/testkit';
import { afterAll, beforeAll } from '@jest/globals';
import { PrivateNats } from './private-nats';

const server = new PrivateNats();
beforeAll(() => server.start());
afterAll(() => server.stop());

const driverOn = (url: string) => backendDriver(backend, { url, ackWaitMs: 5_000 });

runDriverConformance({
  name: 'nats',
  makeDriver: () => driverOn(server.url),
  makeSilentDriver: ({ host, port }) => driverOn(`nats://${host}:${port}`),
  restartBroker: () => server.restart(),
});
