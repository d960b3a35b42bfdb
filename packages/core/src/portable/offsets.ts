/**
 * For offset-based logs (Kafka partitions, Kinesis shards): records are acked out of order by
 * concurrent handlers, but a log can only commit "everything up to X". Tracks delivered positions of
 * one partition and tells the highest position below which everything is settled.
 */
export class OffsetTracker<P> {
  private readonly pending: Array<{ position: P; done: boolean }> = [];

  /** Positions must be tracked in log order. */
  track(position: P): void {
    this.pending.push({ position, done: false });
  }

  /** Marks a position settled; returns the new commit point (the last position of the settled prefix), if it moved. */
  settle(position: P): P | undefined {
    const entry = this.pending.find((candidate) => candidate.position === position && !candidate.done);
    if (entry) entry.done = true;
    let committable: P | undefined;
    while (this.pending[0]?.done) committable = this.pending.shift()?.position;
    return committable;
  }

  get size(): number {
    return this.pending.length;
  }

  clear(): void {
    this.pending.length = 0;
  }
}
