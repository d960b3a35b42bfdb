import type { ShardIteratorType } from '@aws-sdk/client-kinesis';
import { EventportError } from '@eventport/core';

/** Which checkpoints: one stream as read by one consumer group (the group is the checkpoint namespace). */
export interface CheckpointScope {
  stream: string;
  group: string;
}

/**
 * Where a consumer group keeps its place in each shard, and who reads which shard. Positions are
 * opaque strings to the store (a sequence number or a marker below). Each shard has a lease: only
 * its holder reads the shard and only its checkpoints are accepted, so members share the shards and
 * a dead member's shards are taken over once its lease expires. Members register (heartbeat) so each
 * knows its fair share. Expiry uses the store's clock where it has one (Redis, PostgreSQL).
 */
export interface CheckpointStore {
  /** Records where a new group starts, unless it has a start already; returns the one in effect. */
  startPosition(scope: CheckpointScope, position: string): Promise<string>;
  /** The last checkpoint of every shard the group has one for. */
  checkpoints(scope: CheckpointScope): Promise<Record<string, string>>;
  /** Takes or extends the shard's lease for `owner` when it is free, expired or already `owner`'s. */
  tryLease(scope: CheckpointScope, shardId: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Writes the shard's checkpoint if `owner` holds its lease; false when refused. */
  checkpoint(scope: CheckpointScope, shardId: string, owner: string, position: string): Promise<boolean>;
  /** Gives the lease up (no-op when `owner` does not hold it). */
  releaseLease(scope: CheckpointScope, shardId: string, owner: string): Promise<void>;
  /** Registers `owner` as live for `ttlMs`, drops expired members; returns the live members, `owner` included. */
  heartbeat(scope: CheckpointScope, owner: string, ttlMs: number): Promise<number>;
  /** Unregisters a member (on close), so the others take over its share at once. */
  leave(scope: CheckpointScope, owner: string): Promise<void>;
  /** The groups with anything stored for the stream (a start, checkpoints, leases, members). */
  groups(stream: string): Promise<string[]>;
  /** Forgets every group's checkpoints of a stream (called when the stream is deleted). */
  forgetStream(stream: string): Promise<void>;
  /** Releases connections the store opened itself. */
  close(): Promise<void>;
}

export interface Row {
  name: string;
  value?: string;
  /** Its lease is held and not expired (on the store's clock). */
  live: boolean;
}

const MEMBER = '$member:';

/**
 * What the stores share. Each keeps, per stream and group, rows with a value, an owner and an expiry
 * on its own clock: a shard's row holds its checkpoint and lease, a member's row ("$member:<id>",
 * owned by that member) says it is alive. Names starting with "$" are not shards.
 */
export abstract class LeaseTable implements CheckpointStore {
  abstract startPosition(scope: CheckpointScope, position: string): Promise<string>;
  /** Also leases member rows: `name` is a shard id or "$member:<id>". */
  abstract tryLease(scope: CheckpointScope, name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** If `owner` holds `name` (even expired, when nobody took it): sets its value, or releases it without one. */
  protected abstract ifOwner(scope: CheckpointScope, name: string, owner: string, value?: string): Promise<boolean>;
  protected abstract rows(scope: CheckpointScope): Promise<Row[]>;
  protected abstract remove(scope: CheckpointScope, names: string[]): Promise<void>;
  abstract groups(stream: string): Promise<string[]>;
  abstract forgetStream(stream: string): Promise<void>;
  abstract close(): Promise<void>;

  async checkpoints(scope: CheckpointScope): Promise<Record<string, string>> {
    const shards = (await this.rows(scope)).filter((row) => !row.name.startsWith('$') && row.value !== undefined);
    return Object.fromEntries(shards.map((row) => [row.name, row.value as string]));
  }

  checkpoint(scope: CheckpointScope, shardId: string, owner: string, position: string): Promise<boolean> {
    return this.ifOwner(scope, shardId, owner, position);
  }

  async releaseLease(scope: CheckpointScope, shardId: string, owner: string): Promise<void> {
    await this.ifOwner(scope, shardId, owner);
  }

  async heartbeat(scope: CheckpointScope, owner: string, ttlMs: number): Promise<number> {
    await this.tryLease(scope, `${MEMBER}${owner}`, owner, ttlMs);
    const members = (await this.rows(scope)).filter((row) => row.name.startsWith(MEMBER));
    const expired = members.filter((row) => !row.live).map((row) => row.name);
    if (expired.length > 0) await this.remove(scope, expired);
    return members.length - expired.length;
  }

  leave(scope: CheckpointScope, owner: string): Promise<void> {
    return this.remove(scope, [`${MEMBER}${owner}`]);
  }
}

/** The oldest record of the shard. */
export const TRIM_HORIZON = 'TRIM_HORIZON';
/** The shard was read to its end (closed by resharding): its children may be read. */
export const SHARD_END = 'SHARD_END';
const AT_TIMESTAMP = 'AT_TIMESTAMP:';

export const atTimestamp = (epochMs: number): string => `${AT_TIMESTAMP}${epochMs}`;

/** The GetShardIterator arguments that resume reading right after `position`. */
export function iteratorAfter(position: string): {
  ShardIteratorType: ShardIteratorType;
  StartingSequenceNumber?: string;
  Timestamp?: Date;
} {
  if (position === TRIM_HORIZON) return { ShardIteratorType: 'TRIM_HORIZON' };
  if (position.startsWith(AT_TIMESTAMP)) {
    return { ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(Number(position.slice(AT_TIMESTAMP.length))) };
  }
  return { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: position };
}

/** Loads an optional peer dependency, saying which package to install when it is missing. */
export async function importPeer<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    throw new EventportError(
      'BACKEND_NOT_INSTALLED',
      `this Kinesis checkpoint store needs "${name}", which is not installed — npm install ${name}`,
      { cause: error },
    );
  }
}
