/**
 * Property tests: for random click streams — a few keys, random clicks, event times out of order within the
 * declared bound, random batching, random shards (order kept per shard), random interleaving of shards —
 * the streaming job with the strategy watermark gives exactly the windows a direct batch computation gives,
 * and replaying batches as Lambda retries them changes nothing.
 *
 * Seeded (set FC_SEED to explore other cases); runs are bounded to keep the file at a few seconds.
 */
import fc from 'fast-check';
import { dynamoSink, job, kinesisSource, session, sliding, tumbling, type JobDefinition } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';

type Click = { userId: string; clicks: number; ts: number };
type Result = Record<string, unknown>;

const SEED = Number(process.env.FC_SEED ?? 424242);
const RUNS = 200;
const OUT_OF_ORDERNESS_MS = 1500;
const SHARDS = 3;
const KEYS = ['a', 'b', 'c'] as const;

const clicksJob = () =>
  job('property')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: OUT_OF_ORDERNESS_MS, shards: SHARDS }))
    .keyBy((c) => c.userId);

const mod = (a: number, b: number): number => ((a % b) + b) % b;

/** A job and the same computation done directly over all events at once. */
interface Case {
  readonly name: string;
  readonly job: JobDefinition;
  readonly expected: (events: readonly Click[]) => Result[];
  /**
   * The largest delay behind the latest event time an event may have. Sessions get one less than the
   * declared bound: an event exactly `outOfOrderness` behind sits at watermark + 1, which touches (and in a
   * batch computation would merge with) a session that ended there — one Flink, like us, has already
   * fired and purged.
   */
  readonly maxDelayMs: number;
}

function tumblingSums(sizeMs: number, events: readonly Click[]): Result[] {
  const sums = new Map<string, Result & { clicks: number }>();
  for (const e of events) {
    const start = e.ts - mod(e.ts, sizeMs);
    const id = `${e.userId}/${start}`;
    const r = sums.get(id) ?? { key: e.userId, windowStart: start, windowEnd: start + sizeMs, clicks: 0 };
    r.clicks += e.clicks;
    sums.set(id, r);
  }
  return [...sums.values()];
}

function slidingCounts(sizeMs: number, slideMs: number, events: readonly Click[]): Result[] {
  const counts = new Map<string, Result & { count: number }>();
  for (const e of events) {
    for (let start = e.ts - mod(e.ts, slideMs); start > e.ts - sizeMs; start -= slideMs) {
      const id = `${e.userId}/${start}`;
      const r = counts.get(id) ?? { key: e.userId, windowStart: start, windowEnd: start + sizeMs, count: 0 };
      r.count += 1;
      counts.set(id, r);
    }
  }
  return [...counts.values()];
}

function sessionSums(gapMs: number, events: readonly Click[]): Result[] {
  const sessions: Result[] = [];
  for (const key of KEYS) {
    const mine = events.filter((e) => e.userId === key).sort((x, y) => x.ts - y.ts);
    let current: { key: string; windowStart: number; windowEnd: number; clicks: number } | undefined;
    for (const e of mine) {
      // Sessions that touch merge (Flink's TimeWindow.intersects).
      if (current && e.ts <= current.windowEnd) {
        current.windowEnd = Math.max(current.windowEnd, e.ts + gapMs);
        current.clicks += e.clicks;
      } else {
        if (current) sessions.push(current);
        current = { key, windowStart: e.ts, windowEnd: e.ts + gapMs, clicks: e.clicks };
      }
    }
    if (current) sessions.push(current);
  }
  return sessions;
}

const cases: Case[] = [
  { name: 'tumbling sum', job: clicksJob().window(tumbling('1s')).sum('clicks').sink(dynamoSink('sums')), expected: (es) => tumblingSums(1000, es), maxDelayMs: OUT_OF_ORDERNESS_MS },
  { name: 'sliding count', job: clicksJob().window(sliding('2s', '500ms')).count().sink(dynamoSink('counts')), expected: (es) => slidingCounts(2000, 500, es), maxDelayMs: OUT_OF_ORDERNESS_MS },
  { name: 'session sum', job: clicksJob().window(session('800ms')).sum('clicks').sink(dynamoSink('sessions')), expected: (es) => sessionSums(800, es), maxDelayMs: OUT_OF_ORDERNESS_MS - 1 },
];

/** One generated event before placement: when it happens, how late it is stamped, where and how it is sent. */
interface Draw {
  key: string;
  clicks: number;
  advanceMs: number;
  delayMs: number;
  shard: number;
  endsBatch: boolean;
}

interface Scenario {
  events: Click[];
  /** Per shard, its batches in order. */
  batches: Click[][][];
  /** Which shard delivers its next batch, in turn (shards keep their order; shards interleave freely). */
  deliveries: number[];
  /** For each delivery: replay that batch afterwards (as Lambda retries it), and how: whole or in halves. */
  retries: ('none' | 'whole' | 'halves')[];
}

