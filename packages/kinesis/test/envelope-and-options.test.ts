import { randomUUID } from 'node:crypto';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { createAdapter, loadBackendConfig, type ReceivedMessage, silentLogger } from '@eventport/core';
import {
  backend,
  createKinesisAdapter,
  decodeEnvelope,
  encodeEnvelope,
  KINESIS_CAPABILITIES,
  RedisCheckpointStore,
} from '@eventport/kinesis';
import { eventually } from '@eventport/testkit';
import { expect, test } from '@jest/globals';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();

test('the envelope carries key, headers (id included) and body bytes exactly', () => {
  const body = Buffer.from([0, 1, 2, 254, 255]);
  const headers = { 'ce-id': 'id-1', 'content-type': 'application/octet-stream', empty: '', 'x-ü': '日本 "q" \\' };
  const data = encodeEnvelope('key-1', headers, body);
  expect(JSON.parse(data.toString('utf8'))).toMatchObject({ v: 1, id: 'id-1', k: 'key-1' });
  const decoded = decodeEnvelope(data, 'ignored-partition-key');
  expect(decoded).toEqual({ key: 'key-1', headers, body });
  expect(decodeEnvelope(encodeEnvelope(undefined, headers, body), 'id-1').key).toBeUndefined();
});

test('a record that is not an envelope is handed over raw, with its partition key as key', () => {
  for (const raw of ['plain text', '{"v":2,"b":"x","h":{}}', '{"v":1,"b":"eA==","h":{"n":1}}', '[1,2]']) {
    expect(decodeEnvelope(Buffer.from(raw), 'pk')).toEqual({ key: 'pk', headers: {}, body: Buffer.from(raw) });
  }
});

