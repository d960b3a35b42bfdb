import { randomUUID } from 'node:crypto';
import {
  type CheckpointStore,
  MemoryCheckpointStore,
  PostgresCheckpointStore,
  RedisCheckpointStore,
} from '@eventport/kinesis';
import { afterAll, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();

const stores: Array<[string, () => CheckpointStore]> = [
  ['memory', () => new MemoryCheckpointStore()],
  ['redis', () => new RedisCheckpointStore({ url: env.REDIS_URL, keyPrefix: 'eventport:kinesis-store-test' })],
  [
    'postgres',
    () => new PostgresCheckpointStore({ url: env.DATABASE_URL, table: 'eventport_kinesis_checkpoints_test' }),
  ],
];

describe.each(stores)('%s checkpoint store', (_name, makeStore) => {
  const store = makeStore();
  const scope = { stream: `store-test-${randomUUID().slice(0, 8)}`, group: 'g1' };
  afterAll(async () => {
    await store.forgetStream(scope.stream);
    await store.close();
  });

  test('the first start position of a group wins', async () => {
    expect(await store.startPosition(scope, 'TRIM_HORIZON')).toBe('TRIM_HORIZON');
    expect(await store.startPosition(scope, 'AT_TIMESTAMP:1')).toBe('TRIM_HORIZON');
    expect(await store.startPosition({ ...scope, group: 'g2' }, 'AT_TIMESTAMP:1')).toBe('AT_TIMESTAMP:1');
  });

  test('a lease belongs to one owner until released or expired', async () => {
    const shard = 'shardId-000000000001';
    expect(await store.tryLease(scope, shard, 'a', 1_000)).toBe(true);
    expect(await store.tryLease(scope, shard, 'b', 1_000)).toBe(false);
    expect(await store.tryLease(scope, shard, 'a', 1_000)).toBe(true); // renewal
    await store.releaseLease(scope, shard, 'b'); // not b's: no effect
    expect(await store.tryLease(scope, shard, 'b', 1_000)).toBe(false);
    await store.releaseLease(scope, shard, 'a');
    expect(await store.tryLease(scope, shard, 'b', 200)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await store.tryLease(scope, shard, 'a', 1_000)).toBe(true); // b's lease expired
  });

  test('only the lease holder can checkpoint; checkpoints survive a new store instance', async () => {
    const shard = 'shardId-000000000002';
    expect(await store.checkpoint(scope, shard, 'a', '100')).toBe(false); // nobody holds it
    expect(await store.tryLease(scope, shard, 'a', 5_000)).toBe(true);
    expect(await store.checkpoint(scope, shard, 'a', '100')).toBe(true);
    expect(await store.checkpoint(scope, shard, 'b', '200')).toBe(false);
    expect(await store.checkpoint(scope, shard, 'a', '300')).toBe(true);
    await store.releaseLease(scope, shard, 'a');
    const checkpoints = await store.checkpoints(scope);
    expect(checkpoints[shard]).toBe('300');
    expect(Object.keys(checkpoints)).not.toContain('$group');
    if (store instanceof MemoryCheckpointStore) return; // per instance by design
    const reopened = makeStore();
    try {
      expect((await reopened.checkpoints(scope))[shard]).toBe('300');
    } finally {
      await reopened.close();
    }
  });

  test('heartbeats count the live members of a group; leave and expiry remove one', async () => {
    const members = { ...scope, group: 'members' };
    expect(await store.heartbeat(members, 'm1', 5_000)).toBe(1);
    expect(await store.heartbeat(members, 'm2', 300)).toBe(2);
    expect(await store.heartbeat(members, 'm1', 5_000)).toBe(2);
    expect(await store.heartbeat({ ...scope, group: 'other' }, 'm3', 5_000)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await store.heartbeat(members, 'm1', 5_000)).toBe(1); // m2 expired
    await store.leave(members, 'm1');
    expect(await store.heartbeat(members, 'm4', 5_000)).toBe(1);
    expect(await store.checkpoints(members)).toEqual({}); // member rows are not shards
  });

  test('groups are separate namespaces, and forgetStream removes a stream of every group', async () => {
    const other = { ...scope, group: 'g3' };
    expect(await store.tryLease(other, 'shardId-000000000002', 'c', 5_000)).toBe(true); // independent of g1's lease
    expect(await store.checkpoint(other, 'shardId-000000000002', 'c', '7')).toBe(true);
    expect((await store.checkpoints(scope))['shardId-000000000002']).toBe('300');
    expect(await store.groups(scope.stream)).toEqual(['g1', 'g2', 'g3', 'members', 'other']);
    expect(await store.groups(`${scope.stream}x`)).toEqual([]); // a stream whose name starts the same
    await store.forgetStream(scope.stream);
    expect(await store.groups(scope.stream)).toEqual([]);
    expect(await store.checkpoints(scope)).toEqual({});
    expect(await store.checkpoints(other)).toEqual({});
    expect(await store.startPosition(scope, 'AT_TIMESTAMP:5')).toBe('AT_TIMESTAMP:5');
  });
});

// The option types are shapes, not pg's or ioredis's types (both are optional peers): this type-checks only
// while a real Pool and a real client still fit them.
const ownConnections: Array<
  [string, () => { store: CheckpointStore; alive: () => Promise<unknown>; end: () => Promise<unknown> }]
> = [
  [
    'redis',
    () => {
      const client = new Redis(env.REDIS_URL);
      return { store: new RedisCheckpointStore({ client }), alive: () => client.ping(), end: () => client.quit() };
    },
  ],
  [
    'postgres',
    () => {
      const pool = new Pool({ connectionString: env.DATABASE_URL });
      return {
        store: new PostgresCheckpointStore({ pool }),
        alive: () => pool.query('SELECT 1'),
        end: () => pool.end(),
      };
    },
  ],
];

test.each(ownConnections)(
  "a %s store on the caller's own connection uses it and leaves it open",
  async (_name, open) => {
    const { store, alive, end } = open();
    const scope = { stream: `own-connection-${randomUUID().slice(0, 8)}`, group: 'g1' };
    try {
      expect(await store.tryLease(scope, 'shardId-000000000001', 'a', 5_000)).toBe(true);
      expect(await store.checkpoint(scope, 'shardId-000000000001', 'a', '42')).toBe(true);
      expect(await store.checkpoints(scope)).toEqual({ 'shardId-000000000001': '42' });
      await store.forgetStream(scope.stream);
      await store.close();
      await expect(alive()).resolves.toBeTruthy();
    } finally {
      await end();
    }
  },
);

test('a store that cannot connect fails loudly with a typed error', async () => {
  const store = new RedisCheckpointStore({ url: 'redis://user:secret@127.0.0.1:1' });
  const attempt = store.checkpoints({ stream: 's', group: 'g' });
  await expect(attempt).rejects.toMatchObject({ code: 'CONNECTION' });
  await expect(attempt).rejects.not.toThrow(/secret/);
  await store.close();
});
