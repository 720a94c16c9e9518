/**
 * A keyed stage's shuffle stream resharded under it (split, merge): each child shard starts from its
 * parents' state for its hash range — keys, watermark, what they applied of each upstream shard — so a
 * window open across the reshard counts every element once. And the shuffle emitter, with a route map gone
 * stale by a reshard, sends what landed on the wrong shard again, where the key's state now is.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { emitShuffle } from '../../lib/io/shuffle-emitter';
import type { Chain, KinesisWriter } from '../../lib/io/kinesis-writer';
import { decodeShuffleRecord } from '../../lib/io/envelope';
import { hashKeyOf, type ShardRange } from '../../lib/io/shard-map';
import { keyGroupOf } from '../../lib/runtime/keyed/key-groups';
import type { KeyedElement } from '../../lib/runtime/records';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { inheritFromParents } from '../../lib/runtime/keyed/inheritance';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardState } from '../../lib/state/shard-state';
import { ShardStates } from '../../lib/state/shard-states';

type Click = { userId: string; clicks: number; ts: number };
const plan = planJob(
  job('rescaled')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, shards: 1 }))
    .keyBy((c) => c.userId)
    .window(tumbling('10s'))
    .sum('clicks')
    .sink(dynamoSink('out')),
);
const MAX_HASH = 2n ** 128n - 1n;

/** Two users whose keys hash into different halves, and the hash key between them. */
const [low, high] = ['ann', 'bob', 'cy', 'dee', 'eve'].sort((a, b) => (hashKeyOf(a) < hashKeyOf(b) ? -1 : 1)).filter((_, i, all) => i === 0 || i === all.length - 1) as [string, string];
const middle = hashKeyOf(high);

/** A stage-s1 executor over one log store, with the shard lineage given. */
function executor(store: MemoryLogStore, lineage: Record<string, { parents: string[]; startingHashKey: bigint; endingHashKey: bigint }>): StageExecutor {
  return new StageExecutor(plan, plan.stages[1]!, new ShardStates(store), async (shardId) => lineage[shardId]);
}

let seq = 0;
/** An upstream shard's elements as an envelope, addressed to `to`. */
const envelope = (elements: readonly KeyedElement[], to?: string): ShuffleInput => ({ kind: 'envelope', sequenceNumber: String(++seq), arrivalMs: 1_000 + seq, from: 'u0', elements, ...(to && { to }) });
const marker = (watermarkMs: number): ShuffleInput => ({ kind: 'marker', sequenceNumber: String(++seq), arrivalMs: 1_000 + seq, from: 'u0', watermarkMs });
/** Clicks of upstream shard u0 at positions first, first+1, …: one per user given, 1 click each at ts 1000. */
const clicks = (first: number, users: readonly string[]): KeyedElement[] => users.map((u, i) => ({ key: u, origin: { shardId: 'u0', sequenceNumber: String(first + i), subIndex: 0 }, timestampMs: 1_000, value: { userId: u, clicks: 1, ts: 1_000 } }));

/** Runs a batch on a shard and commits it; returns the window results it fired. */
async function run(on: StageExecutor, shardId: string, inputs: readonly ShuffleInput[]): Promise<Record<string, unknown>[]> {
  const batch = await on.run({ kind: 'shuffled', shardId, inputs });
  expect(await batch.commit()).not.toBe('lost');
  return batch.result.outputs.map((o) => o.output.record);
}

const sums = (results: Record<string, unknown>[]): Record<string, number> => Object.fromEntries(results.map((r) => [r.key as string, r.clicks as number]));

test('a split: each child takes its half of the keys, with their open windows, and counts on from there', async () => {
  const store = new MemoryLogStore();
  const lineage = {
    p: { parents: [], startingHashKey: 0n, endingHashKey: MAX_HASH },
    c1: { parents: ['p'], startingHashKey: 0n, endingHashKey: middle - 1n },
    c2: { parents: ['p'], startingHashKey: middle, endingHashKey: MAX_HASH },
  };
  const x = executor(store, lineage);
  await run(x, 'p', [envelope(clicks(1, [low, high]), 'p'), marker(500)]);
  // After the split the upstream shard sends each key to the child that owns its hash, then passes the window.
  expect(sums(await run(x, 'c1', [envelope(clicks(3, [low]), 'c1'), marker(20_000)]))).toEqual({ [low]: 2 });
  expect(sums(await run(x, 'c2', [envelope(clicks(4, [high]), 'c2'), marker(20_000)]))).toEqual({ [high]: 2 });
});

