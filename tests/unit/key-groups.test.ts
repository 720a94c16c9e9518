/**
 * Key groups (ParallelizationFactor above 1 on a keyed stage): a key's group, the logical shards' names,
 * a batch split by key group, and how a sender routes envelopes and markers to (shard, key group).
 */
import { groupOfPartitionKey, groupPartitionKey, keyGroupOf, logicalShard, logicalShardsOf, shardOfLogical } from '../../lib/runtime/keyed/key-groups';
import { splitByKeyGroup } from '../../lib/io/stage-handler';
import { emitShuffle, routeByShard } from '../../lib/io/shuffle-emitter';
import { decodeShuffleRecord } from '../../lib/io/envelope';
import { shardForKey, type ShardRange } from '../../lib/io/shard-map';
import type { KinesisStreamRecord } from '../../lib/io/kinesis-event';
import type { Chain, KinesisWriter } from '../../lib/io/kinesis-writer';
import type { KeyedElement } from '../../lib/runtime/records';
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { harness } from 'shardflow/testing';
import { createWatermarkHandler } from '../../lib/io/watermark-handler';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { MemoryCoordination } from '../../lib/state/coordination';

/** Every source record is delivered before the ticks that follow it, in these tests: no source shard has a backlog. */
const allRead = async (): Promise<boolean> => false;

const MAX_HASH = (1n << 128n) - 1n;
/** `n` shards splitting the hash-key space evenly, as Kinesis creates them. */
const evenShards = (n: number): ShardRange[] =>
  Array.from({ length: n }, (_, i) => ({ shardId: `shardId-${String(i).padStart(12, '0')}`, startingHashKey: (MAX_HASH / BigInt(n)) * BigInt(i) + (i === 0 ? 0n : 1n), endingHashKey: i === n - 1 ? MAX_HASH : (MAX_HASH / BigInt(n)) * BigInt(i + 1) }));

const element = (key: string, sequenceNumber: string): KeyedElement => ({ key, origin: { shardId: 'shardId-000000000007', sequenceNumber, subIndex: 0 }, timestampMs: 1000, value: { key } });

test("a key's group is stable, within 0..K-1, and spreads the keys of ONE shard evenly (not by their MD5, which that shard's keys share)", () => {
  const shards = evenShards(4);
  const counts = [0, 0, 0];
  let inShard = 0;
  for (let i = 0; inShard < 3000; i++) {
    const key = `user-${i}`;
    if (shardForKey(shards, key).shardId !== shards[0]!.shardId) continue;
    inShard++;
    const group = keyGroupOf(key, 3);
    expect(keyGroupOf(key, 3)).toBe(group);
    counts[group]!++;
  }
  for (const c of counts) expect(c).toBeGreaterThan(800);
  // One group: every key in group 0.
  expect(keyGroupOf('anything', 1)).toBe(0);
  // Pinned: FNV-1a of "a" is 0xe40c292c (a change would move every key's state to another log).
  expect(keyGroupOf('a', 7)).toBe(0xe40c292c % 7);
});

test('logical shards: the shard itself with one group, `<shard>.g<k>` with several, and back', () => {
  expect(logicalShard('shardId-000000000001', 0, 1)).toBe('shardId-000000000001');
  expect(logicalShardsOf('shardId-000000000001', 1)).toEqual(['shardId-000000000001']);
  expect(logicalShardsOf('shardId-000000000001', 3)).toEqual(['shardId-000000000001.g0', 'shardId-000000000001.g1', 'shardId-000000000001.g2']);
  expect(shardOfLogical('shardId-000000000001.g2', 3)).toEqual({ shardId: 'shardId-000000000001', group: 2 });
  expect(shardOfLogical('shardId-000000000001', 1)).toEqual({ shardId: 'shardId-000000000001', group: 0 });
  expect(() => shardOfLogical('shardId-000000000001.g3', 3)).toThrow("'shardId-000000000001.g3' is not a logical shard of a stage with 3 key groups (<shard>.g<0..2>)");
  expect(() => shardOfLogical('shardId-000000000001', 3)).toThrow(/is not a logical shard/);
  expect(groupPartitionKey(4)).toBe('g4');
  expect(groupOfPartitionKey('g4', 5)).toBe(4);
  expect(groupOfPartitionKey('g5', 5)).toBeUndefined();
  expect(groupOfPartitionKey('tick', 5)).toBeUndefined();
  expect(groupOfPartitionKey('shardId-000000000001', 5)).toBeUndefined();
});

