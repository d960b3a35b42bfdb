import { silentLogger } from '@eventport/core';
import { KafkaDriver } from '@eventport/kafka';
import { runDriverConformance } from '@eventport/testkit';
import { restartMock, testBroker } from './broker';

const broker = testBroker();
// The mock makes a member that joins after another one left wait for the departed member's session to expire.
const group = { sessionTimeout: 6_000, heartbeatInterval: 500, topicAdmin: !broker.isMock };

runDriverConformance({
  name: 'kafka',
  makeDriver: () => new KafkaDriver({ brokers: broker.servers, ...group }, silentLogger),
  makeSilentDriver: ({ host, port }) => new KafkaDriver({ brokers: [`${host}:${port}`], ...group }, silentLogger),
  ...(broker.control ? { restartBroker: () => restartMock(broker) } : {}),
});