test('a merge after an upstream batch reached one parent only: the child applies the other part once and skips the first', async () => {
  const store = new MemoryLogStore();
  const lineage = {
    a: { parents: [], startingHashKey: 0n, endingHashKey: middle - 1n },
    b: { parents: [], startingHashKey: middle, endingHashKey: MAX_HASH },
    m: { parents: ['a', 'b'], startingHashKey: 0n, endingHashKey: MAX_HASH },
  };
  const x = executor(store, lineage);
  // Batch W (positions 1, 2) reached both parents.
  await run(x, 'a', [envelope(clicks(1, [low]), 'a'), marker(500)]);
  await run(x, 'b', [envelope(clicks(2, [high]), 'b'), marker(500)]);
  // Batch X (position 3 for b's key, 4 for a's) reached a, then its sender died before b's envelope.
  const batchX = clicks(3, [high, low]);
  await run(x, 'a', [envelope([batchX[1]!], 'a')]);
  // After the merge the retried batch X comes to m whole, then a marker past the window: position 3 is new
  // there (b never had it), 4 is not (a had it) — one mark for both, the higher, would drop 3.
  const fired = await run(x, 'm', [envelope(batchX, 'm'), marker(20_000)]);
  expect(sums(fired)).toEqual({ [low]: 2, [high]: 2 });
});

test("a merge then a split before the merged shard ran: the children take the grandparents' state, and skip what those applied", async () => {
  // Chaos session 3016: shards 0 and 1 merged into 2, and 2 split into 3 and 4 within a second; 2 got no
  // record, so it had no log, and its children started empty — a session lost its first event.
  const store = new MemoryLogStore();
  const lineage = {
    a: { parents: [], startingHashKey: 0n, endingHashKey: middle - 1n },
    b: { parents: [], startingHashKey: middle, endingHashKey: MAX_HASH },
    m: { parents: ['a', 'b'], startingHashKey: 0n, endingHashKey: MAX_HASH },
    c1: { parents: ['m'], startingHashKey: 0n, endingHashKey: middle - 1n },
    c2: { parents: ['m'], startingHashKey: middle, endingHashKey: MAX_HASH },
  };
  const x = executor(store, lineage);
  await run(x, 'a', [envelope(clicks(1, [low]), 'a'), marker(500)]);
  await run(x, 'b', [envelope(clicks(2, [high]), 'b'), marker(500)]);
  // The upstream batch at positions 3, 4 reached a and b; a retry sends it again, to the children now.
  await run(x, 'a', [envelope(clicks(3, [low]), 'a')]);
  await run(x, 'b', [envelope(clicks(4, [high]), 'b')]);
  expect(sums(await run(x, 'c1', [envelope(clicks(3, [low]), 'c1'), envelope(clicks(5, [low]), 'c1'), marker(20_000)]))).toEqual({ [low]: 3 });
  expect(sums(await run(x, 'c2', [envelope(clicks(4, [high]), 'c2'), marker(20_000)]))).toEqual({ [high]: 2 });
  // m never ran: nothing was written for it.
  expect(await store.readHead({ stageId: 's1', shardId: 'm' })).toBeUndefined();
});

test('a merge of a lagging and a leading parent: the child fires the lagging one\'s windows due below its watermark at its first record, before its marker (chaos chained 4015)', async () => {
  const store = new MemoryLogStore();
  const lineage = {
    p: { parents: [], startingHashKey: 0n, endingHashKey: middle - 1n },
    q: { parents: [], startingHashKey: middle, endingHashKey: MAX_HASH },
    c: { parents: ['p', 'q'], startingHashKey: 0n, endingHashKey: MAX_HASH },
  };
  const x = executor(store, lineage);
  // p lags at 5 s with low's window [0, 10 s) open; q is at 12 s, its own window fired.
  await run(x, 'p', [envelope(clicks(1, [low]), 'p'), marker(5_000)]);
  expect(sums(await run(x, 'q', [envelope(clicks(2, [high]), 'q'), marker(12_000)]))).toEqual({ [high]: 1 });
  // The child starts at 12 s: low's window is due. Its first record (no new watermark) fires it.
  const batch = await x.run({ kind: 'shuffled', shardId: 'c', inputs: [envelope([{ key: low, origin: { shardId: 'u0', sequenceNumber: '9', subIndex: 0 }, timestampMs: 13_000, value: { userId: low, clicks: 1, ts: 13_000 } }], 'c')] });
  await batch.commit();
  expect(batch.result.watermarkMs).toBe(12_000);
  expect(sums(batch.result.outputs.map((o) => o.output.record))).toEqual({ [low]: 1 });
});

