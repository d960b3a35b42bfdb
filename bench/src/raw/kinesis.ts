import { randomUUID } from 'node:crypto';
import type { GetRecordsCommandOutput, KinesisClient } from '@aws-sdk/client-kinesis';
import { pause, RESERVED_HEADERS } from '@eventport/core';
import {
  type BenchTarget,
  type Consumer,
  decodePayload,
  encodePayload,
  handle,
  type OnMessage,
  type Payload,
} from '../target.js';
import { sdkHeaders, type WireMode } from './headers.js';

type KinesisSdk = typeof import('@aws-sdk/client-kinesis');
type SmithyHttp = typeof import('@smithy/node-http-handler');

export interface RawKinesisSettings {
  region: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** @eventport/kinesis defaults: wait between GetRecords calls of a caught-up / a busy shard, records per call. */
const IDLE_POLL_MS = 500;
const BUSY_POLL_MS = 200;
const GET_RECORDS_LIMIT = 1_000;
/** The version field of @eventport/kinesis's record envelope. */
const ENVELOPE_VERSION = 1;

/**
 * @aws-sdk/client-kinesis doing what @eventport/kinesis does: a one-shard stream per topic, PutRecord
 * (PutRecords for a batch), and per shard a GetRecords loop with the
 * adapter's default poll intervals; each record's handlers run with at most `concurrency` at once and
 * the shard position ("checkpoint") moves on in memory once a GetRecords page is handled. With the
 * SDK's headers, a record is the adapter's JSON envelope `{v, id, h, b: base64 body}` keyed by the
 * message id (packages/kinesis/src/envelope.ts), unwrapped on the consume side; bare, the body keyed
 * by a random partition key.
 */
export class RawKinesis implements BenchTarget {
  private readonly ready = new Map<string, Promise<void>>();

  private constructor(
    private readonly sdk: KinesisSdk,
    private readonly client: KinesisClient,
    private readonly mode: WireMode,
  ) {}

  static async create(settings: RawKinesisSettings, mode: WireMode): Promise<RawKinesis> {
    const sdk = require('@aws-sdk/client-kinesis') as KinesisSdk;
    const client = new sdk.KinesisClient({
      region: settings.region,
      // Like the adapter: HTTP/1.1, since the default HTTP/2 handler fails at random against local emulators.
      ...(settings.endpoint
        ? {
            endpoint: settings.endpoint,
            requestHandler: new (require('@smithy/node-http-handler') as SmithyHttp).NodeHttpHandler(),
          }
        : {}),
      ...(settings.accessKeyId && settings.secretAccessKey
        ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
        : {}),
    });
    await client.send(new sdk.ListStreamsCommand({ Limit: 1 }));
    return new RawKinesis(sdk, client, mode);
  }

  async prepare(topic: string): Promise<void> {
    await this.ensureStream(topic);
  }

  async publish(topic: string, payload: Payload): Promise<void> {
    await this.ensureStream(topic);
    await this.client.send(new this.sdk.PutRecordCommand({ StreamName: topic, ...this.record(topic, payload) }));
  }

  async publishBatch(topic: string, payloads: readonly Payload[]): Promise<void> {
    await this.ensureStream(topic);
    let pending = payloads.map((payload) => this.record(topic, payload));
    for (let attempt = 1; pending.length > 0; attempt++) {
      const { Records = [] } = await this.client.send(
        new this.sdk.PutRecordsCommand({ StreamName: topic, Records: pending }),
      );
      const failed = pending.filter((_, index) => Records[index]?.ErrorCode);
      if (failed.length > 0 && attempt >= 10) throw new Error(`PutRecords: ${failed.length} record(s) failed 10 times`);
      pending = failed;
    }
  }

  async subscribe(topic: string, _group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer> {
    await this.ensureStream(topic);
    const { Shards = [] } = await this.client.send(new this.sdk.ListShardsCommand({ StreamName: topic }));
    const controller = new AbortController();
    const checkpoints = new Map<string, string>();
    const iterators = await Promise.all(
      Shards.map(async ({ ShardId }) => {
        const { ShardIterator } = await this.client.send(
          new this.sdk.GetShardIteratorCommand({ StreamName: topic, ShardId, ShardIteratorType: 'LATEST' }),
        );
        return { shard: ShardId ?? '', iterator: ShardIterator };
      }),
    );
    const loops = iterators.map(({ shard, iterator }) =>
      this.poll(iterator, concurrency, onMessage, controller.signal, (sequence) => checkpoints.set(shard, sequence)),
    );
    return {
      close: async () => {
        controller.abort();
        await Promise.allSettled(loops);
      },
    };
  }

  async cleanup(topic: string): Promise<void> {
    this.ready.delete(topic);
    await this.client
      .send(new this.sdk.DeleteStreamCommand({ StreamName: topic, EnforceConsumerDeletion: true }))
      .catch(() => undefined);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async poll(
    iterator: string | undefined,
    concurrency: number,
    onMessage: OnMessage,
    signal: AbortSignal,
    checkpoint: (sequence: string) => void,
  ): Promise<void> {
    while (iterator && !signal.aborted) {
      let page: GetRecordsCommandOutput;
      try {
        page = await this.client.send(
          new this.sdk.GetRecordsCommand({ ShardIterator: iterator, Limit: GET_RECORDS_LIMIT }),
          { abortSignal: signal },
        );
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      const records = page.Records ?? [];
      for (let start = 0; start < records.length; start += concurrency) {
        await Promise.all(
          records
            .slice(start, start + concurrency)
            .map((record) => handle(onMessage, this.decode(record.Data ?? new Uint8Array()))),
        );
      }
      const last = records[records.length - 1]?.SequenceNumber;
      if (last) checkpoint(last);
      iterator = page.NextShardIterator;
      const caughtUp = records.length === 0 && (page.MillisBehindLatest ?? 0) === 0;
      await pause(caughtUp ? IDLE_POLL_MS : BUSY_POLL_MS, signal);
    }
  }

  private record(topic: string, payload: Payload): { PartitionKey: string; Data: Buffer } {
    const body = encodePayload(payload);
    if (this.mode === 'bare') return { PartitionKey: randomUUID(), Data: body };
    const { [RESERVED_HEADERS.id]: id, ...h } = sdkHeaders(topic).headers;
    const envelope = { v: ENVELOPE_VERSION, id, h, b: body.toString('base64') };
    return { PartitionKey: id as string, Data: Buffer.from(JSON.stringify(envelope), 'utf8') };
  }

  private decode(data: Uint8Array): Payload {
    if (this.mode === 'bare') return decodePayload(data);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const envelope = JSON.parse(bytes.toString('utf8')) as { h: Record<string, string>; b: string };
    return decodePayload(Buffer.from(envelope.b, 'base64'));
  }

  private ensureStream(topic: string): Promise<void> {
    let ready = this.ready.get(topic);
    if (!ready) {
      ready = this.createStream(topic);
      this.ready.set(topic, ready);
    }
    return ready;
  }

  private async createStream(topic: string): Promise<void> {
    try {
      await this.client.send(new this.sdk.CreateStreamCommand({ StreamName: topic, ShardCount: 1 }));
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
    }
    for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
      const { StreamDescriptionSummary } = await this.client.send(
        new this.sdk.DescribeStreamSummaryCommand({ StreamName: topic }),
      );
      if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
      await pause(delay);
    }
  }
}
