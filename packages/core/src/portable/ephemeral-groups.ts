import { withDeadline } from '../deadline.js';
import type { Driver } from '../driver.js';

/**
 * Counts this adapter's open subscriptions to each ephemeral group. The group is deleted on the broker
 * when the last of them has closed its receivers, never while another subscription still reads it.
 */
export class EphemeralGroups {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly driver: Driver,
    private readonly deadlineMs: number,
  ) {}

  /** Counts a subscription in; the function it returns counts it out (once) and deletes the group after the last. */
  join(topic: string, group: string): () => Promise<void> {
    const key = `${topic}\n${group}`;
    this.open.set(key, (this.open.get(key) ?? 0) + 1);
    let left = false;
    return async () => {
      if (left) return;
      left = true;
      const others = (this.open.get(key) ?? 1) - 1;
      if (others > 0) {
        this.open.set(key, others);
        return;
      }
      this.open.delete(key);
      const { driver } = this;
      if (!driver.deleteGroup) return;
      await withDeadline(
        this.deadlineMs,
        `deleting the ephemeral group "${group}" of "${topic}" (${driver.backend})`,
        (signal) => (driver.deleteGroup as NonNullable<Driver['deleteGroup']>).call(driver, topic, group, signal),
      );
    };
  }
}