test('a merge child of a stage keyed in its source fires what is overdue even when its first batch has no record to begin (all dead-lettered)', async () => {
  const keyedSource = planJob(
    job('rescaled-source')
      .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, partitionedBy: 'userId' }))
      .keyBy('userId')
      .window(tumbling('10s'))
      .sum('clicks')
      .sink(dynamoSink('out')),
  );
  const lineage: Record<string, { parents: string[]; startingHashKey: bigint; endingHashKey: bigint }> = {
    p: { parents: [], startingHashKey: 0n, endingHashKey: middle - 1n },
    q: { parents: [], startingHashKey: middle, endingHashKey: MAX_HASH },
    c: { parents: ['p', 'q'], startingHashKey: 0n, endingHashKey: MAX_HASH },
  };
  const x = new StageExecutor(keyedSource, keyedSource.stages[0]!, new ShardStates(new MemoryLogStore()), async (shardId) => lineage[shardId]);
  const runSource = async (shardId: string, records: readonly { sequenceNumber: string; data: string }[]): Promise<Record<string, number>> => {
    const batch = await x.run({ kind: 'source', shardId, records: records.map((r) => ({ shardId, ...r })) });
    expect(await batch.commit()).not.toBe('lost');
    return sums(batch.result.outputs.map((o) => o.output.record));
  };
  const click = (userId: string, ts: number): string => JSON.stringify({ userId, clicks: 1, ts });
  // p lags at 5 s with low's window [0, 10 s) open; q reaches 12 s.
  expect(await runSource('p', [{ sequenceNumber: '1', data: click(low, 1_000) }, { sequenceNumber: '2', data: click(low, 5_000) }])).toEqual({});
  expect(await runSource('q', [{ sequenceNumber: '1', data: click(high, 12_000) }])).toEqual({});
  // The child inherits 12 s, below which low's window is due; its first batch is one malformed record.
  expect(await runSource('c', [{ sequenceNumber: '9', data: '{not json' }])).toEqual({ [low]: 2 });
});

test('an envelope that a stale route map sent to another shard changes nothing there', async () => {
  const store = new MemoryLogStore();
  const x = executor(store, { c1: { parents: [], startingHashKey: 0n, endingHashKey: middle - 1n } });
  expect(await run(x, 'c1', [envelope(clicks(1, [low, high]), 'p'), envelope(clicks(3, [low]), 'c1'), marker(20_000)])).toEqual([expect.objectContaining({ key: low, clicks: 1 })]);
});

describe('the shuffle emitter with a route map gone stale', () => {
  /** A stream whose shards change under a writer that cached them: `put` lands records where Kinesis would now. */
  function reshardedStream(cached: ShardRange[], now: ShardRange[]) {
    const landedOn: { shardId: string; record: ReturnType<typeof decodeShuffleRecord> }[] = [];
    let current = cached;
    const writer = {
      stream: 'rescaled-s1',
      openShards: async () => current,
      forgetShards: () => void (current = now),
      put: async (chains: readonly Chain[]) =>
        chains.map((chain) =>
          chain.map((e) => {
            const h = BigInt(e.explicitHashKey!);
            const shardId = now.find((s) => s.startingHashKey <= h && h <= s.endingHashKey)!.shardId;
            landedOn.push({ shardId, record: decodeShuffleRecord(Buffer.from(e.data)) });
            return shardId;
          }),
        ),
    } as unknown as KinesisWriter;
    return { writer, landedOn };
  }

  test('after a split, a chain addressed to the closed parent is sent again to each child for its keys, then markers go to the children', async () => {
    const parent = { shardId: 'p', startingHashKey: 0n, endingHashKey: MAX_HASH };
    const children = [
      { shardId: 'c1', startingHashKey: 0n, endingHashKey: middle - 1n },
      { shardId: 'c2', startingHashKey: middle, endingHashKey: MAX_HASH },
    ];
    const { writer, landedOn } = reshardedStream([parent], children);
    const elements = clicks(1, [low, high, low]);
    await emitShuffle(writer, 'u0', '', elements, { watermarkMs: 900 });
    // The first envelope (to p) landed on c1, which ignores it; then each child gets its keys, in order; then markers.
    expect(landedOn.map((l) => [l.shardId, l.record.kind, l.record.kind === 'envelope' ? [l.record.to, l.record.elements.map((e) => e.origin.sequenceNumber)] : l.record.kind === 'marker' ? l.record.watermarkMs : undefined])).toEqual([
      ['c1', 'envelope', ['p', ['1', '2', '3']]],
      ['c1', 'envelope', ['c1', ['1', '3']]],
      ['c2', 'envelope', ['c2', ['2']]],
      ['c1', 'marker', 900],
      ['c2', 'marker', 900],
    ]);
  });

  test('routes that are still right send once', async () => {
    const shards = [{ shardId: 's', startingHashKey: 0n, endingHashKey: MAX_HASH }];
    const { writer, landedOn } = reshardedStream(shards, shards);
    expect(await emitShuffle(writer, 'u0', '', clicks(1, [low, high]), { watermarkMs: 900 })).toEqual({ envelopes: 1, markers: 1 });
    expect(landedOn).toHaveLength(2);
  });
});

