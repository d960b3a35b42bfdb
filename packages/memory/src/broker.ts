import type { Headers } from '@eventport/core';

export interface StoredRecord {
  offset: number;
  key?: string;
  headers: Headers;
  body: Buffer;
}

export interface Lease {
  record: StoredRecord;
  deliveryCount: number;
}

/**
 * One consumer group's view of a topic log, kept like a broker keeps it: a cursor, the offsets handed
 * out and not settled, the offsets given back for redelivery, and a delivery count per offset. As
 * Pub/Sub does for ordering keys, a key with a record handed out is not handed out again until that
 * record is settled, so the members of a group see each key in log order.
 */
export class Group {
  private cursor: number;
  private readonly ready: number[] = [];
  /**
   * Records whose key is out, per key, until it is settled: kept apart from `ready` so that a backlog
   * of few keys is not rescanned on every take (that made one hot key quadratic).
   */
  private readonly parked = new Map<string, OffsetQueue>();
  private parkedCount = 0;
  private readonly inFlight = new Set<number>();
  private readonly delayed = new Set<number>();
  private readonly leasedKeys = new Set<string>();
  private readonly deliveries = new Map<number, number>();
  private readonly takers = new Set<() => void>();
  /** Open receivers: an ephemeral group goes when the last one closes. */
  members = 0;

  constructor(
    private readonly topic: TopicLog,
    fromBeginning: boolean,
  ) {
    this.cursor = fromBeginning ? topic.firstOffset : topic.nextOffset;
  }

  /** Up to `max` deliverable records, oldest first. */
  take(max: number): Lease[] {
    const leases: Lease[] = [];
    for (let index = 0; index < this.ready.length && leases.length < max; index++) {
      const record = this.topic.at(this.ready[index] as number);
      this.ready.splice(index--, 1);
      if (record && this.isLeased(record)) this.park(record);
      else if (record) leases.push(this.lease(record));
    }
    while (leases.length < max && this.cursor < this.topic.nextOffset) {
      const record = this.topic.at(this.cursor++);
      if (!record) continue;
      if (this.isLeased(record)) this.park(record);
      else leases.push(this.lease(record));
    }
    return leases;
  }