test('options are validated before connecting, with typed errors that name the option', () => {
  const load = (options: Record<string, unknown>) => () => loadBackendConfig(backend, options, {});
  expect(() => createKinesisAdapter({ shardCount: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  expect(() => createKinesisAdapter({ leaseTtlMs: 10 })).toThrow(/leaseTtlMs/);
  expect(load({ accessKeyId: 'only-half' })).toThrow(/AWS_SECRET_ACCESS_KEY/);
  expect(load({ secretAccessKey: 'only-half' })).toThrow(
    /set both accessKeyId and secretAccessKey \(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\), or neither/,
  );
  expect(() => createKinesisAdapter({ checkpointStore: 'ftp://user:pw@host/x' })).toThrow(
    expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.not.stringContaining('pw') }),
  );
  expect(() => createKinesisAdapter({ checkpointStore: { type: 'redis', url: 'postgres://x' } as never })).toThrow(
    /checkpointStore.url/,
  );
  // One strict schema: a typo fails, naming the key and the closest valid one.
  expect(load({ leaseTTLms: 5_000 })).toThrow(/"leaseTTLms" \(did you mean "leaseTtlMs"\?\)/);
  expect(load({ putAttempts: 3 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  expect(() => loadBackendConfig(backend, {}, { KINESIS_CHECKPOINT_URL: 'ftp://x' })).toThrow(
    /KINESIS_CHECKPOINT_URL: must be "memory" or a URL/,
  );
});

test('options: defaults, numeric strings, env vars for what the options leave out', () => {
  const defaults = {
    region: 'us-east-1',
    autoCreateStreams: true,
    shardCount: 1,
    leaseTtlMs: 10_000,
    shardSyncIntervalMs: 10_000,
    idlePollIntervalMs: 500,
    busyPollIntervalMs: 200,
    getRecordsLimit: 1_000,
    startSkewMs: 1_000,
    requestTimeoutMs: 5_000,
  };
  expect(loadBackendConfig(backend, {}, {})).toEqual(defaults);
  const fromEnv = {
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
    AWS_ACCESS_KEY_ID: 'env-key',
    AWS_SECRET_ACCESS_KEY: 'env-secret',
    AWS_SESSION_TOKEN: 'env-token',
    KINESIS_CHECKPOINT_URL: 'redis://127.0.0.1:6379',
  };
  expect(loadBackendConfig(backend, { shardCount: '3', autoCreateStreams: 'false' }, fromEnv)).toEqual({
    ...defaults,
    region: 'eu-west-1',
    endpoint: 'http://127.0.0.1:1',
    accessKeyId: 'env-key',
    secretAccessKey: 'env-secret',
    sessionToken: 'env-token',
    checkpointStore: 'redis://127.0.0.1:6379',
    autoCreateStreams: false,
    shardCount: 3,
  });
  const explicit = { region: 'us-west-2', endpoint: 'http://127.0.0.1:3', checkpointStore: 'memory' } as const;
  expect(loadBackendConfig(backend, explicit, fromEnv)).toMatchObject(explicit);
  expect(loadBackendConfig(backend, { checkpointStore: { type: 'memory' } }, fromEnv)).toMatchObject({
    checkpointStore: { type: 'memory' },
  });
  expect(() => loadBackendConfig(backend, { shardCount: '' }, {})).toThrow(/shardCount/);
  expect(() => loadBackendConfig(backend, { autoCreateStreams: 'yes' }, {})).toThrow(/autoCreateStreams/);
  // Kinesis allows 5 GetRecords calls per second per shard.
  expect(() => loadBackendConfig(backend, { busyPollIntervalMs: 50 }, {})).toThrow(/busyPollIntervalMs/);
  expect(() => loadBackendConfig(backend, {}, { AWS_REGION: 'mars' })).toThrow(/AWS_REGION/);
});

test('createAdapter("kinesis") reads AWS_* env vars; invalid ones name the variable', async () => {
  const adapter = await createAdapter('kinesis', { logger: silentLogger });
  expect(adapter.capabilities).toEqual(KINESIS_CAPABILITIES);
  expect((await adapter.health()).ok).toBe(true);
  await adapter.disconnect();
  const region = process.env.AWS_REGION;
  process.env.AWS_REGION = 'mars';
  try {
    await expect(createAdapter('kinesis')).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringContaining('AWS_REGION'),
    });
  } finally {
    process.env.AWS_REGION = region;
  }
});

test('records from producers that are not eventport are consumed, with the sequence number as id', async () => {
  const adapter = createKinesisAdapter({ checkpointStore: 'memory', idlePollIntervalMs: 100, logger: silentLogger });
  const stream = `foreign-${randomUUID().slice(0, 8)}`;
  try {
    await adapter.createTopic(stream);
    const client = adapter.native() as import('@aws-sdk/client-kinesis').KinesisClient;
    const put = await client.send(
      new PutRecordCommand({ StreamName: stream, PartitionKey: 'device-7', Data: Buffer.from('{"temp":21.5}') }),
    );
    const received: ReceivedMessage[] = [];
    const subscription = await adapter.subscribe(stream, (message) => void received.push(message), {
      group: 'g',
      fromBeginning: true,
    });
    expect(await eventually(() => received.length === 1, 30_000)).toBe(true);
    await subscription.close();
    expect(received[0]).toMatchObject({
      id: put.SequenceNumber,
      key: 'device-7',
      data: { temp: 21.5 },
      headers: {},
      meta: { shardId: put.ShardId, sequenceNumber: put.SequenceNumber, partitionKey: 'device-7' },
    });
  } finally {
    await adapter.deleteTopic(stream).catch(() => undefined);
    await adapter.disconnect();
  }
});

test('publishing to a missing stream with autoCreateStreams false fails with NOT_FOUND', async () => {
  const adapter = createKinesisAdapter({ autoCreateStreams: false, logger: silentLogger });
  try {
    await expect(adapter.publish({ topic: `missing-${randomUUID().slice(0, 8)}`, data: 1 })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  } finally {
    await adapter.disconnect();
  }
});

test('KINESIS_CHECKPOINT_URL selects the checkpoint store when no option names one', async () => {
  const stream = `env-store-${randomUUID().slice(0, 8)}`;
  const keyPrefix = 'eventport:kinesis';
  process.env.KINESIS_CHECKPOINT_URL = env.REDIS_URL;
  const adapter = await createAdapter('kinesis', { logger: silentLogger });
  delete process.env.KINESIS_CHECKPOINT_URL;
  const redis = new RedisCheckpointStore({ url: env.REDIS_URL as string, keyPrefix });
  try {
    await (await adapter.subscribe(stream, () => undefined, { group: 'env', fromBeginning: true })).close();
    // The group's start position was stored in Redis by the adapter, so this one is not taken.
    expect(await redis.startPosition({ stream, group: 'env' }, 'AT_TIMESTAMP:1')).toBe('TRIM_HORIZON');
  } finally {
    await adapter.deleteTopic(stream).catch(() => undefined);
    await adapter.disconnect();
    await redis.forgetStream(stream);
    await redis.close();
  }
});