test('with key groups (parallelizationFactor 2): a split child’s key group takes its parents’ same group for its range, and nothing of the other group', async () => {
  const grouped = planJob(
    job('rescaled-groups')
      .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, shards: 1 }))
      .keyBy((c) => c.userId)
      .window(tumbling('10s'))
      .sum('clicks')
      .settings({ parallelizationFactor: 2 })
      .sink(dynamoSink('out')),
  );
  // Keys on both sides of the split, in both key groups.
  const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  const half = MAX_HASH / 2n;
  const sideOf = (u: string): 'c1' | 'c2' => (hashKeyOf(u) <= half ? 'c1' : 'c2');
  const groupOf = (u: string): number => keyGroupOf(u, 2);
  expect(new Set(users.map((u) => `${sideOf(u)} ${groupOf(u)}`)).size).toBe(4);
  const lineage: Record<string, { parents: string[]; startingHashKey: bigint; endingHashKey: bigint }> = {
    p: { parents: [], startingHashKey: 0n, endingHashKey: MAX_HASH },
    c1: { parents: ['p'], startingHashKey: 0n, endingHashKey: half },
    c2: { parents: ['p'], startingHashKey: half + 1n, endingHashKey: MAX_HASH },
  };
  const x = new StageExecutor(grouped, grouped.stages[1]!, new ShardStates(new MemoryLogStore()), async (shardId) => lineage[shardId]);
  // Before the split: each key's click went to its group of the parent.
  for (const g of [0, 1]) await run(x, `p.g${g}`, [envelope(clicks(100 * (g + 1), users.filter((u) => groupOf(u) === g)), `p.g${g}`), marker(500)]);
  // After it: one more click per key to its child's group, then the window passes.
  for (const child of ['c1', 'c2'] as const) {
    for (const g of [0, 1]) {
      const mine = users.filter((u) => sideOf(u) === child && groupOf(u) === g);
      const fired = sums(await run(x, `${child}.g${g}`, [envelope(clicks(1000 + 100 * g + (child === 'c1' ? 0 : 50), mine), `${child}.g${g}`), marker(20_000)]));
      expect(fired).toEqual(Object.fromEntries(mine.map((u) => [u, 2])));
    }
  }
});

test('a merge child takes an idle upstream shard as its parents last heard it: idle in both, owing what the later status said', () => {
  const parent = (status: { idle: boolean; statusAt: string; owes?: number }) => {
    const state = new ShardState();
    state.setInput('s1', { watermarkMs: 3_000, heardAtMs: 100, ...status });
    return state;
  };
  const merged = (a: ShardState, b: ShardState) => {
    const child = new ShardState();
    inheritFromParents(child, { startingHashKey: 0n, endingHashKey: MAX_HASH }, [{ state: a, range: { startingHashKey: 0n, endingHashKey: middle - 1n } }, { state: b, range: { startingHashKey: middle, endingHashKey: MAX_HASH } }], true);
    return child.input('s1');
  };
  // The second parent heard a later idle marker (the sender fired 4999 and owes 9999 now): that one counts.
  expect(merged(parent({ idle: true, statusAt: '5', owes: 4_999 }), parent({ idle: true, statusAt: '7', owes: 9_999 }))).toMatchObject({ idle: true, statusAt: '7', owes: 9_999 });
  expect(merged(parent({ idle: true, statusAt: '7', owes: 9_999 }), parent({ idle: true, statusAt: '5', owes: 4_999 }))).toMatchObject({ idle: true, statusAt: '7', owes: 9_999 });
  // Active in one parent: active, owing nothing (it holds the watermark itself).
  expect(merged(parent({ idle: true, statusAt: '5', owes: 4_999 }), parent({ idle: false, statusAt: '7' }))).not.toHaveProperty('owes');
});
