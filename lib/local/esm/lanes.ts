/**
 * ParallelizationFactor lanes. Lambda processes up to ten batches of one shard at once and still
 * keeps every partition key in order, by sending a key's records always to the same batcher
 * (https://aws.amazon.com/blogs/compute/new-aws-lambda-scaling-controls-for-kinesis-and-dynamodb-event-sources/).
 * We do the same with a stable hash of the partition key.
 */
import { fnv1a } from '../../runtime/keyed/key-groups';

/**
 * The lane (0..lanes-1) of a partition key: FNV-1a over its UTF-8 bytes, modulo the lane count.
 * FNV rather than MD5 on purpose: Kinesis routes keys to shards by MD5 ranges, so the MD5 bits of
 * the keys inside one shard are skewed and would crowd some lanes.
 *
 * @example laneOf('user-42', 3) // always the same lane for 'user-42'
 */
export function laneOf(partitionKey: string, lanes: number): number {
  if (lanes <= 1) return 0;
  return fnv1a(partitionKey) % lanes;
}
