import type { ShardIteratorType } from '@aws-sdk/client-kinesis';

/**
 * Positions as stored in a CheckpointStore: a sequence number (the last record whose handler
 * resolved, and every earlier one of the shard too), or one of three markers.
 */
export const TRIM_HORIZON = 'TRIM_HORIZON';
/** The shard was read to its end (it was closed by resharding): its children may be read. */
export const SHARD_END = 'SHARD_END';
const AT_TIMESTAMP_PREFIX = 'AT_TIMESTAMP:';

export function atTimestamp(epochMs: number): string {
  return `${AT_TIMESTAMP_PREFIX}${epochMs}`;
}

export interface IteratorStart {
  ShardIteratorType: ShardIteratorType;
  StartingSequenceNumber?: string;
  Timestamp?: Date;
}

/** The GetShardIterator arguments that resume reading right after `position`. */
export function iteratorAfter(position: string): IteratorStart {
  if (position === TRIM_HORIZON) return { ShardIteratorType: 'TRIM_HORIZON' };
  if (position.startsWith(AT_TIMESTAMP_PREFIX)) {
    return {
      ShardIteratorType: 'AT_TIMESTAMP',
      Timestamp: new Date(Number(position.slice(AT_TIMESTAMP_PREFIX.length))),
    };
  }
  return { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: position };
}
