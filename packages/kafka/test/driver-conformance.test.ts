import { backendDriver, silentLogger } from '@eventport/core';
import { backend } from '@eventport/kafka';
import { runDriverConformance } from '@eventport/testkit';
import { restartMock, testBroker } from './broker';

const broker = testBroker();
// The mock makes a member that joins after another one left wait for the departed member's session to expire.
const group = { sessionTimeout: 6_000, heartbeatInterval: 500, topicAdmin: !broker.isMock };

runDriverConformance({
  name: 'kafka',
  makeDriver: () => backendDriver(backend, { brokers: broker.servers, ...group }, { logger: silentLogger }),
  makeSilentDriver: ({ host, port }) =>
    backendDriver(backend, { brokers: [`${host}:${port}`], ...group }, { logger: silentLogger }),
  ...(broker.control ? { restartBroker: () => restartMock(broker) } : {}),
});
