/**
 * The bookkeeping of one partition of a log (a Kafka partition, a Kinesis shard, any future log):
 * records are settled out of order by concurrent handlers, but a log only commits "everything up to
 * here". This tracks delivered records in log order, commits the settled prefix with at most one
 * commit in flight (later commit points replace a waiting one), and redelivers a nacked record on
 * its own: records acked after it are never handled again, and the commit point never passes it.
 */
export class OffsetLog<R> {
  /** Delivered records in log order, and an index into them: acks arrive out of order, often. */
  private readonly pending: Array<{ record: R; acked: boolean }> = [];
  private readonly entries = new Map<R, { record: R; acked: boolean }>();
  private readonly redeliver: R[] = [];
  private waitingCommit: R | undefined;
  private committing: Promise<void> | undefined;

  constructor(
    /** Persists "everything up to and including `record` is done". */
    private readonly commit: (record: R) => Promise<void>,
    private readonly onCommitError: (error: unknown) => void,
  ) {}

  /** Records must be tracked in log order, once each. */
  track(record: R): void {
    const entry = { record, acked: false };
    this.pending.push(entry);
    this.entries.set(record, entry);
  }

  /** Nacked records, in log order, to be handed out again before anything new. */
  takeRedeliveries(max: number): R[] {
    return this.redeliver.splice(0, max);
  }

  get redeliveryCount(): number {
    return this.redeliver.length;
  }

  /** Delivered and not yet acked (including those waiting for redelivery). */
  get unsettled(): number {
    return this.pending.length;
  }

  ack(record: R): void {
    const entry = this.entries.get(record);
    if (!entry || entry.acked) return;
    entry.acked = true;
    let done: R | undefined;
    while (this.pending[0]?.acked) {
      done = this.pending.shift()?.record;
      if (done !== undefined) this.entries.delete(done);
    }
    if (done !== undefined) this.scheduleCommit(done);
  }

  nack(record: R): void {
    const entry = this.entries.get(record);
    if (!entry || entry.acked) return;
    const at = this.redeliver.findIndex((queued) => this.indexOf(queued) > this.indexOf(record));
    if (at === -1) this.redeliver.push(record);
    else this.redeliver.splice(at, 0, record);
  }

  /** Waits until every commit point reached so far is written. */
  async flush(): Promise<void> {
    while (this.committing) await this.committing;
  }

  /** The partition was taken away (rebalance, shard lease lost): forget it; the new owner redelivers. */
  reset(): void {
    this.pending.length = 0;
    this.entries.clear();
    this.redeliver.length = 0;
    this.waitingCommit = undefined;
  }

  private indexOf(record: R): number {
    const entry = this.entries.get(record);
    return entry === undefined ? -1 : this.pending.indexOf(entry);
  }

  private scheduleCommit(record: R): void {
    this.waitingCommit = record;
    this.committing ??= this.drainCommits();
  }

  private async drainCommits(): Promise<void> {
    try {
      while (this.waitingCommit !== undefined) {
        const record = this.waitingCommit;
        this.waitingCommit = undefined;
        try {
          await this.commit(record);
        } catch (error) {
          // Not lost: the next commit point covers it, or the broker redelivers from the last commit.
          this.onCommitError(error);
        }
      }
    } finally {
      this.committing = undefined;
    }
  }
}