const scenario = (maxDelayMs: number): fc.Arbitrary<Scenario> =>
  fc
    .record({
      startMs: fc.integer({ min: -5000, max: 5000 }),
      draws: fc.array(
        fc.record({
          key: fc.constantFrom(...KEYS),
          clicks: fc.integer({ min: 0, max: 9 }),
          advanceMs: fc.integer({ min: 0, max: 600 }),
          delayMs: fc.integer({ min: 0, max: maxDelayMs }),
          shard: fc.integer({ min: 0, max: SHARDS - 1 }),
          endsBatch: fc.boolean(),
        }),
        { maxLength: 50 },
      ),
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 60 }),
      retries: fc.array(fc.constantFrom('none' as const, 'none' as const, 'whole' as const, 'halves' as const), { minLength: 1, maxLength: 60 }),
    })
    .map(({ startMs, draws, picks, retries }) => build(startMs, draws, picks, retries));

/**
 * Event times: a clock moving forward, each event stamped up to maxDelay behind it — so no event is more
 * than maxDelay behind any event before it, whatever shard it is on.
 */
function build(startMs: number, draws: readonly Draw[], picks: readonly number[], retryChoices: readonly Scenario['retries'][number][]): Scenario {
  let clock = startMs;
  const events: Click[] = [];
  const batches: Click[][][] = Array.from({ length: SHARDS }, () => []);
  const open: Click[][] = Array.from({ length: SHARDS }, () => []);
  for (const d of draws) {
    clock += d.advanceMs;
    const e = { userId: d.key, clicks: d.clicks, ts: clock - d.delayMs };
    events.push(e);
    open[d.shard]!.push(e);
    if (d.endsBatch) batches[d.shard]!.push(open[d.shard]!.splice(0));
  }
  open.forEach((rest, shard) => rest.length > 0 && batches[shard]!.push(rest));

  const remaining = batches.map((b) => b.length);
  const deliveries: number[] = [];
  for (let i = 0; remaining.some((n) => n > 0); i++) {
    const ready = remaining.flatMap((n, shard) => (n > 0 ? [shard] : []));
    const shard = ready[picks[i % picks.length]! % ready.length]!;
    deliveries.push(shard);
    remaining[shard]! -= 1;
  }
  return { events, batches, deliveries, retries: deliveries.map((_, i) => retryChoices[i % retryChoices.length]!) };
}

const shardName = (shard: number): string => `shard-${shard}`;

/** Sends the batches in the scenario's order; after each, `afterBatch` may replay it. */
async function deliver(h: Harness, s: Scenario, afterBatch?: (records: Parameters<Harness['replay']>[0], retry: Scenario['retries'][number]) => Promise<void>): Promise<void> {
  const next = s.batches.map(() => 0);
  const sequence = s.batches.map(() => 1n);
  for (const [i, shard] of s.deliveries.entries()) {
    const batch = s.batches[shard]![next[shard]!++]!;
    // The records as Kinesis delivers them, so a retry can bring the very same ones back.
    const records = batch.map((e, j) => ({ shardId: shardName(shard), sequenceNumber: String(sequence[shard]! + BigInt(j)), data: JSON.stringify(e) }));
    sequence[shard]! += BigInt(batch.length);
    await h.replay(records);
    await afterBatch?.(records, s.retries[i]!);
  }
}

const canonical = (rs: readonly Result[]): string[] => rs.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

describe.each(cases)('$name', ({ job: definition, expected, maxDelayMs }) => {
  test('streaming with the strategy watermark gives exactly the windows of a batch computation', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(maxDelayMs), async (s) => {
        const h = harness(definition, { watermarks: 'strategy' });
        await deliver(h, s);
        await h.finish();
        expect(h.late()).toEqual([]);
        expect(h.deadLetters()).toEqual([]);
        // Every window fired once, with its final value: no late firings, nothing missing, nothing extra.
        expect(canonical(h.results())).toEqual(canonical(expected(s.events)));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('replaying batches as Lambda retries them changes neither state nor results', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(maxDelayMs), async (s) => {
        const h = harness(definition, { watermarks: 'strategy' });
        await deliver(h, s, async (records, retry) => {
          if (retry === 'none') return;
          const before = { state: await h.state(), table: h.table(), watermark: h.currentWatermark() };
          const mid = Math.ceil(records.length / 2);
          for (const part of retry === 'whole' ? [records] : [records.slice(0, mid), records.slice(mid)]) await h.replay(part);
          expect(await h.state()).toEqual(before.state);
          expect(h.table()).toEqual(before.table);
          expect(h.currentWatermark()).toBe(before.watermark);
        });
        await h.finish();
        // Repeats carry the ids they had the first time, so the distinct results are the batch computation's.
        const distinct = new Map(h.outputs().map((o) => [o.id, o.record]));
        expect(canonical([...distinct.values()])).toEqual(canonical(expected(s.events)));
        expect(canonical(h.table())).toEqual(canonical(expected(s.events)));
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
  });
});
