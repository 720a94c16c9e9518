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
