import { randomUUID } from 'node:crypto';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { type EventAdapter, silentLogger } from '@eventport/core';
import { createKinesisAdapter, decodeEnvelope, KinesisDriver } from '@eventport/kinesis';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { kinesisSchema } from '../src/config';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();
const run = randomUUID().slice(0, 8);

/**
 * A real client whose PutRecords "fails" chosen entries (they are not sent) the way Kinesis reports
 * it, and whose PutRecord of a chosen record throws as Kinesis does. `calls` lists the ids each call carried.
 */
function flakyClient(shouldFail: (id: string, call: number) => boolean) {
  const client = new KinesisClient({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID as string, secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string },
    requestHandler: new NodeHttpHandler(),
  });
  const calls: string[][] = [];
  const realSend = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const idOf = (entry: PutRecordsRequestEntry) =>
    decodeEnvelope(entry.Data as Uint8Array, entry.PartitionKey).headers['ce-id'] as string;
  (client as { send: unknown }).send = async (command: unknown) => {
    // A single record goes as PutRecord, which Kinesis fails as a whole, with the exception.
    if (command instanceof PutRecordCommand) {
      const call = calls.push([idOf(command.input as PutRecordsRequestEntry)]);
      if (!shouldFail(idOf(command.input as PutRecordsRequestEntry), call)) return realSend(command);
      const message = 'Rate exceeded for shard (injected)';
      throw Object.assign(new Error(message), { name: 'ProvisionedThroughputExceededException', $fault: 'client' });
    }
    if (!(command instanceof PutRecordsCommand)) return realSend(command);
    const entries = command.input.Records ?? [];
    const call = calls.push(entries.map(idOf));
    const failing = entries.map((entry) => shouldFail(idOf(entry), call));
    const forwarded = entries.filter((_, index) => !failing[index]);
    const real = forwarded.length
      ? ((await realSend(new PutRecordsCommand({ ...command.input, Records: forwarded }))) as PutRecordsCommandOutput)
      : { Records: [] };
    const results = [...(real.Records ?? [])];
    const merged: PutRecordsResultEntry[] = failing.map((fails) =>
      fails
        ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard (injected)' }
        : (results.shift() as PutRecordsResultEntry),
    );
    return { ...real, FailedRecordCount: failing.filter(Boolean).length, Records: merged };
  };
  return { client, calls };
}

/** Every record in the stream, read directly (not through eventport): ids in stream order. */
async function idsInStream(client: KinesisClient, stream: string): Promise<string[]> {
  const ids: string[] = [];
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: stream }));
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    while (iterator) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const record of page.Records ?? []) {
        ids.push(decodeEnvelope(record.Data as Uint8Array, record.PartitionKey).headers['ce-id'] as string);
      }
      if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return ids;
}

const adapters: EventAdapter[] = [];
/** Creates each stream first: the calls these tests count are then all about the injected failures. */
let admin: EventAdapter;
beforeAll(() => {
  admin = createKinesisAdapter({ logger: silentLogger });
  adapters.push(admin);
});
afterAll(async () => {
  const streams = (await admin.listTopics()).filter((name) => name.includes(run));
  await Promise.allSettled(streams.map((stream) => admin.deleteTopic(stream)));
  await Promise.allSettled(adapters.map((adapter) => adapter.disconnect()));
});

test('PutRecords with failed entries: core sends only those again, none lost, none duplicated', async () => {
  const stream = `partial-${run}`;
  await admin.createTopic(stream);
  const { client, calls } = flakyClient((id, call) => call === 1 && id.endsWith('-fail'));
  const adapter = createKinesisAdapter({ client, logger: silentLogger });
  adapters.push(adapter);
  const messages = Array.from({ length: 30 }, (_, n) => ({
    topic: stream,
    id: `m${n}-${n % 3 === 0 ? 'fail' : 'ok'}`,
    data: { n },
  }));
  await adapter.publishBatch(messages);

  const failing = messages.filter((message) => message.id.endsWith('-fail')).map((message) => message.id);
  expect(calls).toHaveLength(2);
  expect(calls[0]).toHaveLength(30);
  expect(calls[1]).toEqual(failing); // the retry carries exactly the rejected entries, recognisable by id
  const stored = await idsInStream(client, stream);
  expect([...stored].sort()).toEqual(messages.map((message) => message.id).sort());
  client.destroy();
});

test('the driver returns one result per record: rejected entries fail alone, with the AWS error code', async () => {
  const stream = `partial-driver-${run}`;
  await admin.createTopic(stream);
  const { client, calls } = flakyClient((id) => id === 'r3' || id === 'r7');
  const driver = new KinesisDriver(kinesisSchema.parse({ client }));
  const records = Array.from({ length: 10 }, (_, n) => ({
    headers: { 'ce-id': `r${n}` },
    body: Buffer.from(`${n}`),
    dedupeId: `r${n}`,
  }));
  const results = await driver.send(stream, records, AbortSignal.timeout(30_000));
  expect(calls).toHaveLength(1); // no retry inside the driver
  expect(results.map((result) => result.ok)).toEqual(records.map((_, n) => n !== 3 && n !== 7));
  for (const n of [3, 7]) {
    const result = results[n] as { ok: false; error: Error };
    expect(result.error).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    expect(driver.classify(result.error)).toEqual({ code: 'RESOURCE_EXHAUSTED', retryable: true });
  }
  await driver.disconnect();
  client.destroy();
});

test('an entry rejected again is retried by core within publishAttempts, sending only what is missing', async () => {
  const stream = `partial-exhausted-${run}`;
  await admin.createTopic(stream);
  const { client, calls } = flakyClient((id, call) => call <= 2 && id === 'm7');
  const adapter = createKinesisAdapter({ client, publishAttempts: 3, logger: silentLogger });
  adapters.push(adapter);
  const messages = Array.from({ length: 20 }, (_, n) => ({ topic: stream, id: `m${n}`, data: { n } }));
  await adapter.publishBatch(messages);

  expect(calls.map((ids) => ids.length)).toEqual([20, 1, 1]);
  expect(calls[1]).toEqual(['m7']);
  expect(calls[2]).toEqual(['m7']);
  const stored = await idsInStream(client, stream);
  expect([...stored].sort()).toEqual(messages.map((message) => message.id).sort());
  client.destroy();
});

test('entries that never succeed surface as a typed, retryable RESOURCE_EXHAUSTED error', async () => {
  const stream = `partial-failed-${run}`;
  await admin.createTopic(stream);
  const { client } = flakyClient((id) => id === 'doomed');
  const adapter = createKinesisAdapter({ client, publishAttempts: 2, logger: silentLogger });
  adapters.push(adapter);
  const attempt = adapter.publishBatch([
    { topic: stream, id: 'fine', data: 1 },
    { topic: stream, id: 'doomed', data: 2 },
  ]);
  await expect(attempt).rejects.toMatchObject({
    code: 'RESOURCE_EXHAUSTED',
    retryable: true,
    message: expect.stringContaining('ProvisionedThroughputExceededException'),
  });
  expect(await idsInStream(client, stream)).toEqual(['fine']);
  client.destroy();
});
