import type { IncomingRecord } from '../driver.js';

/**
 * Turns a client that pushes (amqplib consume, Pub/Sub streaming pull, kafkajs eachBatch, a
 * JetStream consumer iterator) into the pull-shaped `receive` core calls. The client side calls
 * `push`; core's loop calls `receive`. `push` resolves once the records were taken, so a client that
 * awaits it (eachBatch) is held back; clients that cannot be held back are bounded by their own
 * prefetch window, which drivers set from `ReceiverOptions.maxUnsettled`.
 */
export class PushBuffer<R extends IncomingRecord = IncomingRecord> {
  private readonly queued: Array<{ record: R; taken: () => void }> = [];
  private wakeReader: (() => void) | undefined;
  private failure: unknown;
  private ended = false;

  get size(): number {
    return this.queued.length;
  }

  /** Hands records over; resolves when core has taken all of them (or the buffer ended). */
  push(...records: R[]): Promise<void> {
    if (this.ended) return Promise.resolve();
    const taken = records.map((record) => new Promise<void>((resolve) => this.queued.push({ record, taken: resolve })));
    this.wake();
    return Promise.all(taken).then(() => undefined);
  }

  /** The client's stream is gone: the next receive throws `error`, so core opens a new receiver. */
  fail(error: unknown): void {
    this.failure ??= error;
    this.wake();
  }

  /** Drops what was not taken yet (the broker redelivers it) and releases every waiting push. */
  end(): R[] {
    this.ended = true;
    const dropped = this.queued.splice(0);
    for (const entry of dropped) entry.taken();
    this.wake();
    return dropped.map((entry) => entry.record);
  }

  async receive(max: number, signal: AbortSignal): Promise<R[]> {
    while (this.queued.length === 0 && this.failure === undefined && !this.ended && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.wakeReader = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.wakeReader = undefined;
    }
    const batch = this.queued.splice(0, Math.max(0, max));
    for (const entry of batch) entry.taken();
    if (batch.length === 0 && this.failure !== undefined) throw this.failure;
    return batch.map((entry) => entry.record);
  }

  private wake(): void {
    this.wakeReader?.();
  }
}
