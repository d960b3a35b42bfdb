import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  ListStreamsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { EventportError, pause } from '@eventport/core';
import { isErrorNamed } from './errors.js';

/**
 * Stream administration and on-demand creation. Waits for a state change (ACTIVE, gone) until it is
 * reached or the caller's deadline aborts `signal`.
 */
export class Streams {
  /** Streams known to exist (or being created) by this driver, so publishing checks once per stream. */
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(
    private readonly client: KinesisClient,
    private readonly settings: { autoCreateStreams: boolean; shardCount: number },
  ) {}

  static validateName(stream: string): void {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(stream)) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `"${stream}" cannot be a Kinesis stream name: at most 128 letters, digits, ".", "_" or "-"`,
      );
    }
  }

  /** With autoCreateStreams, creates the stream when missing and waits until it is ACTIVE. */
  ensure(stream: string, signal: AbortSignal): Promise<void> {
    Streams.validateName(stream);
    if (!this.settings.autoCreateStreams) return Promise.resolve();
    let ensured = this.ensured.get(stream);
    if (!ensured) {
      ensured = this.createIfMissing(stream, signal).catch((error: unknown) => {
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

  async create(stream: string, shardCount: number, signal: AbortSignal): Promise<void> {
    Streams.validateName(stream);
    try {
      await this.client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shardCount }), {
        abortSignal: signal,
      });
    } catch (error) {
      if (!isErrorNamed(error, 'ResourceInUseException')) throw error;
      throw new EventportError('ALREADY_EXISTS', `stream "${stream}" already exists`, { cause: error });
    }
    await this.waitFor(stream, 'ACTIVE', signal);
  }

  async delete(stream: string, signal: AbortSignal): Promise<void> {
    Streams.validateName(stream);
    this.forget(stream);
    try {
      const command = new DeleteStreamCommand({ StreamName: stream, EnforceConsumerDeletion: true });
      await this.client.send(command, { abortSignal: signal });
    } catch (error) {
      if (!isErrorNamed(error, 'ResourceNotFoundException')) throw error;
      throw new EventportError('NOT_FOUND', `stream "${stream}" does not exist`, { cause: error });
    }
    await this.waitFor(stream, undefined, signal);
  }

  /** Names of the streams that exist and are not being deleted. */
  async list(signal: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListStreamsCommand(token ? { NextToken: token } : {}), {
        abortSignal: signal,
      });
      if (page.StreamSummaries) {
        for (const { StreamName, StreamStatus } of page.StreamSummaries) {
          if (StreamName && StreamStatus !== 'DELETING') names.push(StreamName);
        }
      } else {
        names.push(...(page.StreamNames ?? []));
      }
      token = page.HasMoreStreams ? page.NextToken : undefined;
    } while (token);
    return names.sort();
  }

  /** Every shard of the stream, open and closed (closed ones hold records until retention ends). */
  async shards(stream: string, signal?: AbortSignal): Promise<Shard[]> {
    const shards: Shard[] = [];
    let token: string | undefined;
    do {
      const input = token ? { NextToken: token } : { StreamName: stream };
      const page = await this.client.send(new ListShardsCommand(input), { abortSignal: signal });
      shards.push(...(page.Shards ?? []));
      token = page.NextToken;
    } while (token);
    return shards;
  }

  async ping(signal: AbortSignal): Promise<void> {
    await this.client.send(new ListStreamsCommand({ Limit: 1 }), { abortSignal: signal });
  }

  /** Waits for ACTIVE, creating the stream when it is missing (or gone after DELETING). */
  private async createIfMissing(stream: string, signal: AbortSignal): Promise<void> {
    for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 1_000)) {
      const status = await this.status(stream, signal);
      if (status === 'ACTIVE' || status === 'UPDATING') return;
      if (status === undefined) {
        const command = new CreateStreamCommand({ StreamName: stream, ShardCount: this.settings.shardCount });
        // Created by someone else first, or 5 streams are being created in the account already: wait and look again.
        await this.client.send(command, { abortSignal: signal }).catch((error: unknown) => {
          if (!isErrorNamed(error, 'ResourceInUseException', 'LimitExceededException')) throw error;
        });
      }
      if (!(await pause(delayMs, signal))) throw signal.reason;
    }
  }

  private async status(stream: string, signal: AbortSignal): Promise<string | undefined> {
    try {
      const command = new DescribeStreamSummaryCommand({ StreamName: stream });
      return (await this.client.send(command, { abortSignal: signal })).StreamDescriptionSummary?.StreamStatus;
    } catch (error) {
      if (isErrorNamed(error, 'ResourceNotFoundException')) return undefined;
      throw error;
    }
  }

  /** Polls (gently: 10 DescribeStreamSummary calls/s per account) until ACTIVE, or gone for `undefined`. */
  private async waitFor(stream: string, state: 'ACTIVE' | undefined, signal: AbortSignal): Promise<void> {
    for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 1_000)) {
      const status = await this.status(stream, signal);
      if (status === state || (state === 'ACTIVE' && status === 'UPDATING')) return;
      if (!(await pause(delayMs, signal))) throw signal.reason;
    }
  }
}
