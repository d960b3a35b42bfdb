import { randomUUID } from 'node:crypto';
import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  type Shard,
} from '@aws-sdk/client-kinesis';
import {
  backoffDelay,
  type DriverSubscribeOptions,
  type DriverSubscription,
  EventportError,
  type IncomingRecord,
  OffsetTracker,
  pause,
  type RecordSink,
} from '@eventport/core';
import { atTimestamp, iteratorAfter, SHARD_END, TRIM_HORIZON } from './checkpoint/positions.js';
import type { CheckpointScope, CheckpointStore } from './checkpoint/store.js';
import { decodeEnvelope } from './envelope.js';
import { classifyKinesisError, isErrorNamed } from './errors.js';
import type { ResolvedKinesisOptions } from './options.js';
import type { Streams } from './streams.js';

export interface ConsumerContext {
  client: KinesisClient;
  streams: Streams;
  store: CheckpointStore;
  settings: ResolvedKinesisOptions;
}

/**
 * One subscriber of a consumer group on one stream. Shards are shared between the members of a
 * group through leases in the checkpoint store: a member reads the shards whose lease it holds,
 * renews them while it runs, and takes over free or expired ones (a parent shard before its
 * children). Members register in the store, so each knows its fair share, ceil(readable shards /
 * live members): a member holding more hands the surplus over (stop reading, let its records
 * settle, checkpoint, release), and the others pick those shards up on their next round.
 */
