import { ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';

/**
 * Every shard of a stream, open or closed (within retention), by id: the inputs the watermark function
 * waits for. A split's children and a shard not heard from yet are told apart by id, not counted.
 */
export async function listShardIds(kinesis: KinesisClient, stream: string): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }));
    for (const shard of page.Shards ?? []) if (shard.ShardId) ids.push(shard.ShardId);
    token = page.NextToken;
  } while (token);
  return ids;
}

/** A shard's place among its stream's shards: the shards it came from (a split's or merge's parents) and its hash range. */
export interface ShardLineage {
  readonly parents: readonly string[];
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
}

/**
 * A shard's parents and hash range (ListShards), for a keyed stage: after a reshard of its input stream, a
 * child shard takes over its parents' state for the keys in its range.
 */
export async function shardLineage(kinesis: KinesisClient, stream: string, shardId: string): Promise<ShardLineage | undefined> {
  let token: string | undefined;
  do {
    const page = await kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }));
    const shard = page.Shards?.find((s) => s.ShardId === shardId);
    if (shard?.HashKeyRange?.StartingHashKey && shard.HashKeyRange.EndingHashKey) {
      return {
        parents: [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => p !== undefined),
        startingHashKey: BigInt(shard.HashKeyRange.StartingHashKey),
        endingHashKey: BigInt(shard.HashKeyRange.EndingHashKey),
      };
    }
    token = page.NextToken;
  } while (token);
  return undefined;
}

/** Every shard of a stream that a reshard made, with its parents (ListShards): shards without parents are left out. */
export async function shardParents(kinesis: KinesisClient, stream: string): Promise<Map<string, string[]>> {
  const parents = new Map<string, string[]>();
  let token: string | undefined;
  do {
    const page = await kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }));
    for (const shard of page.Shards ?? []) {
      const of = [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => p !== undefined);
      if (shard.ShardId && of.length > 0) parents.set(shard.ShardId, of);
    }
    token = page.NextToken;
  } while (token);
  return parents;
}
