import { type CheckpointScope, LeaseTable, type Row } from './store.js';

/**
 * Checkpoints in this process's memory: the adapters of ONE process share them, a restart loses them
 * and another process never sees them. For tests and single-process use; use Redis or PostgreSQL for
 * a group whose members run in several processes or must survive a restart.
 */
export class MemoryCheckpointStore extends LeaseTable {
  /** Stream, then group, then row name. */
  private readonly streams = new Map<string, Map<string, Map<string, MemoryRow>>>();

  async startPosition(scope: CheckpointScope, position: string): Promise<string> {
    const row = this.row(scope, '$group');
    row.value ??= position;
    return row.value;
  }

  async tryLease(scope: CheckpointScope, name: string, owner: string, ttlMs: number): Promise<boolean> {
    const row = this.row(scope, name);
    if (row.owner !== undefined && row.owner !== owner && row.expiresAt > Date.now()) return false;
    Object.assign(row, { owner, expiresAt: Date.now() + ttlMs });
    return true;
  }

  protected async ifOwner(scope: CheckpointScope, name: string, owner: string, value?: string): Promise<boolean> {
    const row = this.row(scope, name);
    if (row.owner !== owner) return false;
    Object.assign(row, value === undefined ? { owner: undefined, expiresAt: 0 } : { value });
    return true;
  }

  protected async rows(scope: CheckpointScope): Promise<Row[]> {
    const table = this.streams.get(scope.stream)?.get(scope.group) ?? new Map<string, MemoryRow>();
    return [...table].map(([name, { value, expiresAt }]) => ({ name, value, live: expiresAt > Date.now() }));
  }

  protected async remove({ stream, group }: CheckpointScope, names: string[]): Promise<void> {
    const table = this.streams.get(stream)?.get(group);
    for (const name of names) table?.delete(name);
  }

  async groups(stream: string): Promise<string[]> {
    const groups = [...(this.streams.get(stream) ?? [])].filter(([, table]) => table.size > 0);
    return groups.map(([group]) => group).sort();
  }

  async forgetStream(stream: string): Promise<void> {
    this.streams.delete(stream);
  }

  async close(): Promise<void> {}

  private row({ stream, group }: CheckpointScope, name: string): MemoryRow {
    const groups = this.streams.get(stream) ?? new Map<string, Map<string, MemoryRow>>();
    this.streams.set(stream, groups);
    const table = groups.get(group) ?? new Map<string, MemoryRow>();
    groups.set(group, table);
    const row = table.get(name) ?? { expiresAt: 0 };
    table.set(name, row);
    return row;
  }
}

interface MemoryRow {
  value?: string;
  owner?: string;
  expiresAt: number;
}
