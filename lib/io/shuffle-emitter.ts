import type { KeyedElement } from '../runtime/records';
import { encodeEnvelopes, encodeMarker } from './envelope';
import type { KinesisWriter } from './kinesis-writer';
import { senderOf } from '../plan/plan';
import { isRedriveInput, REDRIVE_PREFIX } from './redrive';
import { shardForKey, type ShardRange } from './shard-map';

/**
 * Sends a batch's shuffled elements to the next stage's stream: one envelope chain per destination
 * shard (each key goes where Kinesis would route its partition key); then, once all are accepted, a
 * marker with the watermark the batch reached to every open shard — every batch, even one that moved no
 * watermark: a downstream shard learns from the markers' arrival that this shard is active. No marker when
 * `watermarkMs` is undefined: a keyed shard that is idle itself (see StageResult.markerWatermarkMs). On a
 * stream with several lanes, the sender's name says its lane (see Lane).
 */
export async function emitShuffle(writer: KinesisWriter, fromShard: string, lane: string, elements: readonly KeyedElement[], watermarkMs: number | undefined): Promise<{ envelopes: number; markers: number }> {
  const shards = await writer.openShards();
  const sender = senderOf(lane, fromShard);
  // Per sender and destination shard: a redriven record's elements go under its redrive's input, whose
  // positions are its own (lib/io/redrive.ts); everything else under this shard.
  const chainsBy = new Map<string, { from: string; shard: ShardRange; list: KeyedElement[] }>();
  const routeOf = new Map<string, ShardRange>();
  for (const e of elements) {
    let shard = routeOf.get(e.key);
    if (!shard) routeOf.set(e.key, (shard = shardForKey(shards, e.key)));
    const from = isRedriveInput(e.origin.shardId) ? redriveSenderOf(lane, e.origin.shardId) : sender;
    const id = `${from} ${shard.shardId}`;
    let chain = chainsBy.get(id);
    if (!chain) chainsBy.set(id, (chain = { from, shard, list: [] }));
    chain.list.push(e);
  }
  const chains = [...chainsBy.values()].map(({ from, shard, list }) =>
    encodeEnvelopes(from, list).map((data) => ({ partitionKey: sender, data, explicitHashKey: shard.startingHashKey.toString() })),
  );
  await writer.put(chains);
  const envelopes = chains.reduce((n, c) => n + c.length, 0);
  if (watermarkMs === undefined) return { envelopes, markers: 0 };
  const data = encodeMarker(sender, watermarkMs);
  await writer.put(shards.map((s) => [{ partitionKey: sender, data, explicitHashKey: s.startingHashKey.toString() }]));
  return { envelopes, markers: shards.length };
}

/** A redrive's input as a sender on a lane: `redrive:` stays first, so that it is still known as a redrive's. */
const redriveSenderOf = (lane: string, input: string): string => (lane === '' ? input : `${REDRIVE_PREFIX}${lane}/${input.slice(REDRIVE_PREFIX.length)}`);
