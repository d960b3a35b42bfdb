import type { InboxEntry, InboxOutcome, InboxStore } from './store.js';

/**
 * The inbox in this process, for development and tests: the PostgreSQL store's semantics without
 * the database (a second delivery of a key waits while the first runs, then drops or takes over),
 * and nothing survives a restart. The effect receives nothing.
 */
export class MemoryInboxStore implements InboxStore<undefined> {
  readonly kind = 'memory';
  private readonly recorded = new Set<string>();
  private readonly running = new Map<string, Promise<unknown>>();

  async process(entry: InboxEntry, effect: (tx: undefined) => Promise<void>): Promise<InboxOutcome> {
    const id = `${entry.group}\u0000${entry.key}`;
    while (true) {
      if (this.recorded.has(id)) return 'duplicate';
      const other = this.running.get(id);
      if (!other) break;
      await other.catch(() => undefined);
    }
    const run = effect(undefined);
    this.running.set(id, run);
    try {
      await run;
      this.recorded.add(id);
      return 'handled';
    } finally {
      this.running.delete(id);
    }
  }

  has(group: string, key: string): boolean {
    return this.recorded.has(`${group}\u0000${key}`);
  }

  get size(): number {
    return this.recorded.size;
  }
}