const record = (partitionKey: string, sequenceNumber: string): KinesisStreamRecord =>
  ({ eventID: `shardId-000000000000:${sequenceNumber}`, kinesis: { data: '', sequenceNumber, partitionKey } }) as KinesisStreamRecord;

test('a batch splits by key group, each group keeping its records in order; a record under another partition key fails the batch, saying why', () => {
  const split = splitByKeyGroup('s1', [record('g1', '1'), record('g0', '2'), record('g1', '3'), record('g2', '4'), record('g0', '5')], 3);
  expect([...split.entries()].map(([g, rs]) => [g, rs.map((r) => r.kinesis.sequenceNumber)])).toEqual([
    [1, ['1', '3']],
    [0, ['2', '5']],
    [2, ['4']],
  ]);
  expect(() => splitByKeyGroup('s1', [record('g0', '1'), record('shardId-000000000003', '2')], 3)).toThrow(
    "stage s1 has 3 key groups, but record 2 has partition key 'shardId-000000000003', which names none (g0..g2): were its key groups changed while records were in flight?",
  );
});

test("a sender routes each key to its shard's key group: partition key = the group (the same from every sender), addressed to the logical shard", () => {
  const shards = evenShards(2);
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  const routes = routeByShard('shardId-000000000007', '', keys.map((k, i) => element(k, String(i + 1))), shards, 3);
  const seen = new Set<string>();
  for (const route of routes) {
    for (const entry of route.chain) {
      const envelope = decodeShuffleRecord(Buffer.from(entry.data));
      if (envelope.kind !== 'envelope') throw new Error('not an envelope');
      const group = groupOfPartitionKey(entry.partitionKey, 3)!;
      expect(envelope.to).toBe(logicalShard(route.shard.shardId, group, 3));
      expect(envelope.from).toBe('shardId-000000000007');
      expect(entry.explicitHashKey).toBe(route.shard.startingHashKey.toString());
      for (const e of envelope.elements) {
        expect(keyGroupOf(e.key, 3)).toBe(group);
        expect(shardForKey(shards, e.key).shardId).toBe(route.shard.shardId);
        seen.add(e.key);
      }
      // In the sender's order within each chain.
      const positions = envelope.elements.map((e) => Number(e.origin.sequenceNumber));
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    }
  }
  expect(seen).toEqual(new Set(keys));
  expect(new Set(routes.map((r) => `${r.shard.shardId} ${r.chain[0]!.partitionKey}`)).size).toBe(6);

  // One group: the chain per shard, under the sender's name, addressed to the shard — as before key groups.
  const single = routeByShard('shardId-000000000007', '', keys.map((k, i) => element(k, String(i + 1))), shards);
  expect(single.map((r) => [r.chain[0]!.partitionKey, (decodeShuffleRecord(Buffer.from(r.chain[0]!.data)) as { to: string }).to])).toEqual(
    shards.filter((s) => single.some((r) => r.shard === s)).map((s) => ['shardId-000000000007', s.shardId]),
  );
});

test("markers go to every (shard, key group) under the group's partition key, after the envelopes", async () => {
  const shards = evenShards(2);
  const puts: Chain[][] = [];
  const writer = {
    stream: 'next',
    openShards: async () => shards,
    forgetShards: () => {},
    // Lands each entry on the shard its explicit hash key names.
    put: async (chains: readonly Chain[]) => {
      puts.push([...chains]);
      return chains.map((c) => c.map((e) => shards.find((s) => s.startingHashKey <= BigInt(e.explicitHashKey!) && BigInt(e.explicitHashKey!) <= s.endingHashKey)!.shardId));
    },
  } as unknown as KinesisWriter;
  const sent = await emitShuffle(writer, 'shardId-000000000007', '', [element('a', '1'), element('b', '2')], { watermarkMs: 5000 }, 3);
  expect(sent.markers).toBe(6);
  const markers = puts[puts.length - 1]!.flat();
  expect(markers.map((m) => [m.explicitHashKey, m.partitionKey])).toEqual(shards.flatMap((s) => ['g0', 'g1', 'g2'].map((g) => [s.startingHashKey.toString(), g])));
  for (const m of markers) expect(decodeShuffleRecord(Buffer.from(m.data))).toEqual({ kind: 'marker', from: 'shardId-000000000007', watermarkMs: 5000 });
});

