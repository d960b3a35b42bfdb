/**
 * Counts what a case published against what it received, so every case reports the same four numbers:
 * published, received unique, missing, duplicates.
 */
export class Tally {
  readonly published = new Set<string>();
  private readonly received = new Map<string, number>();
  private waiters: Array<() => void> = [];

  expect(ids: Iterable<string>): void {
    for (const id of ids) this.published.add(id);
  }

  record(id: string): void {
    this.received.set(id, (this.received.get(id) ?? 0) + 1);
    for (const wake of this.waiters.splice(0)) wake();
  }

  timesReceived(id: string): number {
    return this.received.get(id) ?? 0;
  }

  get receivedUnique(): number {
    let count = 0;
    for (const id of this.published) if (this.received.has(id)) count++;
    return count;
  }

  get missing(): string[] {
    return [...this.published].filter((id) => !this.received.has(id));
  }

  get duplicates(): number {
    let count = 0;
    for (const times of this.received.values()) count += times - 1;
    return count;
  }

  /** Received ids that were never published in this case (cross-talk between topics or groups). */
  get strangers(): string[] {
    return [...this.received.keys()].filter((id) => !this.published.has(id));
  }

  /** Waits until `count` published messages were received (default: all), or the timeout. */
  async waitForAll(timeoutMs: number, count = this.published.size): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.receivedUnique < count) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  summary(): { published: number; receivedUnique: number; missing: number; duplicates: number } {
    return {
      published: this.published.size,
      receivedUnique: this.receivedUnique,
      missing: this.missing.length,
      duplicates: this.duplicates,
    };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until true or the timeout; returns whether it became true. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}
