import { backendDriver, silentLogger } from '@eventport/core';
import { backend } from '@eventport/kafka';
import { expect, test } from '@jest/globals';
import { AssignerProtocol } from 'kafkajs';

// librdkafka's mock serves no ListGroups / DescribeGroups: this is the Apache Kafka path, against a stand-in admin.
test('listGroups names the groups our naming made that hold a position on the topic: commits or subscribed members', async () => {
  const driver = backendDriver(backend, { brokers: ['a:9092'] }, { logger: silentLogger });
  const member = (topics: string[]) => ({
    memberId: 'm',
    clientId: 'c',
    clientHost: 'h',
    memberAssignment: Buffer.alloc(0),
    memberMetadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
  });
  const members: Record<string, ReturnType<typeof member>[]> = {
    'live.t': [member(['t'])],
    'elsewhere.t': [member(['u'])],
  };
  const committed: Record<string, string> = { 'orders.t': '7', 'orders.u': '3', 'someone-else': '1' };
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    listGroups: async () => ({
      groups: ['orders.t', 'orders.u', 'live.t', 'elsewhere.t', 'idle.t', 'someone-else'].map((groupId) => ({
        groupId,
        protocolType: 'consumer',
      })),
    }),
    describeGroups: async (ids: string[]) => ({
      groups: ids.map((groupId) => ({ groupId, protocolType: 'consumer', members: members[groupId] ?? [] })),
    }),
    fetchOffsets: async ({ groupId }: { groupId: string }) => [
      { topic: 't', partitions: [{ partition: 0, offset: committed[groupId] ?? '-1', metadata: null }] },
    ],
  };
  Object.assign(driver.native().kafka, { admin: () => admin });
  // orders.u is another topic's, someone-else is no name of ours, idle.t holds nothing.
  expect(await driver.listGroups('t', AbortSignal.timeout(5_000))).toEqual(['live', 'orders']);
});
