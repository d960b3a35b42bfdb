import { type CheckpointScope, LeaseTable, type Row } from './store.js';

/**
 * Checkpoints in this process's memory: the adapters of ONE process share them, a restart loses them
 * and another process never sees them. For tests and single-process use; use Redis or PostgreSQL for
 * a group whose members run in several processes or must survive a restart.
 */
export class MemoryCheckpointStore extends LeaseTable {
  private readonly tables = new Map<string, Map<string, { value?: string; owner?: string; expiresAt: number }>>();

  async startPosition(scope: CheckpointScope, position: string): Promise<string> {
    const row = this.row(scope, '$group');
    row.value ??= position;
    return row.value;
  }

  protected async lease(scope: CheckpointScope, name: string, owner: string, ttlMs: number): Promise<boolean> {
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
    return [...this.table(scope)].map(([name, { value, expiresAt }]) => ({
      name,
      value,
      live: expiresAt > Date.now(),
    }));
  }

  protected async remove(scope: CheckpointScope, names: string[]): Promise<void> {
    for (const name of names) this.table(scope).delete(name);
  }

  async forgetStream(stream: string): Promise<void> {
    for (const key of this.tables.keys()) if (key.startsWith(`${stream}\n`)) this.tables.delete(key);
  }

  async close(): Promise<void> {}

  private table({ stream, group }: CheckpointScope) {
    const key = `${stream}\n${group}`;
    const table = this.tables.get(key) ?? new Map();
    this.tables.set(key, table);
    return table;
  }

  private row(scope: CheckpointScope, name: string) {
    const table = this.table(scope);
    const row = table.get(name) ?? { expiresAt: 0 };
    table.set(name, row);
    return row;
  }
}
