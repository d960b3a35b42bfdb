import { randomUUID } from 'node:crypto';
import {
  type KinesisClient,
  PutRecordCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { backoffDelay, EventportError, type OutgoingRecord, pause, RESERVED_HEADERS } from '@eventport/core';
import { encodeEnvelope } from './envelope.js';
import { classifyKinesisError, isErrorNamed } from './errors.js';
import type { Streams } from './streams.js';

/** Kinesis limits: a record's data plus partition key, and one PutRecords call. */
export const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 5 * 1024 * 1024;

interface Entry {
  record: OutgoingRecord;
  request: PutRecordsRequestEntry;
  bytes: number;
}

/**
 * PutRecord for one record, PutRecords in chunks of at most 500 records / 5 MiB otherwise. Kinesis can
 * reject single entries of a PutRecords call (throttling, internal failure): only those are sent again,
 * with backoff. Each record carries its message id in the envelope, so a consumer can recognise a
 * record that was written twice (when a whole call failed after Kinesis had stored it).
 */
export class Publisher {
  /**
   * Records Kinesis has accepted. The portable layer retries a failed send with the same record
   * objects, so a retry after a partial success sends only what is still missing.
   */
  private readonly accepted = new WeakSet<OutgoingRecord>();

  constructor(
    private readonly client: KinesisClient,
    private readonly streams: Streams,
    private readonly putAttempts: number,
  ) {}

  async send(stream: string, records: readonly OutgoingRecord[]): Promise<void> {
    const entries = records.filter((record) => !this.accepted.has(record)).map(toEntry);
    if (entries.length === 0) return;
    await this.streams.ensure(stream);
    try {
      await this.put(stream, entries);
    } catch (error) {
      // The stream was deleted behind our back: create it again once, then give up.
      if (!this.streams.autoCreates || !isErrorNamed(error, 'ResourceNotFoundException')) throw error;
      this.streams.forget(stream);
      await this.streams.ensure(stream);
      await this.put(
        stream,
        entries.filter((entry) => !this.accepted.has(entry.record)),
      );
    }
  }

  private async put(stream: string, entries: Entry[]): Promise<void> {
    if (entries.length === 1) {
      await this.putOne(stream, entries[0] as Entry);
      return;
    }
    for (const chunk of chunks(entries)) await this.putChunk(stream, chunk);
  }

  private async putOne(stream: string, entry: Entry): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new PutRecordCommand({ StreamName: stream, ...entry.request }));
        this.accepted.add(entry.record);
        return;
      } catch (error) {
        if (attempt >= this.putAttempts || classifyKinesisError(error)?.code !== 'RESOURCE_EXHAUSTED') throw error;
        await pause(backoffDelay(attempt));
      }
    }
  }

  private async putChunk(stream: string, chunk: Entry[]): Promise<void> {
    let pending = chunk;
    for (let attempt = 1; ; attempt++) {
      const { Records: results = [] } = await this.client.send(
        new PutRecordsCommand({ StreamName: stream, Records: pending.map((entry) => entry.request) }),
      );
      const failed: Array<{ entry: Entry; reason: string }> = [];
      pending.forEach((entry, index) => {
        const result = results[index];
        if (result?.SequenceNumber && !result.ErrorCode) this.accepted.add(entry.record);
        else failed.push({ entry, reason: `${result?.ErrorCode ?? 'no result'}: ${result?.ErrorMessage ?? ''}` });
      });
      if (failed.length === 0) return;
      if (attempt >= this.putAttempts) {
        throw new EventportError(
          'RESOURCE_EXHAUSTED',
          `Kinesis rejected ${failed.length} of ${chunk.length} records ${attempt} times (last: ${failed[0]?.reason})`,
        );
      }
      pending = failed.map(({ entry }) => entry);
      await pause(backoffDelay(attempt));
    }
  }
}

function toEntry(record: OutgoingRecord): Entry {
  const data = encodeEnvelope(record.key, record.headers, record.body);
  // Keyless messages are spread over shards by their id, which also keeps a message's retries on one shard.
  const partitionKey = record.key ?? record.headers[RESERVED_HEADERS.id] ?? randomUUID();
  const bytes = data.length + Buffer.byteLength(partitionKey, 'utf8');
  if (bytes > MAX_RECORD_BYTES) {
    throw new EventportError(
      'PAYLOAD_TOO_LARGE',
      `the Kinesis record (envelope with headers, key and base64 body) is ${bytes} bytes; the limit is ${MAX_RECORD_BYTES}`,
    );
  }
  return { record, request: { Data: data, PartitionKey: partitionKey }, bytes };
}

function* chunks(entries: Entry[]): Generator<Entry[]> {
  let chunk: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (chunk.length === MAX_BATCH_RECORDS || bytes + entry.bytes > MAX_BATCH_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += entry.bytes;
  }
  if (chunk.length > 0) yield chunk;
}