export class GroupMember implements DriverSubscription {
  private readonly owner = randomUUID();
  private readonly scope: CheckpointScope;
  private readonly readers = new Map<string, ShardReader>();
  /** Shards being given back to the group: closed once their records settle. */
  private readonly handovers = new Set<Promise<void>>();
  /** Aborts waits and calls of the coordinator (renewal keeps running until close). */
  private readonly closing = new AbortController();
  private shardList: Shard[] = [];
  private shardListAt = 0;
  private fetching = true;
  private startPosition = TRIM_HORIZON;
  private coordinator: Promise<void> | undefined;
  private wakeCoordinator: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly context: ConsumerContext,
    stream: string,
    private readonly options: DriverSubscribeOptions,
    private readonly sink: RecordSink,
  ) {
    this.scope = { stream, group: options.group };
  }

  /** Resolves once the group's start position is stored and the shards free right now are being read. */
  static async start(
    context: ConsumerContext,
    stream: string,
    options: DriverSubscribeOptions,
    sink: RecordSink,
  ): Promise<GroupMember> {
    const member = new GroupMember(context, stream, options, sink);
    const requested = options.fromBeginning ? TRIM_HORIZON : atTimestamp(Date.now() - context.settings.startSkewMs);
    member.startPosition = await context.store.startPosition(member.scope, requested);
    try {
      await member.sync();
    } catch (error) {
      await member.close();
      throw error;
    }
    member.coordinator = member.coordinate();
    return member;
  }

  async stop(): Promise<void> {
    this.fetching = false;
    await Promise.all([...this.readers.values()].map((reader) => reader.stop()));
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.stop();
      this.closing.abort();
      this.wakeCoordinator?.();
      await this.coordinator;
      await Promise.all([...this.readers.values()].map((reader) => reader.close()));
      this.readers.clear();
      await Promise.all(this.handovers);
      await this.context.store.leave(this.scope, this.owner).catch((error: unknown) => this.options.onError(error));
    })();
    return this.closed;
  }

  private async coordinate(): Promise<void> {
    const renewEveryMs = Math.max(100, Math.floor(this.context.settings.leaseTtlMs / 3));
    while (!this.closing.signal.aborted) {
      await new Promise<void>((resolve) => {
        this.wakeCoordinator = resolve;
        void pause(renewEveryMs, this.closing.signal).then(() => resolve());
      });
      this.wakeCoordinator = undefined;
      if (this.closing.signal.aborted) return;
      try {
        await this.sync();
      } catch (error) {
        this.options.onError(error);
      }
    }
  }

  /**
   * Renews held leases, then (while fetching) balances: hands over shards beyond this member's share
   * and takes free shards that are ready to be read, up to the share.
   */
  private async sync(): Promise<void> {
    const { store, settings } = this.context;
    const members = await store.heartbeat(this.scope, this.owner, settings.leaseTtlMs);
    for (const [shardId, reader] of this.readers) {
      if (reader.finished) {
        this.readers.delete(shardId);
        this.shardListAt = 0; // a parent ended: list again to find its children
        continue;
      }
      if (reader.failed) {
        this.readers.delete(shardId);
        await reader.close();
        continue;
      }
      if (!(await store.tryLease(this.scope, shardId, this.owner, settings.leaseTtlMs))) {
        this.readers.delete(shardId);
        reader.abandon();
        this.options.onError(
          new EventportError(
            'INTERNAL',
            `lost the lease of ${shardId} of "${this.scope.stream}" (group "${this.scope.group}") to another member; it continues from the last checkpoint`,
          ),
        );
      }
    }
    if (!this.fetching) return;
    if (Date.now() - this.shardListAt >= settings.shardSyncIntervalMs) {
      this.shardList = await this.context.streams.shards(this.scope.stream, this.closing.signal);
      this.shardListAt = Date.now();
    }
    let checkpoints = await store.checkpoints(this.scope);
    const listed = new Set(this.shardList.map((shard) => shard.ShardId));
    // Children wait until every parent still in the stream was read to its end, so per-key order holds across resharding.
    const readable = this.shardList.filter((shard) => {
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (parent): parent is string => parent !== undefined && listed.has(parent),
      );
      return (
        checkpoints[shard.ShardId as string] !== SHARD_END &&
        parents.every((parent) => checkpoints[parent] === SHARD_END)
      );
    });
    const share = Math.ceil(readable.length / Math.max(1, members));
    for (const shardId of [...this.readers.keys()].slice(share)) this.handOver(shardId);
    for (const shard of readable) {
      const shardId = shard.ShardId as string;
      if (this.readers.size >= share || !this.fetching) return;
      if (this.readers.has(shardId)) continue;
      if (!(await store.tryLease(this.scope, shardId, this.owner, settings.leaseTtlMs))) continue;
      // The previous holder may have checkpointed after we looked: read again now that the lease is ours.
      checkpoints = await store.checkpoints(this.scope);
      const position = checkpoints[shardId] ?? this.startPosition;
      if (position === SHARD_END || !this.fetching) {
        await store.releaseLease(this.scope, shardId, this.owner);
        continue;
      }
      const reader = new ShardReader(this.context, this.scope, shardId, this.owner, position, this.options, this.sink);
      reader.onFinished = () => this.wakeCoordinator?.();
      this.readers.set(shardId, reader);
    }
  }

  /**
   * Gives a shard back to the group without duplicates: stop reading it, wait (within half a lease,
   * as the lease is no longer renewed) for its records in flight to settle, checkpoint, release.
   */
  private handOver(shardId: string): void {
    const reader = this.readers.get(shardId);
    if (!reader) return;
    this.readers.delete(shardId);
    const handover = (async () => {
      await reader.stop();
      await reader.drained(this.context.settings.leaseTtlMs / 2);
      await reader.close();
    })()
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => this.handovers.delete(handover));
    this.handovers.add(handover);
  }
}

/**
 * Reads one leased shard: GetRecords in a loop, paced by MillisBehindLatest, backing off on
 * throttling, and hands each record to the sink. Checkpoints advance only over the settled prefix
 * (OffsetTracker), so a record is never checkpointed before its handler resolved. A nack rewinds the
 * shard: once the records in flight settle, reading restarts right after the checkpoint, so the
 * nacked record comes again before anything that followed it.
 */
