import { backendDriver } from '@eventport/core';
import { backend } from '@eventport/pubsub';
import { runDriverConformance } from '@eventport/testkit';
import { emulatorHost, projectId } from './env';

const driverFor = (host: string, requestTimeoutMs?: number) =>
  backendDriver(backend, { projectId, emulatorHost: host, ackDeadlineSeconds: 10, requestTimeoutMs });

runDriverConformance({
  name: 'pubsub',
  makeDriver: () => driverFor(emulatorHost),
  makeSilentDriver: ({ host, port }) => driverFor(`${host}:${port}`),
});
