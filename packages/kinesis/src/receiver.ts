import { randomUUID } from 'node:crypto';
import type { _Record, Shard } from '@aws-sdk/client-kinesis';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { ConsumerLag, IncomingRecord, Logger, Receiver, ReceiverOptions } from '@eventport/core';
import { backoffDelay, describeError, OffsetLog, pause } from '@eventport/core';
import type { CheckpointScope, CheckpointStore } from './checkpoint/store.js';
import { atTimestamp, iteratorAfter, SHARD_END, TRIM_HORIZON } from './checkpoint/store.js';
import type { KinesisConfig } from './config.js';
import { decodeEnvelope } from './envelope.js';
import { classifyKinesisError, isErrorNamed } from './errors.js';
import type { Streams } from './streams.js';

export interface KinesisRecord extends IncomingRecord {
  shardId: string;
  sequenceNumber: string;
}

export interface ReceiverContext {
  client: KinesisClient;
  streams: Streams;
  store: CheckpointStore;
  settings: KinesisConfig;
  logger?: Logger;
}

/** One leased shard: its fetch (iterator, page not handed out yet) and its OffsetLog. */
interface ShardState {
  id: string;
  log: OffsetLog<KinesisRecord>;
  /** Where a new iterator starts: after the last record fetched, else the checkpoint. */
  position: string;
  iterator?: string;
  buffer: KinesisRecord[];
  nextPollAt: number;
  /** The GetRecords in flight: receive and lag both poll, and one iterator must not be read twice. */
  polling?: Promise<void>;
  /** MillisBehindLatest of the last GetRecords. */
  millisBehind?: number;
  throttled: number;
  /** No next iterator: the shard was closed by resharding and read to its end. */
  ended: boolean;
  /** Being given back to the group: nothing new is handed out; released once settled or at this time. */
  handoverUntil?: number;
  leaving?: Promise<void>;
}

/**
 * One member of a consumer group on one stream. Shards are shared through leases in the checkpoint
 * store: the member renews its leases every third of `leaseTtlMs`, takes free or expired ones (parents
 * before children) up to its fair share, ceil(readable shards / live members), and hands the surplus
 * over. `receive` polls the owned shards (GetRecords, at most 5 calls/s per shard) and hands records
 * out in shard order; each shard's OffsetLog checkpoints the settled prefix and redelivers a nacked
 * record alone.
 */
