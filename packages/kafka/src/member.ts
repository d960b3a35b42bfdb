import {
  abortable,
  type ConsumerLag,
  cloudEventsHeaders,
  describeError,
  type Headers,
  type IncomingRecord,
  type Logger,
  OffsetLog,
  PushBuffer,
  pause,
  type Receiver,
} from '@eventport/core';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { ResolvedKafkaOptions } from './options.js';

/** The Kafka binding of CloudEvents names its attribute headers ce_id, ce_type...; older eventport wrote ce-id. */
export const KAFKA_CLOUDEVENTS = cloudEventsHeaders('ce_');

export interface KafkaRecord extends IncomingRecord {
  partition: number;
  offset: string;
  /** The group generation it was fetched in: after a rejoin kafkajs fetches again from the last commit. */
  generation: number;
}

export interface MemberSettings {
  topic: string;
  groupId: string;
  fromBeginning: boolean;
  /** Commits nothing to the broker (core deletes the group once its members are closed). */
  ephemeral: boolean;
  concurrency: number;
  admin: () => Promise<Admin>;
  logger: Logger;
  /** Called once the member stopped, so the next openReceiver starts a new one. */
  onEnd: () => void;
}

/**
 * One kafkajs consumer, one member of the group, shared by the receivers a driver opens on that
 * group and topic (10 members joining at once stall the mock's coordinator, and every join
 * rebalances the whole group). eachBatch pushes each batch into a PushBuffer and waits, heartbeating,
 * until core took it, so kafkajs fetches no further than core consumes. Each partition has an
 * OffsetLog: acks commit the settled prefix (offset + 1), a nack hands that record out again before
 * anything new. kafkajs restarts every partition from its committed offset after a rejoin, so a group
 * join resets every log and the records of the previous generation still queued are dropped.
 * An ephemeral group commits nothing to the broker: its offsets stay in this process.
 */
