import {
  describeError,
  type Headers,
  type IncomingRecord,
  type Logger,
  OffsetLog,
  PushBuffer,
  pause,
  type Receiver,
} from '@eventport/core';
import type { Admin, Consumer, ConsumerConfig, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';

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
  concurrency: number;
  heartbeatInterval: number;
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
 */
export class GroupMember {
  readonly ready: Promise<void>;
  private readonly consumer: Consumer;
  private readonly buffer = new PushBuffer<KafkaRecord>();
  private readonly logs = new Map<number, OffsetLog<KafkaRecord>>();
  private readonly waiting = new Set<() => void>();
  private generation = 0;
  private receivers = 0;
  private pinning: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    config: ConsumerConfig,
    private readonly settings: MemberSettings,
  ) {
    const { topic, fromBeginning, concurrency, logger } = settings;
    // kafkajs would restart a crashed consumer itself; core replaces the receiver instead (one backoff policy).
    const consumer = kafka.consumer({ ...config, retry: { ...config.retry, restartOnFailure: async () => false } });
    this.consumer = consumer;
    let started: { resolve: () => void; reject: (error: unknown) => void } | undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      started = { resolve, reject };
    });
    this.ready.catch(() => undefined);
    const { resolve, reject } = started as NonNullable<typeof started>;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      // kafkajs's disconnect() does not stop a join in progress: stop the member now.
      if (this.closing) return void consumer.disconnect().catch(() => undefined);
      this.generation += 1;
      for (const log of this.logs.values()) log.reset();
      const assigned = payload.memberAssignment[topic] ?? [];
      const pinned = fromBeginning || assigned.length === 0 ? Promise.resolve() : this.pin(assigned);
      pinned.catch((error: unknown) => logger.warn('kafka: start offsets not committed', this.fields(error)));
      this.pinning ??= pinned;
      if (assigned.length === 0) pinned.then(resolve, reject);
    });
    // The first fetch after the join: kafkajs knows its start offsets.
    consumer.on(consumer.events.FETCH, () => this.pinning?.then(resolve, reject));
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
    this.ready.catch(() => this.close().catch(() => undefined));
  }

  /** A receiver for one subscription; the member leaves the group when its last receiver closes. */
  attach(): Receiver<KafkaRecord> {
    this.receivers += 1;
    let closed = false;
    return {
      receive: async (max, signal) => (closed ? [] : this.receive(max, signal)),
      settle: async (acks, nacks) => this.settle(acks, nacks),
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
    if (last === undefined || halted()) return;
    const log = this.logFor(batch.partition);
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
        await Promise.race([pushed, pause(this.settings.heartbeatInterval, tick.signal)]);
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

  private logFor(partition: number): OffsetLog<KafkaRecord> {
    const { topic, logger } = this.settings;
    let log = this.logs.get(partition);
    if (!log) {
      log = new OffsetLog<KafkaRecord>(
        (record) =>
          this.consumer.commitOffsets([{ topic, partition, offset: (BigInt(record.offset) + 1n).toString() }]),
        // Not lost: a later commit covers it, or the partition's next owner reads it again.
        (error) => logger.warn('kafka: offset commit failed', this.fields(error)),
      );
      this.logs.set(partition, log);
    }
    return log;
  }

  /**
   * Kafka resolves a group without a committed offset to "latest" at each assignment, so a record
   * published between two rebalances of a young group could be skipped. Committing the current end
   * for such partitions makes the group's position exist: what is sent after openReceiver is kept.
   */
  private async pin(assigned: number[]): Promise<void> {
    const { topic, groupId } = this.settings;
    const admin = await this.settings.admin();
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const unset = new Set(
      (committed?.partitions ?? [])
        .filter(({ partition, offset }) => assigned.includes(partition) && Number(offset) < 0)
        .map(({ partition }) => partition),
    );
    if (unset.size === 0) return;
    const ends = await admin.fetchTopicOffsets(topic);
    const offsets = ends.filter(({ partition }) => unset.has(partition));
    await this.consumer.commitOffsets(offsets.map(({ partition, high }) => ({ topic, partition, offset: high })));
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
      headers,
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
