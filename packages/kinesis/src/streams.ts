import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  type ListShardsCommandInput,
  ListStreamsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { EventportError, pause } from '@eventport/core';
import { isErrorNamed } from './errors.js';

const STREAM_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Stream administration: create/delete/list, waiting for the state change, and on-demand creation. */
export class Streams {
  /** Streams known to exist (or being created) by this adapter, so publishing checks once per stream. */
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(
    private readonly client: KinesisClient,
    private readonly settings: { autoCreateStreams: boolean; shardCount: number; streamReadyTimeoutMs: number },
  ) {}

  get autoCreates(): boolean {
    return this.settings.autoCreateStreams;
  }

  static validateName(stream: string): void {
    if (!STREAM_NAME.test(stream)) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `"${stream}" cannot be a Kinesis stream name: at most 128 letters, digits, ".", "_" or "-"`,
      );
    }
  }

  /** With autoCreateStreams, creates the stream when missing and waits until it is ACTIVE; otherwise a no-op. */
  ensure(stream: string): Promise<void> {
    if (!this.settings.autoCreateStreams) return Promise.resolve();
    let ensured = this.ensured.get(stream);
    if (!ensured) {
      ensured = this.createIfMissing(stream).catch((error: unknown) => {
        this.ensured.delete(stream);
        throw error;
      });
      this.ensured.set(stream, ensured);
    }
    return ensured;
  }

  /** Forget that a stream exists (it was deleted, maybe by someone else). */
  forget(stream: string): void {
    this.ensured.delete(stream);
  }

  async create(stream: string, shardCount = this.settings.shardCount): Promise<void> {
    Streams.validateName(stream);
    try {
      await this.client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shardCount }));
    } catch (error) {
      if (isErrorNamed(error, 'ResourceInUseException')) {
        throw new EventportError('ALREADY_EXISTS', `stream "${stream}" already exists`, { cause: error });
      }
      throw error;
    }
    await this.waitUntilActive(stream);
  }

  async delete(stream: string): Promise<void> {
    Streams.validateName(stream);
    this.forget(stream);
    try {
      await this.client.send(new DeleteStreamCommand({ StreamName: stream, EnforceConsumerDeletion: true }));
    } catch (error) {
      if (isErrorNamed(error, 'ResourceNotFoundException')) {
        throw new EventportError('NOT_FOUND', `stream "${stream}" does not exist`, { cause: error });
      }
      throw error;
    }
    await this.waitUntil(stream, 'deleted', async () => (await this.status(stream)) === undefined);
  }

  /** Names of the streams that exist and are not being deleted. */
  async list(): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(new ListStreamsCommand(nextToken ? { NextToken: nextToken } : {}));
      if (page.StreamSummaries) {
        for (const summary of page.StreamSummaries) {
          if (summary.StreamName && summary.StreamStatus !== 'DELETING') names.push(summary.StreamName);
        }
      } else {
        names.push(...(page.StreamNames ?? []));
      }
      nextToken = page.HasMoreStreams ? page.NextToken : undefined;
    } while (nextToken);
    return names.sort();
  }

  /** Every shard of the stream, open and closed (closed ones still hold records until retention ends). */
  async shards(stream: string, signal?: AbortSignal): Promise<Shard[]> {
    const shards: Shard[] = [];
    let input: ListShardsCommandInput = { StreamName: stream };
    for (;;) {
      const page = await this.client.send(new ListShardsCommand(input), { abortSignal: signal });
      shards.push(...(page.Shards ?? []));
      if (!page.NextToken) return shards;
      input = { NextToken: page.NextToken };
    }
  }

  async ping(): Promise<void> {
    await this.client.send(new ListStreamsCommand({ Limit: 1 }));
  }

  private async createIfMissing(stream: string): Promise<void> {
    Streams.validateName(stream);
    const status = await this.status(stream);
    if (status === 'ACTIVE' || status === 'UPDATING') return;
    if (status === 'DELETING') {
      await this.waitUntil(stream, 'deleted', async () => (await this.status(stream)) === undefined);
    }
    if (status !== 'CREATING') {
      try {
        await this.client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: this.settings.shardCount }));
      } catch (error) {
        // Another publisher or process created it first: wait for it like for our own.
        if (!isErrorNamed(error, 'ResourceInUseException')) throw error;
      }
    }
    await this.waitUntilActive(stream);
  }

  private waitUntilActive(stream: string): Promise<void> {
    return this.waitUntil(stream, 'ACTIVE', async () => {
      const status = await this.status(stream);
      return status === 'ACTIVE' || status === 'UPDATING';
    });
  }

  private async status(stream: string): Promise<string | undefined> {
    try {
      const { StreamDescriptionSummary } = await this.client.send(
        new DescribeStreamSummaryCommand({ StreamName: stream }),
      );
      return StreamDescriptionSummary?.StreamStatus;
    } catch (error) {
      if (isErrorNamed(error, 'ResourceNotFoundException')) return undefined;
      throw error;
    }
  }

  private async waitUntil(stream: string, state: string, reached: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.settings.streamReadyTimeoutMs;
    // Kinesis allows 10 DescribeStreamSummary calls per second per account: poll gently.
    for (let delayMs = 50; !(await reached()); delayMs = Math.min(delayMs * 2, 1_000)) {
      if (Date.now() > deadline) {
        throw new EventportError(
          'TIMEOUT',
          `stream "${stream}" did not become ${state} within ${this.settings.streamReadyTimeoutMs} ms`,
        );
      }
      await pause(delayMs);
    }
  }
}