class ShardReader {
  finished = false;
  /** The read loop died on an unexpected error (e.g. the store failed at shard end): the member drops the shard. */
  failed = false;
  onFinished: () => void = () => undefined;
  private readonly tracker = new OffsetTracker<string>();
  /** Local delivery counts of records that were nacked (Kinesis keeps none). */
  private readonly attempts = new Map<string, number>();
  private readonly halt = new AbortController();
  private readonly loop: Promise<void>;
  private inFlight = 0;
  private settleWaiters: Array<() => void> = [];
  /** Latest position whose records are all settled, and the latest one written to the store. */
  private committable: string;
  private checkpointed: string;
  private flushing: Promise<void> | undefined;
  private rewind: { delayMs: number } | undefined;
  private lastFetched: string | undefined;
  private abandoned = false;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly context: ConsumerContext,
    private readonly scope: CheckpointScope,
    readonly shardId: string,
    private readonly owner: string,
    startPosition: string,
    private readonly options: DriverSubscribeOptions,
    private readonly sink: RecordSink,
  ) {
    this.committable = startPosition;
    this.checkpointed = startPosition;
    this.loop = this.run().catch((error: unknown) => {
      this.failed = true;
      this.options.onError(error);
    });
  }

  /** Stop fetching; records already handed out can still be settled (and checkpointed). */
  async stop(): Promise<void> {
    this.halt.abort();
    this.wakeSettleWaiters();
    await this.loop;
  }

  /** After the drain: write the last checkpoint and give the lease back. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.stop();
      if (this.abandoned) return;
      try {
        await this.flush();
      } catch (error) {
        this.options.onError(error);
      }
      await this.context.store
        .releaseLease(this.scope, this.shardId, this.owner)
        .catch((error: unknown) => this.options.onError(error));
      // Acks after the drain timed out must not write over the next holder's checkpoints.
      this.abandoned = true;
    })();
    return this.closed;
  }

  /** The lease went to another member: stop, and let late acks no longer touch the checkpoint. */
  abandon(): void {
    this.abandoned = true;
    void this.stop();
  }

  private get halted(): boolean {
    return this.halt.signal.aborted;
  }

  private async run(): Promise<void> {
    let iterator: string | undefined = await this.iteratorAfter(this.checkpointed);
    let failures = 0;
    while (!this.halted) {
      if (this.rewind) {
        iterator = await this.rewindToCheckpoint();
        continue;
      }
      if (iterator === undefined) {
        // The shard was closed by resharding and everything in it was read.
        await this.settled();
        if (this.halted || this.rewind) continue;
        await this.finish();
        return;
      }
      let response: GetRecordsCommandOutput;
      try {
        response = await this.context.client.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: this.context.settings.getRecordsLimit }),
          { abortSignal: this.halt.signal },
        );
        failures = 0;
      } catch (error) {
        if (this.halted) return;
        failures++;
        if (isErrorNamed(error, 'ExpiredIteratorException')) {
          // Iterators live 5 minutes; a slow handler can outlast one. Continue after the last record read.
          iterator = await this.iteratorAfter(this.lastFetched ?? this.checkpointed);
          continue;
        }
        if (classifyKinesisError(error)?.code !== 'RESOURCE_EXHAUSTED') this.options.onError(error);
        await pause(backoffDelay(failures, 200, 10_000), this.halt.signal);
        continue;
      }
      iterator = response.NextShardIterator ?? undefined;
      const records = response.Records ?? [];
      for (const record of records) {
        if (this.halted || this.rewind) break;
        await this.sink(this.deliver(record));
      }
      const behind = (response.MillisBehindLatest ?? 0) > 0 || records.length > 0;
      if (!this.rewind) {
        const { busyPollIntervalMs, idlePollIntervalMs } = this.context.settings;
        await pause(behind ? busyPollIntervalMs : idlePollIntervalMs, this.halt.signal);
      }
    }
  }

  private deliver(record: KinesisRecord): IncomingRecord {
    const sequenceNumber = record.SequenceNumber as string;
    this.tracker.track(sequenceNumber);
    this.inFlight++;
    this.lastFetched = sequenceNumber;
    const attempt = (this.attempts.get(sequenceNumber) ?? 0) + 1;
    const decoded = decodeEnvelope(record.Data ?? new Uint8Array(), record.PartitionKey);
    let settled = false;
    const incoming: IncomingRecord = {
      headers: decoded.headers,
      body: decoded.body,
      attempt,
      meta: {
        id: sequenceNumber,
        shardId: this.shardId,
        sequenceNumber,
        partitionKey: record.PartitionKey,
        arrivalTimestamp: record.ApproximateArrivalTimestamp?.getTime(),
      },
      ack: async () => {
        if (settled) return;
        settled = true;
        this.attempts.delete(sequenceNumber);
        const commitPoint = this.tracker.settle(sequenceNumber);
        this.recordSettled();
        if (commitPoint !== undefined && !this.abandoned) {
          this.committable = commitPoint;
          await this.flush();
        }
      },
      nack: async (delayMs: number) => {
        if (settled) return;
        settled = true;
        // Not settled in the tracker: the checkpoint cannot pass this record, so it is read again.
        if (!this.halted) {
          this.attempts.set(sequenceNumber, attempt);
          this.rewind = { delayMs: Math.max(this.rewind?.delayMs ?? 0, delayMs) };
        }
        this.recordSettled();
      },
    };
    if (decoded.key !== undefined) incoming.key = decoded.key;
    return incoming;
  }

  private async rewindToCheckpoint(): Promise<string | undefined> {
    await this.settled();
    if (this.halted) return undefined;
    const delayMs = this.rewind?.delayMs ?? 0;
    this.rewind = undefined;
    this.tracker.clear();
    this.lastFetched = undefined;
    await pause(delayMs, this.halt.signal);
    return this.halted ? undefined : this.iteratorAfter(this.checkpointed);
  }

  private async finish(): Promise<void> {
    this.committable = SHARD_END;
    await this.flush();
    await this.context.store.releaseLease(this.scope, this.shardId, this.owner);
    this.finished = true;
    this.onFinished();
  }

  private async iteratorAfter(position: string): Promise<string | undefined> {
    for (let failures = 1; ; failures++) {
      try {
        const { ShardIterator } = await this.context.client.send(
          new GetShardIteratorCommand({
            StreamName: this.scope.stream,
            ShardId: this.shardId,
            ...iteratorAfter(position),
          }),
          { abortSignal: this.halt.signal },
        );
        return ShardIterator;
      } catch (error) {
        if (this.halted) return undefined;
        if (classifyKinesisError(error)?.code !== 'RESOURCE_EXHAUSTED') this.options.onError(error);
        await pause(backoffDelay(failures, 200, 10_000), this.halt.signal);
      }
    }
  }

  /** Writes the latest committable position; concurrent callers share one write at a time. */
  private flush(): Promise<void> {
    if (this.committable === this.checkpointed || this.abandoned) return this.flushing ?? Promise.resolve();
    this.flushing ??= this.writeCheckpoints().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async writeCheckpoints(): Promise<void> {
    while (this.committable !== this.checkpointed && !this.abandoned) {
      const position = this.committable;
      const written = await this.context.store.checkpoint(this.scope, this.shardId, this.owner, position);
      if (!written) {
        this.abandon();
        throw new EventportError(
          'INTERNAL',
          `checkpoint of ${this.shardId} of "${this.scope.stream}" refused: another member of group "${this.scope.group}" holds its lease`,
        );
      }
      this.checkpointed = position;
    }
  }

  private recordSettled(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.wakeSettleWaiters();
  }

  private wakeSettleWaiters(): void {
    for (const wake of this.settleWaiters.splice(0)) wake();
  }

  /** Resolves when every record handed out was settled (true), or after `timeoutMs` (false). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.settleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  /** Resolves when every record handed out has been acked or nacked (or the reader stops). */
  private async settled(): Promise<void> {
    while (this.inFlight > 0 && !this.halted) {
      await new Promise<void>((resolve) => this.settleWaiters.push(resolve));
    }
  }
}
