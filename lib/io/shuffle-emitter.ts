import type { KeyedElement } from '../runtime/records';
import { encodeEnvelopes, encodeMarker } from './envelope';
import type { KinesisWriter } from './kinesis-writer';
import { isRedriveInput } from './redrive';
import { shardForKey, type ShardRange } from './shard-map';

/**
 * Sends a batch's shuffled elements to the next stage's stream: one envelope chain per destination
 * shard (each key goes where Kinesis would route its partition key); then, once all are accepted, a
 * marker with the watermark the batch reached to every open shard — every batch, even one that moved no
 * watermark: a downstream shard learns from the markers' arrival that this shard is active. No marker when
 * `watermarkMs` is undefined: a keyed shard that is idle itself (see StageResult.markerWatermarkMs).
 */
export async function emitShuffle(writer: KinesisWriter, fromShard: string, elements: readonly KeyedElement[], watermarkMs: number | undefined): Promise<{ envelopes: number; markers: number }> {
  const shards = await writer.openShards();
  // Per sender and destination shard: a redriven record's elements go under its redrive's input, whose
  // positions are its own (lib/io/redrive.ts); everything else under this shard.
  const chainsBy = new Map<string, { from: string; shard: ShardRange; list: KeyedElement[] }>();
  const routeOf = new Map<string, ShardRange>();
  for (const e of elements) {
    let shard = routeOf.get(e.key);
    if (!shard) routeOf.set(e.key, (shard = shardForKey(shards, e.key)));
    const from = isRedriveInput(e.origin.shardId) ? e.origin.shardId : fromShard;
    const id = `${from} ${shard.shardId}`;
    let chain = chainsBy.get(id);
    if (!chain) chainsBy.set(id, (chain = { from, shard, list: [] }));
    chain.list.push(e);
  }
  const chains = [...chainsBy.values()].map(({ from, shard, list }) =>
    encodeEnvelopes(from, list).map((data) => ({ partitionKey: fromShard, data, explicitHashKey: shard.startingHashKey.toString() })),
  );
  await writer.put(chains);
  const envelopes = chains.reduce((n, c) => n + c.length, 0);
  if (watermarkMs === undefined) return { envelopes, markers: 0 };
  const data = encodeMarker(fromShard, watermarkMs);
  await writer.put(shards.map((s) => [{ partitionKey: fromShard, data, explicitHashKey: s.startingHashKey.toString() }]));
  return { envelopes, markers: shards.length };
}
