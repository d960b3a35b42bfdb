import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  ListStreamsCommand,
} from '@aws-sdk/client-kinesis';
import { backoffDelay, type ErrorCode, EventportError, pause } from '@eventport/core';
import { isErrorNamed } from './errors.js';

/** An AWS error `name` becomes a typed EventportError; anything else is rethrown as it is. */
const rename = (name: string, code: ErrorCode, message: string) => (error: unknown) => {
  throw isErrorNamed(error, name) ? new EventportError(code, message, { cause: error }) : error;
};

export function validateName(stream: string): void {
  if (/^[A-Za-z0-9_.-]{1,128}$/.test(stream)) return;
  const message = `"${stream}" cannot be a Kinesis stream name: at most 128 letters, digits, ".", "_" or "-"`;
  throw new EventportError('INVALID_ARGUMENT', message);
}

/** Stream administration; waits for ACTIVE (or gone) until the caller's deadline aborts `signal`. */
export class Streams {
  constructor(private readonly client: KinesisClient) {}

  /** Creates the stream and waits until it is ACTIVE; core calls it for a stream a send or subscribe found missing. */
  async create(stream: string, shardCount: number, signal: AbortSignal): Promise<void> {
    validateName(stream);
    // ResourceInUse: made by another process a moment ago (maybe not ACTIVE yet), or still being deleted.
    const send = () =>
      this.client
        .send(new CreateStreamCommand({ StreamName: stream, ShardCount: shardCount }), { abortSignal: signal })
        .then(
          () => false,
          (error: unknown) => isErrorNamed(error, 'ResourceInUseException') || Promise.reject(error),
        );
    const existed = await send();
    // A stream that was being deleted is created once it is gone.
    await this.until(stream, 'ACTIVE', signal, send);
    if (existed) throw new EventportError('ALREADY_EXISTS', `stream "${stream}" already exists`);
  }

  async delete(stream: string, signal: AbortSignal): Promise<void> {
    validateName(stream);
    await this.client
      .send(new DeleteStreamCommand({ StreamName: stream, EnforceConsumerDeletion: true }), { abortSignal: signal })
      .catch(rename('ResourceNotFoundException', 'NOT_FOUND', `stream "${stream}" does not exist`));
    await this.until(stream, undefined, signal);
  }

  /** Names of the streams that exist and are not being deleted. */
  async list(signal: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    for (let token: string | undefined, more = true; more; ) {
      const page = await this.client.send(new ListStreamsCommand({ NextToken: token }), { abortSignal: signal });
      for (const { StreamName, StreamStatus } of page.StreamSummaries ?? []) {
        if (StreamName && StreamStatus !== 'DELETING') names.push(StreamName);
      }
      if (!page.StreamSummaries) names.push(...(page.StreamNames ?? []));
      token = page.NextToken;
      more = Boolean(page.HasMoreStreams && token);
    }
    return names.sort();
  }

  /** Every shard of the stream, open and closed (closed ones hold records until retention ends). */
  async shards(stream: string, signal: AbortSignal): Promise<Shard[]> {
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

  /**
   * Polls (gently: Kinesis allows 10 DescribeStreamSummary calls/s per account) until the stream is
   * ACTIVE, or gone for `undefined`; calls `whenGone` each time it finds none.
   */
  private async until(stream: string, state: 'ACTIVE' | undefined, signal: AbortSignal, whenGone?: () => unknown) {
    for (let attempt = 1; ; attempt++) {
      const status = await this.client
        .send(new DescribeStreamSummaryCommand({ StreamName: stream }), { abortSignal: signal })
        .then(({ StreamDescriptionSummary }) => StreamDescriptionSummary?.StreamStatus)
        .catch((error: unknown) => {
          if (!isErrorNamed(error, 'ResourceNotFoundException')) throw error;
        });
      if (status === state || (state === 'ACTIVE' && status === 'UPDATING')) return;
      if (status === undefined) await whenGone?.();
      if (!(await pause(backoffDelay(attempt, 50, 1_000), signal))) throw signal.reason;
    }
  }
}
