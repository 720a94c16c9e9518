import { createHash } from 'node:crypto';

/** An open shard and the part of the 128-bit hash-key space it owns. */
export interface ShardRange {
  readonly shardId: string;
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
}

/** Kinesis maps a partition key to a shard by the MD5 of the key as a 128-bit unsigned integer. */
export const hashKeyOf = (partitionKey: string): bigint => BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);

/** The open shard owning a partition key. */
export function shardForKey(ranges: readonly ShardRange[], partitionKey: string): ShardRange {
  const h = hashKeyOf(partitionKey);
  const owner = ranges.find((r) => r.startingHashKey <= h && h <= r.endingHashKey);
  if (!owner) throw new Error(`no open shard owns hash key ${h} (${ranges.length} shards known)`);
  return owner;
}
