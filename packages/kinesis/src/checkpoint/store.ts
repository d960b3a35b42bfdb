/** Which checkpoints: one stream as read by one consumer group (the group is the checkpoint namespace). */
export interface CheckpointScope {
  stream: string;
  group: string;
}

/**
 * Where a consumer group keeps its place in each shard, and who is reading which shard.
 *
 * Positions are opaque strings to the store (sequence numbers and a few markers, see positions.ts).
 * Each shard has a lease: the member holding it is the only one reading the shard and the only one
 * whose checkpoints are accepted, so the members of a group share the shards between them and a
 * dead member's shards are taken over once its lease expires. Members also register themselves
 * (heartbeat) so each knows its fair share of the shards. Lease expiry uses the store's clock
 * where it has one (Redis, PostgreSQL), so members' clocks need not agree.
 */
export interface CheckpointStore {
  /** Records where a new group starts, unless the group already has a start; returns the one in effect. */
  startPosition(scope: CheckpointScope, position: string): Promise<string>;
  /** The last checkpoint of every shard the group has one for. */
  checkpoints(scope: CheckpointScope): Promise<Record<string, string>>;
  /** Takes or extends the shard's lease for `owner` when it is free, expired or already `owner`'s. */
  tryLease(scope: CheckpointScope, shardId: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Writes the shard's checkpoint if `owner` holds its lease (even an expired one nobody took); false when refused. */
  checkpoint(scope: CheckpointScope, shardId: string, owner: string, position: string): Promise<boolean>;
  /** Gives the lease up (no-op when `owner` does not hold it). */
  releaseLease(scope: CheckpointScope, shardId: string, owner: string): Promise<void>;
  /**
   * Registers `owner` as a live member of the group for `ttlMs` and drops members whose registration
   * expired; returns how many members are live, `owner` included. Members use it to share the shards.
   */
  heartbeat(scope: CheckpointScope, owner: string, ttlMs: number): Promise<number>;
  /** Unregisters a member (on close), so the others take over its share at once. */
  leave(scope: CheckpointScope, owner: string): Promise<void>;
  /** Forgets every group's checkpoints of a stream (called when the stream is deleted). */
  forgetStream(stream: string): Promise<void>;
  /** Releases connections the store opened itself. */
  close(): Promise<void>;
}

/** A serialisable description of a store, so it can be given through createAdapter overrides or env. */
export type CheckpointStoreConfig =
  | { type: 'memory' }
  | { type: 'redis'; url: string; keyPrefix?: string }
  | { type: 'postgres'; url: string; table?: string };
