import type { Headers } from '@eventport/core';

export interface StoredRecord {
  offset: number;
  key?: string;
  headers: Headers;
  body: Buffer;
}

export interface Lease {
  record: StoredRecord;
  attempt: number;
}

/**
 * One consumer group's view of a topic log: a cursor, the offsets handed out and not settled, and
 * the offsets given back for redelivery. A key with a record in flight (or waiting to be redelivered)
 * is blocked, so records of one key are delivered one at a time and in log order, even across
 * failures.
 */
export class Group {
  private cursor: number;
  private readonly ready: number[] = [];
  private readonly inFlight = new Set<number>();
  private readonly blockedKeys = new Map<string, number>();
  private readonly deliveries = new Map<number, number>();
  private readonly takers: Array<() => void> = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly topic: TopicLog,
    fromBeginning: boolean,
  ) {
    this.cursor = fromBeginning ? topic.firstOffset : topic.nextOffset;
  }

  /** Next deliverable record, or undefined when nothing is available right now. */
  tryTake(): Lease | undefined {
    for (let index = 0; index < this.ready.length; index++) {
      const offset = this.ready[index] as number;
      const record = this.topic.at(offset);
      if (!record) {
        this.ready.splice(index--, 1);
        continue;
      }
      if (this.isBlocked(record)) continue;
      this.ready.splice(index, 1);
      return this.lease(record);
    }
    while (this.cursor < this.topic.nextOffset) {
      const record = this.topic.at(this.cursor++);
      if (!record) continue;
      if (this.isBlocked(record)) {
        this.ready.push(record.offset);
        continue;
      }
      return this.lease(record);
    }
    return undefined;
  }

  /** Resolves when something may have become available. */
  waitForWork(): Promise<void> {
    return new Promise((resolve) => this.takers.push(resolve));
  }

  notify(): void {
    for (const wake of this.takers.splice(0)) wake();
  }

  ack(offset: number): void {
    if (!this.inFlight.delete(offset)) return;
    this.deliveries.delete(offset);
    this.unblock(offset);
  }

  /** Gives a record back; its key stays blocked until it is ready again, so nothing of that key overtakes it. */
  nack(offset: number, delayMs: number): void {
    if (!this.inFlight.delete(offset)) return;
    const requeue = () => {
      insertSorted(this.ready, offset);
      this.unblock(offset);
    };
    if (delayMs <= 0) {
      requeue();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      requeue();
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.notify();
  }

  private lease(record: StoredRecord): Lease {
    this.inFlight.add(record.offset);
    if (record.key !== undefined) this.blockedKeys.set(record.key, record.offset);
    const attempt = (this.deliveries.get(record.offset) ?? 0) + 1;
    this.deliveries.set(record.offset, attempt);
    return { record, attempt };
  }

  private isBlocked(record: StoredRecord): boolean {
    return record.key !== undefined && this.blockedKeys.has(record.key);
  }

  private unblock(offset: number): void {
    const record = this.topic.at(offset);
    if (record?.key !== undefined && this.blockedKeys.get(record.key) === offset) this.blockedKeys.delete(record.key);
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

  /**
   * Drops the oldest records beyond `limit`; groups that had not read them skip ahead. Trims only
   * once the excess reaches a tenth of the limit: removing from the front of an array costs the whole
   * array, so doing it on every send would make publishing O(retained).
   */
  trim(limit: number): void {
    const excess = this.records.length - limit;
    if (excess <= Math.max(1, Math.floor(limit / 10))) return;
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

  dispose(): void {
    for (const group of this.groups.values()) group.dispose();
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
    topic?.dispose();
    return this.topics.delete(name);
  }
}

function insertSorted(values: number[], value: number): void {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((values[middle] as number) < value) low = middle + 1;
    else high = middle;
  }
  values.splice(low, 0, value);
}