  /** Resolves when something may have become available, or when `signal` aborts. */
  waitForWork(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const wake = () => {
        this.takers.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      this.takers.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  notify(): void {
    for (const wake of [...this.takers]) wake();
  }

  ack(offset: number): void {
    if (!this.inFlight.delete(offset)) return;
    this.deliveries.delete(offset);
    this.release(offset);
  }

  /** Gives a record back for immediate redelivery, ahead of everything newer. */
  nack(offset: number): void {
    if (!this.inFlight.delete(offset)) return;
    insertSorted(this.ready, offset);
    this.release(offset);
  }

  /** Gives a record back to be redelivered after `delayMs`; its key is free meanwhile. */
  defer(offset: number, delayMs: number): void {
    if (!this.inFlight.delete(offset)) return;
    this.delayed.add(offset);
    this.release(offset);
    setTimeout(() => {
      if (!this.delayed.delete(offset)) return;
      insertSorted(this.ready, offset);
      this.notify();
    }, delayMs).unref();
  }

  /** The oldest offset this group still needs: unread, handed out, or waiting for redelivery. */
  get lowWatermark(): number {
    let low = this.cursor;
    for (const offset of this.inFlight) low = Math.min(low, offset);
    for (const offset of this.delayed) low = Math.min(low, offset);
    if (this.ready.length > 0) low = Math.min(low, this.ready[0] as number);
    for (const queue of this.parked.values()) low = Math.min(low, queue.first() ?? low);
    return low;
  }

  /** Records not handed out yet, plus those handed out and not acked: what a Kafka-style offset lag counts. */
  get lag(): number {
    const given = this.ready.length + this.parkedCount + this.delayed.size + this.inFlight.size;
    return this.topic.nextOffset - this.cursor + given;
  }

  private lease(record: StoredRecord): Lease {
    this.inFlight.add(record.offset);
    if (record.key !== undefined) this.leasedKeys.add(record.key);
    const deliveryCount = (this.deliveries.get(record.offset) ?? 0) + 1;
    this.deliveries.set(record.offset, deliveryCount);
    return { record, deliveryCount };
  }

  private isLeased(record: StoredRecord): boolean {
    return record.key !== undefined && this.leasedKeys.has(record.key);
  }

  private park(record: StoredRecord): void {
    const key = record.key as string;
    const queue = this.parked.get(key) ?? new OffsetQueue();
    this.parked.set(key, queue);
    queue.insert(record.offset);
    this.parkedCount += 1;
  }

  private release(offset: number): void {
    const key = this.topic.at(offset)?.key;
    if (key !== undefined) {
      this.leasedKeys.delete(key);
      const queue = this.parked.get(key);
      const next = queue?.shift();
      if (next !== undefined) {
        this.parkedCount -= 1;
        insertSorted(this.ready, next);
      }
      if (queue?.size === 0) this.parked.delete(key);
    }
    this.notify();
  }
}

export class TopicLog {
  private readonly records: StoredRecord[] = [];
  readonly groups = new Map<string, Group>();
  firstOffset = 0;

  get nextOffset(): number {
    return this.firstOffset + this.records.length;
  }

  at(offset: number): StoredRecord | undefined {
    return this.records[offset - this.firstOffset];
  }

  append(key: string | undefined, headers: Headers, body: Buffer): void {
    const record: StoredRecord = { offset: this.nextOffset, headers, body };
    if (key !== undefined) record.key = key;
    this.records.push(record);
  }

  /** The oldest offset any group still needs; without groups, nothing is needed. */
  get lowWatermark(): number {
    let low = this.nextOffset;
    for (const group of this.groups.values()) low = Math.min(low, group.lowWatermark);
    return low;
  }

  /** Records some group has not consumed yet. */
  get backlog(): number {
    return this.nextOffset - this.lowWatermark;
  }

  /**
   * Drops the oldest records beyond `keep`, but never one a group still needs: consumed history is
   * bounded, unconsumed records are not. Trims only once the excess reaches a tenth of `keep`:
   * removing from the front of an array costs the whole array.
   */
  trim(keep: number): void {
    const excess = Math.min(this.records.length - keep, this.lowWatermark - this.firstOffset);
    if (excess <= Math.max(1, Math.floor(keep / 10))) return;
    this.records.splice(0, excess);
    this.firstOffset += excess;
  }

  group(name: string, fromBeginning: boolean): Group {
    let group = this.groups.get(name);
    if (!group) {
      group = new Group(this, fromBeginning);
      this.groups.set(name, group);
    }
    return group;
  }

  notifyAll(): void {
    for (const group of this.groups.values()) group.notify();
  }
}

/** A process-local broker; adapters that share one see the same topics, like clients of one server. */
export class MemoryBroker {
  readonly topics = new Map<string, TopicLog>();

  topic(name: string): TopicLog {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = new TopicLog();
      this.topics.set(name, topic);
    }
    return topic;
  }

  delete(name: string): boolean {
    const topic = this.topics.get(name);
    topic?.notifyAll();
    return this.topics.delete(name);
  }
}

/** Ascending offsets taken from the front; appends are the common case (records arrive in log order). */
class OffsetQueue {
  private values: number[] = [];
  private head = 0;

  get size(): number {
    return this.values.length - this.head;
  }

  first(): number | undefined {
    return this.values[this.head];
  }

  insert(offset: number): void {
    if (this.size === 0 || offset > (this.values[this.values.length - 1] as number)) this.values.push(offset);
    else insertSorted(this.values, offset, this.head);
  }

  shift(): number | undefined {
    if (this.size === 0) return undefined;
    const offset = this.values[this.head++];
    // Drop the taken front now and then, so a long queue is neither copied per take nor kept forever.
    if (this.head >= 1_024 && this.head * 2 >= this.values.length) {
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
    return offset;
  }
}

function insertSorted(values: number[], value: number, from = 0): void {
  let low = from;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((values[middle] as number) < value) low = middle + 1;
    else high = middle;
  }
  values.splice(low, 0, value);
}
