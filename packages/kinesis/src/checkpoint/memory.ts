import type { CheckpointScope, CheckpointStore } from './store.js';

interface ShardEntry {
  checkpoint?: string;
  owner?: string;
  leaseExpiresAt?: number;
}

interface GroupEntry {
  start?: string;
  shards: Map<string, ShardEntry>;
  /** Member id to registration expiry. */
  members: Map<string, number>;
}

/**
 * Checkpoints in this process's memory: adapters of one process share them, a restart loses them
 * (a restarted group starts over from its start position). Use Redis or PostgreSQL in production.
 */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly groups = new Map<string, GroupEntry>();

  async startPosition(scope: CheckpointScope, position: string): Promise<string> {
    const group = this.group(scope);
    group.start ??= position;
    return group.start;
  }

  async checkpoints(scope: CheckpointScope): Promise<Record<string, string>> {
    const result: Record<string, string> = {};
    for (const [shardId, entry] of this.group(scope).shards) {
      if (entry.checkpoint !== undefined) result[shardId] = entry.checkpoint;
    }
    return result;
  }

  async tryLease(scope: CheckpointScope, shardId: string, owner: string, ttlMs: number): Promise<boolean> {
    const entry = this.shard(scope, shardId);
    const now = Date.now();
    if (entry.owner !== undefined && entry.owner !== owner && (entry.leaseExpiresAt ?? 0) > now) return false;
    entry.owner = owner;
    entry.leaseExpiresAt = now + ttlMs;
    return true;
  }

  async checkpoint(scope: CheckpointScope, shardId: string, owner: string, position: string): Promise<boolean> {
    const entry = this.shard(scope, shardId);
    if (entry.owner !== owner) return false;
    entry.checkpoint = position;
    return true;
  }

  async releaseLease(scope: CheckpointScope, shardId: string, owner: string): Promise<void> {
    const entry = this.shard(scope, shardId);
    if (entry.owner !== owner) return;
    entry.owner = undefined;
    entry.leaseExpiresAt = undefined;
  }

  async heartbeat(scope: CheckpointScope, owner: string, ttlMs: number): Promise<number> {
    const { members } = this.group(scope);
    const now = Date.now();
    members.set(owner, now + ttlMs);
    for (const [member, expiresAt] of members) if (expiresAt <= now) members.delete(member);
    return members.size;
  }

  async leave(scope: CheckpointScope, owner: string): Promise<void> {
    this.group(scope).members.delete(owner);
  }

  async forgetStream(stream: string): Promise<void> {
    for (const key of [...this.groups.keys()]) if (JSON.parse(key)[0] === stream) this.groups.delete(key);
  }

  async close(): Promise<void> {}

  private group(scope: CheckpointScope): GroupEntry {
    const key = JSON.stringify([scope.stream, scope.group]);
    let group = this.groups.get(key);
    if (!group) {
      group = { shards: new Map(), members: new Map() };
      this.groups.set(key, group);
    }
    return group;
  }

  private shard(scope: CheckpointScope, shardId: string): ShardEntry {
    const { shards } = this.group(scope);
    let entry = shards.get(shardId);
    if (!entry) {
      entry = {};
      shards.set(shardId, entry);
    }
    return entry;
  }
}
