import { PubSubDriver, resolvePubSubOptions } from '@eventport/pubsub';
import { runDriverConformance } from '@eventport/testkit';
import { emulatorHost, projectId } from './env';

const driverFor = (host: string, requestTimeoutMs?: number) =>
  new PubSubDriver(resolvePubSubOptions({ projectId, emulatorHost: host, ackDeadlineSeconds: 10, requestTimeoutMs }));

runDriverConformance({
  name: 'pubsub',
  makeDriver: () => driverFor(emulatorHost),
  makeSilentDriver: ({ host, port }) => driverFor(`${host}:${port}`),
});