test('the watermark function ticks every (shard, key group) under the group’s partition key, naming an upstream keyed stage’s logical shards', async () => {
  type Click = { userId: string; clicks: number; ts: number };
  const plan = planJob(
    job('ticked')
      .source(kinesisSource<Click>('ticked-in', { eventTime: (c) => c.ts, shards: 1 }))
      .keyBy('userId')
      .window(tumbling('1s'))
      .sum('clicks')
      .parallelism(2)
      .settings({ parallelizationFactor: 2 })
      .keyBy('key')
      .window(tumbling('1s'))
      .sum('clicks')
      .parallelism(2)
      .settings({ parallelizationFactor: 3 })
      .sink(dynamoSink('ticked-out')),
  );
  const shardsOf = (stream: string): string[] => (stream === 'ticked-in' ? ['shardId-000000000000'] : ['shardId-000000000000', 'shardId-000000000001']);
  const puts: { stream: string; partitionKey: string; explicitHashKey: string; data: unknown }[] = [];
  const writerFor = (stream: string) =>
    ({
      stream,
      openShards: async () => shardsOf(stream).map((shardId, i) => ({ shardId, startingHashKey: BigInt(i), endingHashKey: BigInt(i) })),
      forgetShards: () => {},
      put: async (chains: readonly Chain[]) => {
        for (const c of chains) for (const e of c) puts.push({ stream, partitionKey: e.partitionKey, explicitHashKey: e.explicitHashKey!, data: decodeShuffleRecord(Buffer.from(e.data)) });
        return chains.map((c) => c.map((e) => shardsOf(stream)[Number(e.explicitHashKey)]!));
      },
    }) as unknown as KinesisWriter;
  const tick = createWatermarkHandler({ plan, logs: new MemoryLogStore(), coordination: new MemoryCoordination(), writerFor, sourceBacklog: allRead, listShards: async (stream) => shardsOf(stream) });
  const [first, second] = await tick();
  // Every logical shard of each stage: 2 shards × 2 groups, 2 shards × 3 groups.
  expect([first, second].map((t) => [t!.stage, t!.ticks, t!.shards])).toEqual([
    ['s1', 4, 4],
    ['s2', 6, 6],
  ]);
  const of = (stream: string) => puts.filter((p) => p.stream === stream).map((p) => `${p.explicitHashKey} ${p.partitionKey}`);
  expect(of(plan.stages[1]!.input.stream)).toEqual(['0 g0', '0 g1', '1 g0', '1 g1']);
  expect(of(plan.stages[2]!.input.stream)).toEqual(['0 g0', '0 g1', '0 g2', '1 g0', '1 g1', '1 g2']);
  // s1 waits for the source's shard; s2 for each logical shard of s1.
  expect(puts.find((p) => p.stream === plan.stages[1]!.input.stream)!.data).toEqual({ kind: 'tick', upstream: ['shardId-000000000000'] });
  expect(puts.find((p) => p.stream === plan.stages[2]!.input.stream)!.data).toEqual({
    kind: 'tick',
    upstream: ['shardId-000000000000.g0', 'shardId-000000000000.g1', 'shardId-000000000001.g0', 'shardId-000000000001.g1'],
  });
});

test('the in-process harness (and `shardflow run`) runs a job with key groups one batch at a time, with the results of parallelizationFactor 1', async () => {
  type Click = { userId: string; clicks: number; ts: number };
  const counts = (p: number) =>
    job(`harnessed-${p}`)
      .source(kinesisSource<Click>('harnessed-in', { eventTime: (c) => c.ts, shards: 2 }))
      .keyBy('userId')
      .window(tumbling('1s'))
      .sum('clicks')
      .settings({ parallelizationFactor: p })
      .keyBy('key')
      .window(tumbling('1s'))
      .sum('clicks')
      .settings({ parallelizationFactor: p })
      .sink(dynamoSink('harnessed-out'));
  const resultsOf = async (p: number): Promise<unknown[]> => {
    const h = harness(counts(p));
    for (let i = 0; i < 30; i++) await h.send({ userId: `u${i % 7}`, clicks: i, ts: 100 * i });
    await h.watermark(10_000);
    return h.results();
  };
  const one = await resultsOf(1);
  expect(one.length).toBeGreaterThan(7);
  expect(await resultsOf(3)).toEqual(one);
});
