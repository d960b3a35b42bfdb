import type { OutgoingRecord, SendResult } from '../driver.js';

interface Queued {
  record: OutgoingRecord;
  /** The caller's publish deadline. */
  signal: AbortSignal;
  /** Undefined when the driver returned no result for the record. */
  done: (result: SendResult | undefined) => void;
}

/** One driver send of the records that queued up together, answered (or abandoned) once `signal` aborts. */
export type SendBatch = (topic: string, records: OutgoingRecord[], signal: AbortSignal) => Promise<SendResult[]>;

/**
 * Single sends, per topic: one goes out at once when nothing is being sent to its topic; those that
 * arrive meanwhile wait and go together in the next send (Go CDK's batcher, one handler per topic).
 * An idle topic adds no latency, and a busy one makes one broker call for many callers. Each caller
 * gets its own record's result and retries on its own, within its own deadline.
 */
export class PublishQueue {
  private readonly waiting = new Map<string, Queued[]>();

  constructor(
    private readonly send: SendBatch,
    private readonly maxBatch: number,
  ) {}

  add(topic: string, record: OutgoingRecord, signal: AbortSignal): Promise<SendResult | undefined> {
    return new Promise((done) => {
      const queued = { record, signal, done };
      const waiting = this.waiting.get(topic);
      if (waiting) waiting.push(queued);
      else void this.sendNext(topic, [queued]);
    });
  }

  /** Sends `batch`; once it is answered, whatever queued up meanwhile, until the topic has nothing left. */
  private async sendNext(topic: string, batch: Queued[]): Promise<void> {
    if (!this.waiting.has(topic)) this.waiting.set(topic, []);
    let results: Array<SendResult | undefined>;
    try {
      // Its first caller came first: the send ends by that one's deadline, before that of any waiting behind it.
      const { signal } = batch[0] as Queued;
      results = await this.send(
        topic,
        batch.map((queued) => queued.record),
        signal,
      );
    } catch (error) {
      results = batch.map(() => ({ ok: false, error }));
    }
    for (const [index, queued] of batch.entries()) queued.done(results[index]);
    const waiting = this.waiting.get(topic) ?? [];
    if (waiting.length === 0) this.waiting.delete(topic);
    else void this.sendNext(topic, waiting.splice(0, this.maxBatch));
  }
}
