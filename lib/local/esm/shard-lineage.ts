/**
 * Resharding rules. A split or merge closes the parent shard(s) and opens children that take the
 * new records; a key's older records stay in the parent. Per-key order therefore needs a child to be
 * read only after its parents are processed to their end, which Lambda (like the KCL) guarantees
 * (https://docs.aws.amazon.com/streams/latest/dev/kinesis-using-sdk-java-after-resharding.html).
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import { SHARD_END } from './checkpoint-store';

/** A shard as the mapping knows it from ListShards. */
export interface ShardLineage {
  readonly shardId: string;
  /** `ParentShardId` and, after a merge, `AdjacentParentShardId`. */
  readonly parentShardIds: readonly string[];
}

/** Where a shard's consumer starts reading. */
export type StartPosition =
  | { readonly type: 'AFTER_SEQUENCE_NUMBER'; readonly sequenceNumber: string }
  | { readonly type: 'TRIM_HORIZON' }
  | { readonly type: 'LATEST' }
  | { readonly type: 'AT_TIMESTAMP'; readonly timestampMs: number };

/** A ListShards entry as lineage. */
export function lineageOf(shard: Shard): ShardLineage {
  const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => typeof p === 'string' && p !== '');
  return { shardId: shard.ShardId ?? '', parentShardIds: parents };
}

/**
 * The parents a shard must still wait for. A parent that is no longer listed has aged out of the
 * stream (retention), so there is nothing left in it to wait for.
 *
 * @example parentsToAwait({ shardId: 'c', parentShardIds: ['p'] }, (id) => id === 'p', () => false) // ['p']
 */
export function parentsToAwait(shard: ShardLineage, isListed: (shardId: string) => boolean, isFinished: (shardId: string) => boolean): string[] {
  return shard.parentShardIds.filter((p) => isListed(p) && !isFinished(p));
}

/**
 * Where a shard starts, or `'finished'` if a previous run already processed it to its end.
 *
 * - A checkpoint wins: resume just after it.
 * - The configured starting position applies only to shards that existed when the mapping was
 *   first created (they are in the first listing and no parent of theirs was ever consumed).
 * - Every other shard is a child of a lineage the mapping is already reading, so all of its records
 *   are new to the mapping: TRIM_HORIZON, or records written during a reshard would be lost
 *   (a LATEST mapping still sees every record written after it started).
 */
export function startPositionOf(args: {
  readonly checkpoint: string | undefined;
  readonly inFirstListing: boolean;
  readonly parentEverCheckpointed: boolean;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  /** With AT_TIMESTAMP. */
  readonly startingPositionTimestampMs?: number | undefined;
}): StartPosition | 'finished' {
  if (args.checkpoint === SHARD_END) return 'finished';
  if (args.checkpoint !== undefined) return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: args.checkpoint };
  if (!args.inFirstListing || args.parentEverCheckpointed) return { type: 'TRIM_HORIZON' };
  if (args.startingPosition === 'AT_TIMESTAMP') return { type: 'AT_TIMESTAMP', timestampMs: args.startingPositionTimestampMs ?? 0 };
  return { type: args.startingPosition };
}