export class GroupMember {
  readonly ready: Promise<void>;
  private readonly consumer: Consumer;
  private readonly buffer = new PushBuffer<KafkaRecord>();
  private logs = new Map<number, OffsetLog<KafkaRecord>>();
  private readonly waiting = new Set<() => void>();
  /** An ephemeral group's committed offsets, by partition: kept here, never on the broker. */
  private readonly positions = new Map<number, string>();
  private generation = 0;
  private receivers = 0;
  /** Partitions of the last join whose start offsets are still to be made to exist on the broker. */
  private unpinned: number[] | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    private readonly options: ResolvedKafkaOptions,
    private readonly settings: MemberSettings,
  ) {
    const { topic, groupId, fromBeginning, concurrency, logger } = settings;
    const { sessionTimeout, heartbeatInterval, rebalanceTimeout, retries } = options;
    const consumer = kafka.consumer({
      ...{ groupId, sessionTimeout, heartbeatInterval, rebalanceTimeout, maxWaitTimeInMs: 1_000 },
      allowAutoTopicCreation: true,
      // Patient (a consumer out of retries crashes), and never restarted by kafkajs: core replaces the receiver.
      retry: {
        retries: Math.max(retries, 5),
        initialRetryTime: 300,
        maxRetryTime: 5_000,
        restartOnFailure: async () => false,
      },
    });
    this.consumer = consumer;
    const started: { resolve?: () => void; reject?: (error: unknown) => void } = {};
    this.ready = new Promise<void>((resolve, reject) => Object.assign(started, { resolve, reject }));
    const { resolve, reject } = started as Required<typeof started>;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      // kafkajs's disconnect() does not stop a join in progress: stop the member now.
      if (this.closing) return void consumer.disconnect().catch(() => undefined);
      this.generation += 1;
      const assigned = payload.memberAssignment[topic] ?? [];
      for (const log of this.logs.values()) log.reset();
      this.logs = new Map(assigned.map((partition) => [partition, this.newLog(partition)]));
      this.unpinned = fromBeginning ? [] : assigned;
      // kafkajs restarts a partition without a broker commit from the earliest or latest offset.
      for (const partition of assigned) {
        const offset = this.positions.get(partition);
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
      if (assigned.length === 0) resolve();
    });
    // The first fetch after a join: kafkajs is running (a commit before that is silently dropped) and
    // has resolved its start offsets. The first join's pin decides when openReceiver resolves.
    consumer.on(consumer.events.FETCH, () => {
      const assigned = this.unpinned;
      this.unpinned = undefined;
      if (assigned === undefined) return;
      const pinned = assigned.length === 0 ? Promise.resolve() : this.pin(assigned);
      pinned.then(resolve, (error: unknown) => {
        reject(error);
        logger.warn('kafka: start offsets not committed', this.fields(error));
      });
    });
    // kafkajs gave up on this member and left the group: receive throws, core opens a new receiver.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      reject(payload.error);
      this.buffer.fail(payload.error);
      this.wakeAll();
      settings.onEnd();
    });
    (async () => {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, Math.min(concurrency, 16)),
        eachBatch: (batch) => this.onBatch(batch),
      });
    })().catch(reject);
    // A member that never got going leaves at once (not awaited: a silent broker must not hold up the failure).
    this.ready.catch(() => this.close().catch(() => undefined));
  }

  /** A receiver for one subscription; the member leaves the group when its last receiver closes. */
  attach(): Receiver<KafkaRecord> {
    this.receivers += 1;
    let closed = false;
    return {
      receive: async (max, signal) => (closed ? [] : this.receive(max, signal)),
      settle: async (acks, nacks) => this.settle(acks, nacks),
      lag: (signal) => abortable(this.lag(), signal),
      close: async () => {
        if (closed) return;
        closed = true;
        this.receivers -= 1;
        if (this.receivers === 0) await this.close();
      },
    };
  }

  private async receive(max: number, signal: AbortSignal): Promise<KafkaRecord[]> {
    while (!signal.aborted && !this.closing) {
      const again: KafkaRecord[] = [];
      for (const log of this.logs.values()) again.push(...log.takeRedeliveries(max - again.length));
      if (again.length > 0) return again;
      // Woken by a push or a nack (receivers share the buffer, which wakes one reader).
      const wake = new AbortController();
      const stop = () => wake.abort();
      signal.addEventListener('abort', stop, { once: true });
      this.waiting.add(stop);
      try {
        const taken = await this.buffer.receive(max, wake.signal);
        const fresh = taken.filter((record) => record.generation === this.generation);
        if (fresh.length > 0) return fresh;
      } finally {
        signal.removeEventListener('abort', stop);
        this.waiting.delete(stop);
      }
    }
    return [];
  }

  private settle(acks: readonly KafkaRecord[], nacks: readonly KafkaRecord[]): void {
    for (const record of acks) this.logs.get(record.partition)?.ack(record);
    for (const record of nacks) this.logs.get(record.partition)?.nack(record);
    if (nacks.length > 0) this.wakeAll();
  }

  private close(): Promise<void> {
    this.closing ??= (async () => {
      this.settings.onEnd();
      this.buffer.end();
      this.wakeAll();
      await Promise.all([...this.logs.values()].map((log) => log.flush()));
      await this.consumer.disconnect();
    })();
    return this.closing;
  }

  private wakeAll(): void {
    for (const wake of this.waiting) wake();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { generation } = this;
    const halted = () => this.closing !== undefined || generation !== this.generation || !isRunning() || isStale();
    const last = batch.messages[batch.messages.length - 1];
    const log = this.logs.get(batch.partition);
    if (last === undefined || log === undefined || halted()) return;
    const records = batch.messages.map((message) => this.toRecord(batch.partition, message, generation));
    for (const record of records) log.track(record);
    let taken = false;
    const pushed = this.buffer.push(...records).then(() => {
      taken = true;
    });
    this.wakeAll();
    const tick = new AbortController();
    try {
      while (!taken) {
        await Promise.race([pushed, pause(this.options.heartbeatInterval, tick.signal)]);
        // No longer ours: what is still queued is dropped as stale, the next owner reads it again.
        if (!taken && halted()) return;
        // A heartbeat that reports a rebalance throws: kafkajs rejoins the group.
        if (!taken) await heartbeat();
      }
    } finally {
      tick.abort();
    }
    if (!halted()) resolveOffset(last.offset);
  }

  /** Records the group has not been given yet or not committed, summed over every partition. */
  private async lag(): Promise<ConsumerLag> {
    const admin = await this.settings.admin();
    const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(this.settings.topic), this.committed(admin)]);
    let messages = 0;
    for (const { partition, high, low } of ends) {
      messages += Number(high) - Math.max(Number(low), Number(committed.get(partition) ?? low));
    }
    return { messages };
  }

  private committed(admin: Admin): Promise<Map<number, string>> {
    const { topic, groupId, ephemeral } = this.settings;
    return ephemeral ? Promise.resolve(this.positions) : committedOffsets(admin, groupId, topic);
  }

  private async commit(offsets: { partition: number; offset: string }[]): Promise<void> {
    if (!this.settings.ephemeral) {
      return this.consumer.commitOffsets(offsets.map((offset) => ({ topic: this.settings.topic, ...offset })));
    }
    for (const { partition, offset } of offsets) this.positions.set(partition, offset);
  }

  private newLog(partition: number): OffsetLog<KafkaRecord> {
    const { logger } = this.settings;
    return new OffsetLog<KafkaRecord>(
      (record) => this.commit([{ partition, offset: (BigInt(record.offset) + 1n).toString() }]),
      // Not lost: a later commit covers it, or the partition's next owner reads it again.
      (error) => logger.warn('kafka: offset commit failed', this.fields(error)),
    );
  }

  /**
   * Kafka resolves a group without a committed offset to "latest" at each assignment, so a record
   * published between two rebalances of a young group could be skipped. Committing the current end
   * for such partitions makes the group's position exist: what is sent after openReceiver is kept.
   * An ephemeral group keeps that position in this process, where a rejoin seeks to it.
   */
  private async pin(assigned: number[]): Promise<void> {
    const admin = await this.settings.admin();
    const committed = await this.committed(admin);
    const unset = new Set(assigned.filter((partition) => !committed.has(partition)));
    if (unset.size === 0) return;
    const ends = await admin.fetchTopicOffsets(this.settings.topic);
    const offsets = ends.filter(({ partition }) => unset.has(partition));
    await this.commit(offsets.map(({ partition, high }) => ({ partition, offset: high })));
  }

  private toRecord(partition: number, message: KafkaMessage, generation: number): KafkaRecord {
    const { topic } = this.settings;
    const headers: Headers = {};
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      const last = Array.isArray(value) ? value[value.length - 1] : value;
      if (last !== undefined) headers[name] = last.toString();
    }
    const record: KafkaRecord = {
      id: `${topic}:${partition}:${message.offset}`,
      partition,
      offset: message.offset,
      generation,
      headers: KAFKA_CLOUDEVENTS.fromWire(headers),
      body: message.value ?? Buffer.alloc(0),
      meta: { topic, partition, offset: message.offset, timestamp: message.timestamp },
    };
    if (message.key) record.key = message.key.toString();
    return record;
  }

  private fields(error: unknown): Record<string, unknown> {
    return { topic: this.settings.topic, groupId: this.settings.groupId, error: describeError(error) };
  }
}

/** The offsets `groupId` committed on `topic`, by partition (partitions without one are absent). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, string>> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const partitions = (committed?.partitions ?? []).filter(({ offset }) => Number(offset) >= 0);
  return new Map(partitions.map(({ partition, offset }) => [partition, offset]));
}