export class ShardReceiver implements Receiver<KinesisRecord> {
  private readonly owner = randomUUID();
  private readonly shards = new Map<string, ShardState>();
  private readonly closing = new AbortController();
  private listed: Shard[] = [];
  private listedAt = 0;
  private failure: unknown;
  private coordinator: Promise<void> | undefined;
  private wakeReceive = new AbortController();
  private wakeSync = new AbortController();
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly context: ReceiverContext,
    private readonly scope: CheckpointScope,
    private readonly start: string,
  ) {}

  /** Resolves once the group's start position is stored and the shards free right now are leased. */
  static async open(
    context: ReceiverContext,
    stream: string,
    options: ReceiverOptions,
    signal: AbortSignal,
  ): Promise<ShardReceiver> {
    const scope = { stream, group: options.group };
    const requested = options.fromBeginning ? TRIM_HORIZON : atTimestamp(Date.now() - context.settings.startSkewMs);
    const start = await context.store.startPosition(scope, requested);
    const receiver = new ShardReceiver(context, scope, start);
    try {
      await receiver.sync(signal);
    } catch (error) {
      await receiver.close();
      throw error;
    }
    receiver.coordinator = receiver.coordinate();
    return receiver;
  }

  private get stopped(): boolean {
    return this.closing.signal.aborted;
  }

  async receive(max: number, signal: AbortSignal): Promise<KinesisRecord[]> {
    while (!signal.aborted && !this.stopped) {
      if (this.failure !== undefined) throw this.failure;
      const records = this.take(max);
      if (records.length > 0) return records;
      if (await this.pollDue(signal)) continue;
      const next = Math.min(...this.pollable().map((shard) => shard.nextPollAt)) - Date.now();
      this.wakeReceive = new AbortController();
      const wake = [signal, this.wakeReceive.signal, this.closing.signal];
      await pause(Number.isFinite(next) ? next : this.context.settings.leaseTtlMs, AbortSignal.any(wake));
    }
    return [];
  }

  async settle(acks: readonly KinesisRecord[], nacks: readonly KinesisRecord[]): Promise<void> {
    for (const record of acks) this.shards.get(record.shardId)?.log.ack(record);
    for (const record of nacks) this.shards.get(record.shardId)?.log.nack(record);
    if (nacks.length > 0) this.wakeReceive.abort();
    for (const shard of this.shards.values()) this.leaveIfDone(shard);
  }

  /**
   * MillisBehindLatest, the largest over the shards this member reads, as of each shard's last
   * GetRecords: shards that are due (everything fetched handed out) are polled first, so a member
   * that has not received yet, or has caught up, reports the present. Kinesis does not count records.
   */
  async lag(signal: AbortSignal): Promise<ConsumerLag> {
    await this.pollDue(signal);
    const behind = [...this.shards.values()].flatMap((shard) => shard.millisBehind ?? []);
    return behind.length > 0 ? { millisBehind: Math.max(...behind) } : {};
  }

  /** Writes the settled checkpoints and releases the leases; what was not settled is read again by the next holder. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort();
      await this.coordinator;
      await Promise.all([...this.shards.values()].map((shard) => (shard.leaving ??= this.leave(shard))));
      await this.context.store.leave(this.scope, this.owner).catch(() => undefined);
    })();
    return this.closed;
  }

  /** Redeliveries first, then fetched records, in shard order; tracked in the shard's log as they go out. */
  private take(max: number): KinesisRecord[] {
    const taken: KinesisRecord[] = [];
    for (const shard of this.shards.values()) {
      if (shard.leaving) continue;
      taken.push(...shard.log.takeRedeliveries(max - taken.length));
      while (taken.length < max && shard.handoverUntil === undefined && shard.buffer.length > 0) {
        const record = shard.buffer.shift() as KinesisRecord;
        shard.log.track(record);
        taken.push(record);
      }
    }
    return taken;
  }

  /** Shards being read whose fetched records were all handed out. */
  private pollable(): ShardState[] {
    return [...this.shards.values()].filter(
      (shard) => !shard.ended && !shard.leaving && shard.handoverUntil === undefined && shard.buffer.length === 0,
    );
  }

  /** Polls the pollable shards that are due; false when none was. */
  private async pollDue(signal: AbortSignal): Promise<boolean> {
    const due = this.pollable().filter((shard) => shard.nextPollAt <= Date.now());
    const poll = (shard: ShardState) =>
      this.poll(shard, signal).finally(() => {
        shard.polling = undefined;
        this.leaveIfDone(shard);
      });
    await Promise.all(due.map((shard) => (shard.polling ??= poll(shard))));
    return due.length > 0;
  }

  /**
   * A start time the broker calls future (our clock runs ahead of its own) has nothing stored at or
   * after it yet, so LATEST reads at least what that time would: a new group must not fail on clock skew.
   */
  private async iteratorFor(shard: ShardState, client: KinesisClient, signal: AbortSignal) {
    const at = { StreamName: this.scope.stream, ShardId: shard.id };
    const send = (where: ConstructorParameters<typeof GetShardIteratorCommand>[0]) =>
      client.send(new GetShardIteratorCommand(where), { abortSignal: signal }).then((answer) => answer.ShardIterator);
    const where = { ...at, ...iteratorAfter(shard.position) };
    return send(where).catch((error: unknown) => {
      const future =
        isErrorNamed(error, 'InvalidArgumentException') && /future/i.test(String((error as Error).message));
      if (!future || where.ShardIteratorType !== 'AT_TIMESTAMP') throw error;
      return send({ ...at, ShardIteratorType: 'LATEST' });
    });
  }

  private async poll(shard: ShardState, signal: AbortSignal): Promise<void> {
    const { client, settings } = this.context;
    try {
      if (shard.iterator === undefined) {
        shard.iterator = await this.iteratorFor(shard, client, signal);
        shard.ended = shard.iterator === undefined;
        if (shard.ended) return;
      }
      // A whole page, not just the unsettled window: a shard allows 5 calls/s, so pages of 32 would cap
      // it at 160 records/s. Core still hands out no more than the window; the rest waits here.
      const page = await client.send(
        new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: settings.getRecordsLimit }),
        { abortSignal: signal },
      );
      if (this.shards.get(shard.id) !== shard) return;
      for (const record of page.Records ?? []) shard.buffer.push(this.toRecord(shard.id, record));
      // A receive waiting out a poll interval takes what lag() fetched.
      if (shard.buffer.length > 0) this.wakeReceive.abort();
      shard.position = shard.buffer.at(-1)?.sequenceNumber ?? shard.position;
      shard.iterator = page.NextShardIterator;
      shard.ended = !page.NextShardIterator;
      shard.throttled = 0;
      shard.millisBehind = page.MillisBehindLatest;
      const behind = shard.buffer.length > 0 || (page.MillisBehindLatest ?? 0) > 0;
      shard.nextPollAt = Date.now() + (behind ? settings.busyPollIntervalMs : settings.idlePollIntervalMs);
    } catch (error) {
      if (signal.aborted || this.shards.get(shard.id) !== shard) return;
      // Iterators live 5 minutes: continue after the last record fetched.
      if (isErrorNamed(error, 'ExpiredIteratorException')) shard.iterator = undefined;
      // Throttled (5 calls/s per shard, shared by every reader of the stream): this shard waits, the others go on.
      else if (classifyKinesisError(error).code === 'RESOURCE_EXHAUSTED') {
        shard.nextPollAt = Date.now() + backoffDelay(++shard.throttled, 200, 10_000);
      } else throw error;
    }
  }

  private toRecord(shardId: string, record: _Record): KinesisRecord {
    const sequenceNumber = record.SequenceNumber as string;
    const { key, headers, body } = decodeEnvelope(record.Data ?? new Uint8Array(), record.PartitionKey);
    const { PartitionKey: partitionKey, ApproximateArrivalTimestamp: arrival } = record;
    const meta = { shardId, sequenceNumber, partitionKey, arrivalTimestamp: arrival?.getTime() };
    return { id: sequenceNumber, shardId, sequenceNumber, headers, body, meta, ...(key === undefined ? {} : { key }) };
  }

  /**
   * A shard being handed over, or read to its end, leaves once everything handed out is settled. A
   * hand-over drops what was fetched and not handed out, so it never marks the shard finished.
   */
  private leaveIfDone(shard: ShardState): void {
    if (shard.leaving || shard.log.unsettled > 0 || shard.buffer.length > 0) return;
    if (shard.handoverUntil !== undefined) shard.leaving = this.leave(shard);
    else if (shard.ended) shard.leaving = this.leave(shard, SHARD_END);
  }

  private async leave(shard: ShardState, final?: string): Promise<void> {
    const { store } = this.context;
    try {
      await shard.log.flush();
      if (final !== undefined && (await store.checkpoint(this.scope, shard.id, this.owner, final))) this.listedAt = 0;
      await store.releaseLease(this.scope, shard.id, this.owner);
    } catch (error) {
      this.fail(error);
    } finally {
      if (this.shards.get(shard.id) === shard) this.shards.delete(shard.id);
      this.wakeSync.abort(); // children may be readable now, or a hand-over completed
    }
  }

  private lost(shard: ShardState): void {
    if (this.shards.get(shard.id) !== shard) return;
    this.shards.delete(shard.id);
    shard.log.reset();
    this.context.logger?.warn('kinesis: lost a shard lease to another member; it continues from the last checkpoint', {
      ...this.scope,
      shardId: shard.id,
    });
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.wakeReceive.abort();
  }

  private addShard(id: string, position: string): void {
    const { store, logger } = this.context;
    const shard: ShardState = {
      id,
      position,
      buffer: [],
      nextPollAt: 0,
      throttled: 0,
      ended: false,
      log: new OffsetLog<KinesisRecord>(
        async (record) => {
          if (!(await store.checkpoint(this.scope, id, this.owner, record.sequenceNumber))) this.lost(shard);
        },
        // Not lost: the next checkpoint covers it, or the next holder reads again from the last one.
        (error) =>
          logger?.warn('kinesis: checkpoint write failed', { ...this.scope, shardId: id, error: describeError(error) }),
      ),
    };
    this.shards.set(id, shard);
    this.wakeReceive.abort();
  }

  private async coordinate(): Promise<void> {
    const every = Math.max(100, Math.floor(this.context.settings.leaseTtlMs / 3));
    while (!this.stopped) {
      await pause(every, AbortSignal.any([this.wakeSync.signal, this.closing.signal]));
      if (this.stopped) return;
      this.wakeSync = new AbortController(); // a wake during this round cuts the next pause short
      await this.sync().catch((error: unknown) => this.fail(error));
    }
  }

  /** Renews the leases held, then balances: hands over shards beyond the share, leases readable free ones up to it. */
  private async sync(signal = this.closing.signal): Promise<void> {
    const { store, streams, settings } = this.context;
    const members = await store.heartbeat(this.scope, this.owner, settings.leaseTtlMs);
    for (const shard of [...this.shards.values()]) {
      if (shard.leaving) continue;
      if (shard.handoverUntil !== undefined && Date.now() > shard.handoverUntil) {
        // Handlers did not finish in time: the next holder reads again from the checkpoint.
        shard.log.reset();
        shard.leaving = this.leave(shard);
      } else if (!(await store.tryLease(this.scope, shard.id, this.owner, settings.leaseTtlMs))) this.lost(shard);
    }
    if (this.stopped) return;
    if (Date.now() - this.listedAt >= settings.shardSyncIntervalMs) {
      this.listed = await streams.shards(this.scope.stream, signal);
      this.listedAt = Date.now();
    }
    const checkpoints = await store.checkpoints(this.scope);
    const listed = new Set(this.listed.map((shard) => shard.ShardId));
    // Children wait until every parent still in the stream was read to its end: per-key order holds across resharding.
    const finished = (id?: string) => id === undefined || !listed.has(id) || checkpoints[id] === SHARD_END;
    const readable = this.listed.filter(
      (shard) =>
        checkpoints[shard.ShardId as string] !== SHARD_END &&
        finished(shard.ParentShardId) &&
        finished(shard.AdjacentParentShardId),
    );
    const share = Math.ceil(readable.length / Math.max(1, members));
    const active = [...this.shards.values()].filter((shard) => !shard.leaving && shard.handoverUntil === undefined);
    for (const shard of active.slice(share)) {
      shard.handoverUntil = Date.now() + settings.leaseTtlMs / 2;
      shard.buffer = [];
      this.leaveIfDone(shard);
    }
    let held = Math.min(active.length, share);
    for (const { ShardId: id } of readable) {
      if (held >= share || this.stopped) return;
      if (id === undefined || this.shards.has(id)) continue;
      if (!(await store.tryLease(this.scope, id, this.owner, settings.leaseTtlMs))) continue;
      // The previous holder may have checkpointed after we looked: read again now that the lease is ours.
      const position = (await store.checkpoints(this.scope))[id] ?? this.start;
      if (position === SHARD_END || this.stopped) await store.releaseLease(this.scope, id, this.owner);
      else {
        this.addShard(id, position);
        held++;
      }
    }
  }
}
