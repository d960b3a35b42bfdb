import {
  backoffDelay,
  type DriverSubscribeOptions,
  type DriverSubscription,
  EventportError,
  type Headers,
  type IncomingRecord,
  OffsetTracker,
  pause,
  type RecordSink,
} from '@eventport/core';
import type { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { ResolvedKafkaOptions } from './options.js';

interface Gate {
  readonly offset: string;
  readonly opened: Promise<void>;
  open(): void;
}

/**
 * What this member knows about one assigned partition during one group generation. A rebalance
 * retires it (`retired`): acks of its records no longer move the group's offset, and the partition's
 * next owner (maybe this member again) re-reads everything after the last commit.
 */
class PartitionState {
  readonly tracker = new OffsetTracker<string>();
  /** The latest delivered-but-unacked record per key: a later record with that key waits for it. */
  readonly gates = new Map<string, Gate>();
  readonly redeliveries = new Set<NodeJS.Timeout>();
  retired = false;

  constructor(readonly partition: number) {}

  retire(): void {
    this.retired = true;
    for (const timer of this.redeliveries) clearTimeout(timer);
    this.redeliveries.clear();
    for (const gate of this.gates.values()) gate.open();
    this.gates.clear();
  }
}

export interface SubscriptionContext {
  kafka: Kafka;
  admin: () => Promise<Admin>;
  options: ResolvedKafkaOptions;
}

/** One subscribe() call attached to a GroupMember: a sink and its error hook. */
interface Attached {
  readonly sink: RecordSink;
  readonly onError: (error: unknown) => void;
  stopped: boolean;
}

/**
 * One Kafka consumer-group member on one topic, shared by every subscription of this adapter to
 * the same group and topic: competing subscriptions in one process split the records between
 * them (round robin) instead of each joining the group, which would rebalance the whole group per
 * subscribe() and close(). Separate processes are separate members.
 *
 * Delivery: eachBatch without auto-resolve or auto-commit. Each record goes to the sink (awaited,
 * which is the backpressure) and its offset is resolved so the next fetch moves on; the group's
 * committed offset only follows the prefix of records whose handler settled (OffsetTracker), so
 * acks out of order never commit past an unfinished record.
 *
 * Order: a record waits until the previous record with the same key in its partition was acked. A
 * nack redelivers the record itself after the delay (it keeps blocking its key meanwhile), so a
 * failed record is handled again before any later record with its key, and nothing after it is
 * committed until it succeeds. Records with other keys keep flowing.
 */
export class GroupMember {
  readonly groupId: string;
  private readonly consumer: Consumer;
  private readonly attached: Attached[] = [];
  private nextSink = 0;
  private started: Promise<void> | undefined;
  private partitions = new Map<number, PartitionState>();
  private readonly batches = new Set<Promise<void>>();
  private readonly pendingCommits = new Map<number, { state: PartitionState; offset: string }>();
  private committing: Promise<void> | undefined;
  private readonly removeListeners: Array<() => void> = [];
  private joins: Promise<void> = Promise.resolve();
  private stopped = false;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly context: SubscriptionContext,
    private readonly topic: string,
    private readonly subscribeOptions: Pick<DriverSubscribeOptions, 'group' | 'fromBeginning' | 'maxInFlight'>,
    /** Called once this member stops taking subscriptions, so the next subscribe() builds a new one. */
    private readonly onRetired: () => void,
  ) {
    const { options } = context;
    this.groupId = options.consumerGroupId(subscribeOptions.group, topic);
    this.consumer = context.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: options.sessionTimeout,
      heartbeatInterval: options.heartbeatInterval,
      rebalanceTimeout: options.rebalanceTimeout,
      allowAutoTopicCreation: true,
      maxWaitTimeInMs: 1_000,
      // A consumer that ran out of retries restarts and rejoins: a broker that went away and came
      // back must not leave a subscription silently dead.
      retry: { retries: Math.max(options.retries, 5), restartOnFailure: async () => this.closed === undefined },
    });
  }

  /** Whether subscribe() may still attach to this member. */
  get accepting(): boolean {
    return !this.stopped;
  }

  /** Adds a subscription; resolves once the member joined the group, got its partitions and knows its start offsets. */
  async attach(sink: RecordSink, onError: (error: unknown) => void): Promise<DriverSubscription> {
    const entry: Attached = { sink, onError, stopped: false };
    this.attached.push(entry);
    try {
      this.started ??= this.start();
      await this.started;
    } catch (error) {
      await this.detach(entry);
      throw error;
    }
    return {
      stop: async () => {
        entry.stopped = true;
        if (this.attached.every((each) => each.stopped)) await this.stop();
      },
      close: () => this.detach(entry),
    };
  }

  private async detach(entry: Attached): Promise<void> {
    entry.stopped = true;
    const index = this.attached.indexOf(entry);
    if (index >= 0) this.attached.splice(index, 1);
    if (this.attached.length === 0) await this.close();
    else await this.flushCommits();
  }

  private reportError(error: unknown): void {
    const live = this.attached.filter((each) => !each.stopped);
    for (const each of live.length > 0 ? live : this.attached.slice(0, 1)) each.onError(error);
  }

  /** Round robin over the subscriptions still taking records. */
  private pickSink(): RecordSink | undefined {
    const live = this.attached.filter((each) => !each.stopped);
    if (live.length === 0) return undefined;
    this.nextSink = (this.nextSink + 1) % live.length;
    return live[this.nextSink]?.sink;
  }

  private async start(): Promise<void> {
    const { events } = this.consumer;
    let joinedOnce: (() => void) | undefined;
    const joined = new Promise<void>((resolve) => {
      joinedOnce = resolve;
    });
    let fetchedAfterJoin: (() => void) | undefined;
    const fetched = new Promise<void>((resolve) => {
      fetchedAfterJoin = resolve;
    });
    let hasJoined = false;
    this.removeListeners.push(
      this.consumer.on(events.GROUP_JOIN, ({ payload }) => {
        const assigned = payload.memberAssignment[this.topic] ?? [];
        this.onAssignment(assigned);
        if (!hasJoined) {
          hasJoined = true;
          // With no partitions there is no start offset to wait for.
          if (assigned.length === 0) fetchedAfterJoin?.();
          this.joins.then(() => joinedOnce?.());
        }
      }),
      this.consumer.on(events.FETCH, () => {
        if (hasJoined) fetchedAfterJoin?.();
      }),
      this.consumer.on(events.REBALANCING, () => this.retireAll()),
      this.consumer.on(events.CRASH, ({ payload }) => {
        this.retireAll();
        this.reportError(
          new EventportError(
            'CONNECTION',
            `kafka consumer of "${this.topic}" (group "${this.groupId}") crashed; restarting`,
            {
              cause: payload.error,
            },
          ),
        );
        if (!payload.restart) void this.restartAfterCrash();
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new EventportError(
              'TIMEOUT',
              `kafka consumer of "${this.topic}" did not join group "${this.groupId}" within ${this.context.options.subscribeTimeoutMs} ms`,
            ),
          ),
        this.context.options.subscribeTimeoutMs,
      );
    });
    try {
      await Promise.race([
        (async () => {
          await this.runConsumer();
          await Promise.all([joined, fetched]);
        })(),
        timeout,
      ]);
    } catch (error) {
      await this.close().catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async runConsumer(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: this.subscribeOptions.fromBeginning });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(this.subscribeOptions.maxInFlight, 16)),
      eachBatch: (payload) => this.track(this.onBatch(payload)),
    });
  }

  /**
   * kafkajs restarts a crashed consumer only after retriable errors. A broker that answers a join
   * with an error kafkajs deems fatal (seen: SyncGroup on a busy coordinator) must not leave the
   * subscription silently dead either, so it is started again with backoff until it runs or closes.
   */
  private async restartAfterCrash(): Promise<void> {
    for (let attempt = 1; this.closed === undefined && !this.stopped; attempt++) {
      await pause(backoffDelay(attempt, 500, 10_000));
      if (this.closed !== undefined || this.stopped) return;
      try {
        await this.consumer.disconnect();
        await this.runConsumer();
        return;
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  private async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.onRetired();
    try {
      this.consumer.pause([{ topic: this.topic }]);
    } catch {
      // Not running yet (start() failed before consumer.run): there is nothing to pause.
    }
    for (const state of this.partitions.values()) {
      for (const timer of state.redeliveries) clearTimeout(timer);
      state.redeliveries.clear();
      for (const gate of state.gates.values()) gate.open();
    }
    await Promise.allSettled([...this.batches]);
  }

  private close(): Promise<void> {
    this.closed ??= (async () => {
      await this.stop();
      await this.flushCommits();
      for (const remove of this.removeListeners.splice(0)) remove();
      await this.consumer.disconnect();
    })();
    return this.closed;
  }

  private track(batch: Promise<void>): Promise<void> {
    this.batches.add(batch);
    return batch.finally(() => this.batches.delete(batch));
  }

  private onAssignment(assigned: number[]): void {
    this.retireAll();
    const next = new Map<number, PartitionState>();
    for (const partition of assigned) next.set(partition, new PartitionState(partition));
    this.partitions = next;
    if (!this.subscribeOptions.fromBeginning && assigned.length > 0) {
      this.joins = this.joins.then(() => this.pinStartOffsets(assigned)).catch((error) => this.reportError(error));
    }
  }

  private retireAll(): void {
    for (const state of this.partitions.values()) state.retire();
  }

  /**
   * Kafka resolves a group without a committed offset to "latest" each time a partition is
   * assigned, so a record published between two rebalances of a young group could be skipped.
   * Committing the current end for such partitions right after joining makes the group's position
   * exist on the broker: everything published after subscribe() resolved is delivered.
   */
  private async pinStartOffsets(assigned: number[]): Promise<void> {
    const admin = await this.context.admin();
    const [committed] = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] });
    const unset = new Set(
      (committed?.partitions ?? [])
        .filter(({ partition, offset }) => assigned.includes(partition) && Number(offset) < 0)
        .map(({ partition }) => partition),
    );
    if (unset.size === 0) return;
    const ends = await admin.fetchTopicOffsets(this.topic);
    await this.consumer.commitOffsets(
      ends
        .filter(({ partition }) => unset.has(partition))
        .map(({ partition, high }) => ({ topic: this.topic, partition, offset: high })),
    );
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const state = this.partitions.get(batch.partition);
    if (!state) return;
    const alive = new Heartbeat(heartbeat, this.context.options.heartbeatInterval);
    const halted = () => this.stopped || state.retired || alive.failed || !isRunning() || isStale();
    try {
      for (const message of batch.messages) {
        const key = message.key === null ? undefined : message.key.toString('utf8');
        if (key !== undefined) {
          for (let gate = state.gates.get(key); gate && !halted(); gate = state.gates.get(key)) {
            await Promise.race([gate.opened, alive.broken]);
          }
        }
        const sink = halted() ? undefined : this.pickSink();
        if (!sink) break;
        state.tracker.track(message.offset);
        if (key !== undefined) state.gates.set(key, openable(message.offset));
        resolveOffset(message.offset);
        await sink(this.toRecord(state, message, key, 1));
      }
    } finally {
      alive.end();
    }
    alive.rethrow();
  }

  private toRecord(
    state: PartitionState,
    message: KafkaMessage,
    key: string | undefined,
    attempt: number,
  ): IncomingRecord {
    let settled = false;
    const once = (settle: () => void) => async () => {
      if (settled) return;
      settled = true;
      settle();
    };
    const record: IncomingRecord = {
      headers: decodeHeaders(message.headers),
      body: message.value ?? Buffer.alloc(0),
      attempt,
      meta: { topic: this.topic, partition: state.partition, offset: message.offset, timestamp: message.timestamp },
      ack: once(() => this.acked(state, message.offset, key)),
      nack: (delayMs: number) => once(() => this.nacked(state, message, key, attempt, delayMs))(),
    };
    if (key !== undefined) record.key = key;
    return record;
  }

  private acked(state: PartitionState, offset: string, key: string | undefined): void {
    if (key !== undefined) {
      const gate = state.gates.get(key);
      if (gate?.offset === offset) {
        state.gates.delete(key);
        gate.open();
      }
    }
    if (state.retired) return;
    const committable = state.tracker.settle(offset);
    if (committable !== undefined) this.scheduleCommit(state, (BigInt(committable) + 1n).toString());
  }

  /** Redelivers the record itself later; its key stays blocked and its offset uncommitted until it is acked. */
  private nacked(
    state: PartitionState,
    message: KafkaMessage,
    key: string | undefined,
    attempt: number,
    delayMs: number,
  ): void {
    if (this.stopped || state.retired) return;
    const timer = setTimeout(() => {
      state.redeliveries.delete(timer);
      // A subscription that stopped meanwhile hands the record to another one of this member.
      const sink = this.pickSink();
      if (this.stopped || state.retired || !sink) return;
      sink(this.toRecord(state, message, key, attempt + 1)).catch((error: unknown) => this.reportError(error));
    }, delayMs);
    state.redeliveries.add(timer);
  }

  private scheduleCommit(state: PartitionState, offset: string): void {
    this.pendingCommits.set(state.partition, { state, offset });
    this.committing ??= this.commitLoop().finally(() => {
      this.committing = undefined;
    });
  }

  /** One commit request at a time, carrying the newest settled offset of every partition that moved. */
  private async commitLoop(): Promise<void> {
    while (this.pendingCommits.size > 0) {
      const due = [...this.pendingCommits.values()].filter(({ state }) => !state.retired);
      this.pendingCommits.clear();
      if (due.length === 0) continue;
      try {
        await this.consumer.commitOffsets(
          due.map(({ state, offset }) => ({ topic: this.topic, partition: state.partition, offset })),
        );
      } catch (error) {
        // The records stay uncommitted: at worst they are delivered again after a rebalance.
        this.reportError(new EventportError('CONNECTION', `offset commit on "${this.topic}" failed`, { cause: error }));
      }
    }
  }

  private async flushCommits(): Promise<void> {
    while (this.committing) await this.committing;
  }
}

/** Keeps the group membership alive while a batch waits for the portable layer or a key gate. */
class Heartbeat {
  private failure: unknown;
  private readonly timer: NodeJS.Timeout;
  private onBroken: () => void = () => undefined;
  /** Resolves when a heartbeat failed, so a batch stops waiting and hands the error to kafkajs. */
  readonly broken = new Promise<void>((resolve) => {
    this.onBroken = resolve;
  });

  constructor(heartbeat: () => Promise<void>, intervalMs: number) {
    this.timer = setInterval(() => {
      heartbeat().catch((error: unknown) => {
        this.failure ??= error;
        this.onBroken();
      });
    }, intervalMs);
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  end(): void {
    clearInterval(this.timer);
  }

  /** A heartbeat that reported a rebalance goes back to kafkajs, which rejoins the group. */
  rethrow(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

function openable(offset: string): Gate {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { offset, opened, open };
}

function decodeHeaders(headers: IHeaders | undefined): Headers {
  const decoded: Headers = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    decoded[name] = last === undefined ? '' : Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
  }
  return decoded;
}
