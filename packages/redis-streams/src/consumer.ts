import type { DriverSubscription, IncomingRecord, RecordSink } from '@eventport/core';
import type Redis from 'ioredis';
import { compareIds, decodeEntry, type OwnedEntry, parseEntries, type RawEntry } from './entries.js';
import { classifyRedisError, isGroupGoneError } from './errors.js';
import { Signal } from './signal.js';

export interface GroupConsumerSettings {
  /** Shared command connection: acks, claims, group admin. */
  client: Redis;
  /** This subscription's own connection, for the blocking XREADGROUP. */
  reader: Redis;
  stream: string;
  group: string;
  consumer: string;
  fromBeginning: boolean;
  maxInFlight: number;
  claimIdleMs: number;
  claimIntervalMs: number;
  blockMs: number;
  sink: RecordSink;
  onError(error: unknown): void;
  /** Called once the subscription has released everything it owned. */
  onClosed(): void;
}

/** XCLAIM ... TIME 1: "delivered at the epoch", so any member's next claim sweep takes the entry at once. */
const LONG_AGO = '1';
const MAX_BACKOFF_MS = 5_000;

/**
 * One member of a consumer group on one stream. Entries it owns (delivered to it, in the group's
 * pending list) are either waiting to be handed to the sink, in flight in a handler, or nacked and
 * waiting for their redelivery delay. A key held by an entry in flight or waiting for redelivery
 * blocks every other entry of that key, so within this member records of a key are handed out one at
 * a time and in stream order, even across nacks.
 *
 * Sources of entries: new ones (XREADGROUP >, on the dedicated reader connection), its own nacked ones
 * (XCLAIM to itself after the delay, which bumps the delivery count), and entries other members left
 * idle longer than claimIdleMs (XAUTOCLAIM) — how a crashed member's messages come back. A live member
 * keeps refreshing the idle time of what it holds, so only a dead (or frozen) member's entries go idle.
 */
export class GroupConsumer implements DriverSubscription {
  private stopped = false;
  private readonly changed = new Signal();
  private readonly stopping = new Signal();
  private readonly waiting: OwnedEntry[] = [];
  private readonly unsettled = new Map<string, OwnedEntry>();
  /** Acks collected in this event-loop turn, sent together by `acknowledge`. */
  private pendingAcks: { ids: string[]; sent: Promise<void> } | undefined;
  private readonly delayed = new Map<string, { entry: OwnedEntry; timer: NodeJS.Timeout }>();
  private readonly keyHolders = new Map<string, string>();
  private readonly background = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private keepTimer: NodeJS.Timeout | undefined;
  private sweepCursor = '0-0';
  private sweeping = false;
  private readerId: number | undefined;
  /** False once Redis refused CLIENT ID to this user: closing then waits out the block instead. */
  private mayUnblock = true;
  private pumping: Promise<void> = Promise.resolve();
  private reading: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(private readonly settings: GroupConsumerSettings) {
    // A reconnected reader has a new client id; until it is known again, closing waits out the block.
    settings.reader.on('close', () => {
      this.readerId = undefined;
    });
  }

