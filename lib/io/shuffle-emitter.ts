import { encodeEnvelopes, encodeMarker, MAX_ENVELOPE_BYTES } from './envelope';
import type { KeyedElement, Marker } from '../runtime/records';
import type { Chain, KinesisWriter } from './kinesis-writer';
import { senderOf } from '../plan/plan';
import { isRedriveInput, REDRIVE_PREFIX } from './redrive';
import { shardForKey, type ShardRange } from './shard-map';
import { groupPartitionKey, keyGroupOf, logicalShard } from '../runtime/keyed/key-groups';

/** Rounds of "the route map was stale: list the shards again and re-send" before giving up (a reshard per round). */
const MAX_REROUTES = 5;

/**
 * Sends a batch's shuffled elements to the next stage's stream: one envelope chain per destination
 * shard (each key goes where Kinesis would route its partition key); then, once all are accepted, the
 * batch's marker (its watermark and, from a keyed shard, its status) to every open shard — every batch,
 * even one that moved no watermark: a downstream shard learns from the markers' arrival that a source
 * stage's shard is active. No marker when `marker` is undefined: a keyed shard with nothing to say (see
 * StageResult.marker).
 *
 * The stream may be resharded while the job runs (`shardflow rescale`): an envelope addressed to a shard
 * that has closed lands on the open shard owning its hash key now, which ignores it (the envelope names
 * its destination). Kinesis says where each record landed, so such a chain's elements are routed again
 * over the shards as they are now and sent again, in order, before the markers: every element reaches
 * the shard that owns its key's hash — the shard whose state took over that key's hash range. On a
 * stream with several lanes, the sender's name says its lane (see Lane).
 *
 * A next stage with `keyGroups` > 1 (ParallelizationFactor, lib/runtime/keyed/key-groups.ts) takes one chain
 * per (shard, key group), under the group's partition key and addressed to that logical shard, and a
 * marker per (shard, key group): concurrent batches of one shard never share a group.
 */
export async function emitShuffle(writer: KinesisWriter, fromShard: string, lane: string, elements: readonly KeyedElement[], marker: Marker | undefined, keyGroups = 1): Promise<{ envelopes: number; markers: number }> {
  let shards = await writer.openShards();
  const sender = senderOf(lane, fromShard);
  let envelopes = 0;
  let pending = elements;
  for (let round = 0; pending.length > 0; round++) {
    const routes = routeByShard(sender, lane, pending, shards, keyGroups);
    const landed = await writer.put(routes.map((r) => r.chain));
    envelopes += routes.reduce((n, r) => n + r.chain.length, 0);
    const misrouted = new Set(routes.filter((r, i) => landed[i]!.some((shardId) => shardId !== '' && shardId !== r.shard.shardId)));
    if (misrouted.size === 0) break;
    if (round + 1 >= MAX_REROUTES) throw new Error(`${writer.stream}: envelopes kept landing on other shards than their route after ${MAX_REROUTES} fresh shard lists — is the stream being resharded over and over?`);
    writer.forgetShards();
    shards = await writer.openShards();
    // In their first order: each sender's elements reach a shard in position order.
    const again = new Set([...misrouted].flatMap((r) => r.elements));
    pending = pending.filter((e) => again.has(e));
  }
  if (marker === undefined) return { envelopes, markers: 0 };
  const data = encodeMarker(sender, marker);
  const partitionKeys = keyGroups <= 1 ? [sender] : Array.from({ length: keyGroups }, (_, g) => groupPartitionKey(g));
  let markers = 0;
  for (let round = 0; ; round++) {
    const landed = await writer.put(shards.flatMap((s) => partitionKeys.map((partitionKey) => [{ partitionKey, data, explicitHashKey: s.startingHashKey.toString() }])));
    markers += shards.length * partitionKeys.length;
    // A marker on a shard it was not meant for is harmless (a sender's watermark holds for every shard); the
    // shards the stale list missed get theirs now.
    if (shards.every((s, i) => [s.shardId, ''].includes(landed[i * partitionKeys.length]![0]!)) || round + 1 >= MAX_REROUTES) return { envelopes, markers };
    writer.forgetShards();
    shards = await writer.openShards();
  }
}

/** A destination shard's envelope chain and the elements in it. */
export interface Route {
  readonly shard: ShardRange;
  readonly chain: Chain;
  readonly elements: readonly KeyedElement[];
}

/**
 * Per sender and destination (logical) shard, the elements' envelopes: a redriven record's elements go
 * under its redrive's input, whose positions are its own (lib/io/redrive.ts); everything else under this
 * shard (as its lane names it). With key groups, the partition key is the key's group.
 */
export function routeByShard(sender: string, lane: string, elements: readonly KeyedElement[], shards: readonly ShardRange[], keyGroups = 1): Route[] {
  const chainsBy = new Map<string, { from: string; shard: ShardRange; group: number; list: KeyedElement[] }>();
  const routeOf = new Map<string, { shard: ShardRange; group: number }>();
  for (const e of elements) {
    let route = routeOf.get(e.key);
    if (!route) routeOf.set(e.key, (route = { shard: shardForKey(shards, e.key), group: keyGroupOf(e.key, keyGroups) }));
    const from = isRedriveInput(e.origin.shardId) ? redriveSenderOf(lane, e.origin.shardId) : sender;
    const id = `${from} ${route.shard.shardId} ${route.group}`;
    let chain = chainsBy.get(id);
    if (!chain) chainsBy.set(id, (chain = { from, ...route, list: [] }));
    chain.list.push(e);
  }
  return [...chainsBy.values()].map(({ from, shard, group, list }) => {
    const partitionKey = keyGroups <= 1 ? sender : groupPartitionKey(group);
    return {
      shard,
      elements: list,
      chain: encodeEnvelopes(from, list, MAX_ENVELOPE_BYTES, logicalShard(shard.shardId, group, keyGroups)).map((data) => ({ partitionKey, data, explicitHashKey: shard.startingHashKey.toString() })),
    };
  });
}

/** A redrive's input as a sender on a lane: `redrive:` stays first, so that it is still known as a redrive's. */
const redriveSenderOf = (lane: string, input: string): string => (lane === '' ? input : `${REDRIVE_PREFIX}${lane}/${input.slice(REDRIVE_PREFIX.length)}`);
