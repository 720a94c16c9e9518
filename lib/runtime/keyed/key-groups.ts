/**
 * Key groups (Flink's): a keyed stage after a shuffle splits each shard of its input stream into K key
 * groups (its `keyGroups`, by default its ParallelizationFactor P; P ≤ K). Lambda runs up to P batches of
 * one shard at once but keeps each partition key on one batcher, so every record for a key group carries
 * the group's name as its partition key: a group's records are then never in two concurrent batches, and P
 * may change between 1 and K while the state stays where it is. Each (shard, key group) is a logical shard
 * — its own log, state, marks, watermark and timers — named `<shard>.g<k>`. With K = 1 there is one group
 * and the logical shard is the shard itself: names, logs and partition keys are what they were.
 *
 * K is small (≤ 10) and by default P, not a multiple of it: each batch appends one log entry per group it
 * touches, and every upstream batch sends a marker to every (shard, group), so more groups cost appends and
 * PUTs on every batch. A job that means to raise P later sets K to where P may go.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over a string's UTF-8 bytes: stable across processes and versions, cheap, and well spread. */
export function fnv1a(text: string): number {
  let hash = FNV_OFFSET;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash;
}

/**
 * The key group (0..groups-1) of a key: FNV-1a of the key, not the MD5 that Kinesis routes it by — the
 * keys inside one shard share their MD5's top bits, so those would crowd some groups.
 */
export const keyGroupOf = (key: string, groups: number): number => (groups <= 1 ? 0 : fnv1a(key) % groups);

/** The partition key of every record for a key group: the same from every sender, so a group keeps one lane. */
export const groupPartitionKey = (group: number): string => `g${group}`;

/** The key group a partition key names, or undefined when it names none of `groups`. */
export function groupOfPartitionKey(partitionKey: string, groups: number): number | undefined {
  const match = /^g(\d+)$/.exec(partitionKey);
  const group = match ? Number(match[1]) : NaN;
  return Number.isInteger(group) && group < groups ? group : undefined;
}

const SEPARATOR = '.g';

/** A logical shard's name: the shard itself with one group, else `<shard>.g<k>`. */
export const logicalShard = (shardId: string, group: number, groups: number): string => (groups <= 1 ? shardId : `${shardId}${SEPARATOR}${group}`);

/** Every logical shard of a shard. */
export const logicalShardsOf = (shardId: string, groups: number): string[] => Array.from({ length: Math.max(1, groups) }, (_, g) => logicalShard(shardId, g, groups));

/** The shard and key group of a logical shard's name (of a stage with `groups` key groups). */
export function shardOfLogical(name: string, groups: number): { shardId: string; group: number } {
  if (groups <= 1) return { shardId: name, group: 0 };
  const at = name.lastIndexOf(SEPARATOR);
  const group = Number(name.slice(at + SEPARATOR.length));
  if (at < 0 || !Number.isInteger(group) || group >= groups) throw new Error(`'${name}' is not a logical shard of a stage with ${groups} key groups (<shard>${SEPARATOR}<0..${groups - 1}>)`);
  return { shardId: name.slice(0, at), group };
}
