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
import { createKinesisAdapter, decodeEnvelope } from '@eventport/kinesis';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { useLocalBrokers } from './local-env';

const env = useLocalBrokers();
const run = randomUUID().slice(0, 8);

/**
 * A real client whose PutRecords "fails" chosen entries (they are not sent) the way Kinesis reports
 * it. `calls` lists the ids each PutRecords / PutRecord call carried.
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
    if (command instanceof PutRecordCommand) calls.push([idOf(command.input)]);
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

test('PutRecords with failed entries: only those are sent again, none lost, none duplicated', async () => {
  const stream = `partial-${run}`;
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

test('entries failing past putAttempts fail the send; the portable retry resends only what is missing', async () => {
  const stream = `partial-exhausted-${run}`;
  // putAttempts 2: the first send gives up after 2 calls; the portable layer's retry sends the one
  // missing record again (a single record goes out as PutRecord) and nothing else.
  const { client, calls } = flakyClient((id, call) => call <= 2 && id === 'm7');
  const adapter = createKinesisAdapter({ client, putAttempts: 2, publishAttempts: 3, logger: silentLogger });
  adapters.push(adapter);
  const messages = Array.from({ length: 20 }, (_, n) => ({ topic: stream, id: `m${n}`, data: { n } }));
  await adapter.publishBatch(messages);

  expect(calls.map((ids) => ids.length)).toEqual([20, 1, 1]);
  expect(calls[2]).toEqual(['m7']);
  const stored = await idsInStream(client, stream);
  expect([...stored].sort()).toEqual(messages.map((message) => message.id).sort());
  client.destroy();
});

test('entries that never succeed surface as a typed, retryable RESOURCE_EXHAUSTED error', async () => {
  const stream = `partial-failed-${run}`;
  const { client } = flakyClient((id) => id === 'doomed');
  const adapter = createKinesisAdapter({ client, putAttempts: 2, publishAttempts: 1, logger: silentLogger });
  adapters.push(adapter);
  const attempt = adapter.publishBatch([
    { topic: stream, id: 'fine', data: 1 },
    { topic: stream, id: 'doomed', data: 2 },
  ]);
  await expect(attempt).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED', retryable: true });
  expect(await idsInStream(client, stream)).toEqual(['fine']);
  client.destroy();
});