  /** Resolves once the group exists, so anything published afterwards is kept for it. */
  async start(): Promise<void> {
    await this.learnReaderId();
    await this.ensureGroup(this.settings.fromBeginning ? '0' : '$');
    await this.recoverOwnPending();
    this.pumping = this.pump();
    this.reading = this.read();
    this.sweepTimer = setInterval(() => this.inBackground(() => this.sweep()), this.settings.claimIntervalMs);
    this.sweepTimer.unref();
    this.keepTimer = setInterval(
      () => this.inBackground(() => this.keepOwned()),
      Math.max(1, Math.floor(this.settings.claimIdleMs / 3)),
    );
    this.keepTimer.unref();
    this.inBackground(() => this.sweep());
  }

  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      clearInterval(this.sweepTimer);
      clearInterval(this.keepTimer);
      for (const { timer } of this.delayed.values()) clearTimeout(timer);
      this.changed.notify();
      this.stopping.notify();
      this.unblockReader();
    }
    await this.pumping;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const { onError } = this.settings;
    try {
      await this.stop();
      await this.readerFinished();
      while (this.background.size > 0) await Promise.allSettled([...this.background]);
      const leftovers = [
        ...this.waiting.map((entry) => entry.id),
        ...this.delayed.keys(),
        // Handlers that outlived the drain timeout: the group gets their messages again.
        ...this.unsettled.keys(),
      ];
      this.waiting.length = 0;
      this.delayed.clear();
      this.unsettled.clear();
      this.keyHolders.clear();
      if (leftovers.length > 0) await this.giveBack(leftovers);
      else await this.forgetConsumerIfIdle();
    } catch (error) {
      onError(error);
    } finally {
      this.settings.onClosed();
    }
  }

  /**
   * Ends the blocking read: CLIENT UNBLOCK makes it return as if timed out, so entries it took are
   * not stranded. Repeated, since the unblock can reach Redis before the read does.
   */
  private async readerFinished(): Promise<void> {
    const deadline = Date.now() + this.settings.blockMs + 1_000;
    while (!(await settlesWithin(this.reading, 100))) {
      if (Date.now() > deadline) {
        // Redis unreachable: closing the connection rejects the read; what it took stays pending for a claim.
        this.settings.reader.disconnect();
        await this.reading;
        return;
      }
      this.unblockReader();
    }
  }

  private held(): number {
    return this.waiting.length + this.unsettled.size + this.delayed.size;
  }

  private room(): number {
    return this.settings.maxInFlight - this.held();
  }

  private holds(id: string): boolean {
    return this.unsettled.has(id) || this.delayed.has(id) || this.waiting.some((entry) => entry.id === id);
  }

  /** Hands entries to the sink in stream order, skipping those whose key is held by another entry. */
  private async pump(): Promise<void> {
    while (!this.stopped) {
      const entry = this.takeNext();
      if (entry) await this.settings.sink(this.toRecord(entry));
      else await this.changed.wait();
    }
  }

  private takeNext(): OwnedEntry | undefined {
    for (let index = 0; index < this.waiting.length; index++) {
      const entry = this.waiting[index] as OwnedEntry;
      if (entry.key !== undefined) {
        const holder = this.keyHolders.get(entry.key);
        if (holder !== undefined && holder !== entry.id) continue;
        this.keyHolders.set(entry.key, entry.id);
      }
      this.waiting.splice(index, 1);
      this.unsettled.set(entry.id, entry);
      return entry;
    }
    return undefined;
  }

  private toRecord(entry: OwnedEntry): IncomingRecord {
    let settled = false;
    const record: IncomingRecord = {
      headers: entry.headers,
      body: entry.body,
      attempt: entry.attempt,
      meta: { id: entry.id, stream: this.settings.stream },
      ack: async () => {
        if (settled) return;
        settled = true;
        await this.ack(entry);
      },
      nack: async (delayMs) => {
        if (settled) return;
        settled = true;
        await this.nack(entry, delayMs);
      },
    };
    if (entry.key !== undefined) record.key = entry.key;
    return record;
  }

  private async ack(entry: OwnedEntry): Promise<void> {
    try {
      // Also after close: a late handler's ack spares the group a duplicate.
      await this.acknowledge(entry.id);
    } finally {
      // Even if XACK failed: the entry stays in the pending list and a claim sweep delivers it again.
      this.forget(entry);
    }
  }

  /**
   * Handlers settling in the same event-loop turn share one XACK: one command per turn instead of
   * one per message, which is most of the consuming cost at high rates.
   */
  private acknowledge(id: string): Promise<void> {
    if (!this.pendingAcks) {
      const ids: string[] = [];
      const sent = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.pendingAcks = undefined;
        const { client, stream, group } = this.settings;
        await client.xack(stream, group, ...ids);
      });
      this.pendingAcks = { ids, sent };
    }
    this.pendingAcks.ids.push(id);
    return this.pendingAcks.sent;
  }

  private async nack(entry: OwnedEntry, delayMs: number): Promise<void> {
    if (this.unsettled.get(entry.id) !== entry) return;
    this.unsettled.delete(entry.id);
    if (this.stopped) {
      this.releaseKey(entry);
      this.changed.notify();
      await this.giveBack([entry.id]);
      return;
    }
    this.scheduleRedelivery(entry, delayMs);
  }

  private forget(entry: OwnedEntry): void {
    if (this.unsettled.get(entry.id) === entry) this.unsettled.delete(entry.id);
    this.releaseKey(entry);
    this.changed.notify();
  }

  private releaseKey(entry: OwnedEntry): void {
    if (entry.key !== undefined && this.keyHolders.get(entry.key) === entry.id) this.keyHolders.delete(entry.key);
  }

  /** The entry keeps its key while it waits, so nothing of that key overtakes it. */
  private scheduleRedelivery(entry: OwnedEntry, delayMs: number): void {
    const timer = setTimeout(() => this.inBackground(() => this.redeliver(entry)), delayMs);
    timer.unref();
    this.delayed.set(entry.id, { entry, timer });
  }

  private async redeliver(entry: OwnedEntry): Promise<void> {
    if (this.stopped) return;
    let claimed: OwnedEntry | undefined;
    try {
      [claimed] = await this.claim([entry.id]);
    } catch (error) {
      if (!isGroupGoneError(error)) {
        this.settings.onError(error);
        if (!this.stopped) this.scheduleRedelivery(entry, this.settings.claimIntervalMs);
        return;
      }
    }
    this.delayed.delete(entry.id);
    // Not returned: trimmed from the stream, or the group is gone; either way nothing is left to deliver.
    if (claimed) this.insertWaiting(claimed);
    else this.releaseKey(entry);
    this.changed.notify();
  }

  /** New entries, on the dedicated connection, as many as there is room for. */
  private async read(): Promise<void> {
    const { reader, stream, group, consumer, blockMs } = this.settings;
    let failures = 0;
    while (!this.stopped) {
      const room = this.room();
      if (room <= 0) {
        await this.changed.wait();
        continue;
      }
      try {
        await this.learnReaderId();
        const reply = (await reader.callBuffer(
          'XREADGROUP',
          'GROUP',
          group,
          consumer,
          'COUNT',
          room,
          'BLOCK',
          blockMs,
          'STREAMS',
          stream,
          '>',
        )) as Array<[Buffer, unknown]> | null;
        failures = 0;
        for (const [, entries] of reply ?? []) {
          for (const entry of parseEntries(entries).entries) this.insertWaiting(decodeEntry(entry, 1));
        }
        this.changed.notify();
      } catch (error) {
        if (this.stopped) return;
        if (isGroupGoneError(error) && (await this.recreateGroup())) continue;
        this.settings.onError(error);
        failures++;
        await this.stopping.wait(Math.min(100 * 2 ** failures, MAX_BACKOFF_MS));
      }
    }
  }

  /**
   * The stream or group vanished (deleted, or a Redis restart without persistence). Recreated at the
   * start of whatever the stream now holds: all of it was written after the loss, so the group must
   * see it.
   */
  private async recreateGroup(): Promise<boolean> {
    try {
      await this.ensureGroup('0');
      return true;
    } catch (error) {
      this.settings.onError(error);
      return false;
    }
  }

  private async ensureGroup(start: '0' | '$'): Promise<void> {
    const { client, stream, group } = this.settings;
    try {
      await client.xgroup('CREATE', stream, group, start, 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
    }
  }

  /** Entries this consumer name already owns (a stable consumerName after a restart) come first. */
  private async recoverOwnPending(): Promise<void> {
    const { client, stream, group, consumer, maxInFlight } = this.settings;
    const pending = (await client.xpending(stream, group, '-', '+', maxInFlight, consumer)) as Array<[string]>;
    if (pending.length === 0) return;
    for (const entry of await this.claim(pending.map(([id]) => id))) this.insertWaiting(entry);
  }

  /** Takes over entries other members left idle for claimIdleMs (crashed or stuck consumers). */
  private async sweep(): Promise<void> {
    const room = this.room();
    if (this.stopped || this.sweeping) return;
    // At least one, even when full: under a steady backlog a crashed member's entries would otherwise wait for a lull.
    const count = Math.max(room, 1);
    const { client, stream, group, consumer, claimIdleMs } = this.settings;
    this.sweeping = true;
    let more = false;
    try {
      const [cursor, claimedEntries] = (await client.callBuffer(
        'XAUTOCLAIM',
        stream,
        group,
        consumer,
        claimIdleMs,
        this.sweepCursor,
        'COUNT',
        count,
      )) as [Buffer, unknown];
      this.sweepCursor = cursor.toString();
      const { entries } = parseEntries(claimedEntries);
      // An entry this member still works on was just re-claimed to itself: that only refreshed its idle time.
      const taken = entries.filter((entry) => !this.holds(entry.id));
      if (taken.length > 0) {
        const counts = await this.deliveryCounts(taken);
        for (const entry of taken) this.insertWaiting(decodeEntry(entry, counts.get(entry.id) ?? 1));
        this.changed.notify();
      }
      more = room > 0 && entries.length >= count && this.sweepCursor !== '0-0';
    } catch (error) {
      if (!isGroupGoneError(error)) this.settings.onError(error);
    } finally {
      this.sweeping = false;
    }
    if (more) this.inBackground(() => this.sweep());
  }

  /**
   * Resets the idle time of every entry this member holds, so a slow handler or a long redelivery
   * delay is never mistaken for a crash and claimed by another member. JUSTID leaves delivery counts alone.
   */
  private async keepOwned(): Promise<void> {
    const ids = [...this.unsettled.keys(), ...this.delayed.keys(), ...this.waiting.map((entry) => entry.id)];
    if (this.stopped || ids.length === 0) return;
    const { client, stream, group, consumer } = this.settings;
    try {
      await client.xclaim(stream, group, consumer, 0, ...ids, 'JUSTID');
    } catch (error) {
      if (!isGroupGoneError(error)) throw error;
    }
  }

  /** XCLAIM to this consumer (bumping the delivery count), with the resulting counts. */
  private async claim(ids: string[]): Promise<OwnedEntry[]> {
    const { client, stream, group, consumer } = this.settings;
    const claimed = await client.callBuffer('XCLAIM', stream, group, consumer, 0, ...ids);
    const { entries } = parseEntries(claimed);
    const counts = await this.deliveryCounts(entries);
    return entries.map((entry) => decodeEntry(entry, counts.get(entry.id) ?? 1));
  }

  private async deliveryCounts(entries: RawEntry[]): Promise<Map<string, number>> {
    const { client, stream, group } = this.settings;
    const pipeline = client.pipeline();
    for (const { id } of entries) pipeline.xpending(stream, group, id, id, 1);
    const counts = new Map<string, number>();
    for (const [error, reply] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      for (const [id, , , count] of reply as Array<[string, string, number, number]>) counts.set(id, count);
    }
    return counts;
  }

  /**
   * Hands entries back to the group while keeping them in this consumer's pending list (Redis has no
   * unowned state): marked as delivered long ago, any member's next claim sweep takes them.
   */
  private async giveBack(ids: string[]): Promise<void> {
    const { client, stream, group, consumer } = this.settings;
    await client.xclaim(stream, group, consumer, 0, ...ids, 'TIME', LONG_AGO, 'JUSTID');
  }

  /** A consumer with nothing pending is only a name in XINFO; drop it so groups do not fill with dead names. */
  private async forgetConsumerIfIdle(): Promise<void> {
    const { client, stream, group, consumer } = this.settings;
    try {
      const pending = (await client.xpending(stream, group, '-', '+', 1, consumer)) as unknown[];
      if (pending.length === 0) await client.xgroup('DELCONSUMER', stream, group, consumer);
    } catch (error) {
      if (!isGroupGoneError(error)) throw error;
    }
  }

  private insertWaiting(entry: OwnedEntry): void {
    let low = 0;
    let high = this.waiting.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareIds((this.waiting[middle] as OwnedEntry).id, entry.id) < 0) low = middle + 1;
      else high = middle;
    }
    this.waiting.splice(low, 0, entry);
  }

  private async learnReaderId(): Promise<void> {
    if (!this.mayUnblock || this.readerId !== undefined) return;
    try {
      this.readerId = await this.settings.reader.client('ID');
    } catch (error) {
      if (classifyRedisError(error)?.code !== 'PERMISSION_DENIED') throw error;
      this.mayUnblock = false;
    }
  }

  private unblockReader(): void {
    if (this.readerId === undefined) return;
    // Best effort: without the CLIENT permission the read simply ends at its BLOCK timeout.
    this.settings.client.call('CLIENT', 'UNBLOCK', this.readerId).catch(() => undefined);
  }

  private inBackground(task: () => Promise<void>): void {
    const running = task().catch((error: unknown) => this.settings.onError(error));
    this.background.add(running);
    void running.finally(() => this.background.delete(running));
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
