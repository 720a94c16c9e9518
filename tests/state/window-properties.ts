/**
 * Property tests: for random click streams — a few keys, random clicks, event times out of order within the
 * declared bound, random batching, random shards (order kept per shard), random interleaving of shards —
 * the streaming job with the strategy watermark gives exactly the windows a direct batch computation gives,
 * and replaying batches as Lambda retries them changes nothing.
 *
 * Seeded; runs are bounded to keep a file at a few seconds. tests/unit/property.test.ts runs them on the
 * harness's memory store, tests/integration/shard-log-dynamo.test.ts on DynamoDB (dynalite).
 */
import fc from 'fast-check';
import { dynamoSink, job, kinesisSource, session, sliding, tumbling, type JobDefinition } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';
import type { ShardLogStore } from '../../lib/state/shard-log';

type Click = { userId: string; clicks: number; ts: number };
type Result = Record<string, unknown>;

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

/** What events a scenario draws, beyond its defaults (clicks 0–9, a delay up to the given bound, up to 50 events). */
interface DrawOptions {
  readonly clicks?: fc.Arbitrary<number>;
  readonly delayMs?: fc.Arbitrary<number>;
  readonly minEvents?: number;
}

const scenario = (maxDelayMs: number, options: DrawOptions = {}): fc.Arbitrary<Scenario> =>
  fc
    .record({
      startMs: fc.integer({ min: -5000, max: 5000 }),
      draws: fc.array(
        fc.record({
          key: fc.constantFrom(...KEYS),
          clicks: options.clicks ?? fc.integer({ min: 0, max: 9 }),
          advanceMs: fc.integer({ min: 0, max: 600 }),
          delayMs: options.delayMs ?? fc.integer({ min: 0, max: maxDelayMs }),
          shard: fc.integer({ min: 0, max: SHARDS - 1 }),
          endsBatch: fc.boolean(),
        }),
        { minLength: options.minEvents ?? 0, maxLength: 50 },
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

const LATENESS_MS = 1000;

/** A time-windowed job with allowed lateness, its windows, and the result of a window's elements. */
interface LatenessCase {
  readonly name: string;
  readonly job: JobDefinition;
  readonly windowsOf: (ts: number) => { start: number; end: number }[];
  readonly result: (window: { key: string; start: number; end: number }, events: readonly Click[]) => Result;
}

const latenessCases: LatenessCase[] = [
  {
    name: 'tumbling sum',
    job: clicksJob().window(tumbling('1s')).allowedLateness(LATENESS_MS).sum('clicks').sink(dynamoSink('sums')),
    windowsOf: (ts) => [{ start: ts - mod(ts, 1000), end: ts - mod(ts, 1000) + 1000 }],
    result: (w, es) => ({ key: w.key, windowStart: w.start, windowEnd: w.end, clicks: es.reduce((n, e) => n + e.clicks, 0) }),
  },
  {
    name: 'sliding count',
    job: clicksJob().window(sliding('2s', '500ms')).allowedLateness(LATENESS_MS).count().sink(dynamoSink('counts')),
    windowsOf: (ts) => {
      const windows: { start: number; end: number }[] = [];
      for (let start = ts - mod(ts, 500); start > ts - 2000; start -= 500) windows.push({ start, end: start + 2000 });
      return windows;
    },
    result: (w, es) => ({ key: w.key, windowStart: w.start, windowEnd: w.end, count: es.length }),
  },
];

/**
 * The batch computation with lateness, Flink's rules applied in delivery order: the watermark is the minimum over
 * the shards of (highest event time − out-of-orderness − 1), once every shard has delivered; an event goes to each
 * of its windows that the watermark before its batch has not passed by the allowed lateness
 * (`end − 1 + lateness > watermark`), and is late when there is none.
 */
function withLateness(c: LatenessCase, s: Scenario): { table: Result[]; late: Click[] } {
  const highest: (number | undefined)[] = s.batches.map(() => undefined);
  const next = s.batches.map(() => 0);
  let watermark = Number.MIN_SAFE_INTEGER;
  const windows = new Map<string, { window: { key: string; start: number; end: number }; events: Click[] }>();
  const late: Click[] = [];
  for (const shard of s.deliveries) {
    const batch = s.batches[shard]![next[shard]!++]!;
    for (const e of batch) {
      const live = c.windowsOf(e.ts).filter((w) => w.end - 1 + LATENESS_MS > watermark);
      if (live.length === 0) late.push(e);
      for (const w of live) {
        const id = `${e.userId}/${w.start}`;
        const entry = windows.get(id) ?? { window: { key: e.userId, ...w }, events: [] };
        entry.events.push(e);
        windows.set(id, entry);
      }
    }
    highest[shard] = Math.max(highest[shard] ?? Number.MIN_SAFE_INTEGER, ...batch.map((e) => e.ts));
    if (highest.every((h) => h !== undefined)) watermark = Math.max(watermark, Math.min(...(highest as number[])) - OUT_OF_ORDERNESS_MS - 1);
  }
  return { table: [...windows.values()].map(({ window, events }) => c.result(window, events)), late };
}

/** Where the properties keep the keyed state, and how many runs each makes. */
export interface WindowPropertyOptions {
  /** Names the store in the test titles. */
  readonly name: string;
  /** A fresh log store per harness (default: the harness's memory store). */
  readonly logs?: () => ShardLogStore;
  readonly runs: number;
  /** fast-check's seed (each property adds its own offset). */
  readonly seed: number;
  /** Report the first counterexample without shrinking it (shrinking is slow where every batch crosses the wire). */
  readonly endOnFailure?: boolean;
}

/** The properties, each a describe block. */
export function describeWindowProperties(o: WindowPropertyOptions): void {
  const strategyHarness = (definition: JobDefinition): Harness => harness(definition, { watermarks: 'strategy', ...(o.logs && { logs: o.logs() }) });
  describe.each(cases)(`$name (${o.name})`, ({ job: definition, expected, maxDelayMs }) => {
    test('streaming with the strategy watermark gives exactly the windows of a batch computation', async () => {
      await fc.assert(
        fc.asyncProperty(scenario(maxDelayMs), async (s) => {
          const h = strategyHarness(definition);
          await deliver(h, s);
          await h.finish();
          expect(h.late()).toEqual([]);
          expect(h.deadLetters()).toEqual([]);
          // Every window fired once, with its final value: no late firings, nothing missing, nothing extra.
          expect(canonical(h.results())).toEqual(canonical(expected(s.events)));
        }),
        { seed: o.seed, numRuns: o.runs, endOnFailure: o.endOnFailure === true },
      );
    });

    test('replaying batches as Lambda retries them changes neither state nor results', async () => {
      await fc.assert(
        fc.asyncProperty(scenario(maxDelayMs), async (s) => {
          const h = strategyHarness(definition);
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
          const distinct = new Map(h.outputs().map((out) => [out.id, out.record]));
          expect(canonical([...distinct.values()])).toEqual(canonical(expected(s.events)));
          expect(canonical(h.table())).toEqual(canonical(expected(s.events)));
        }),
        { seed: o.seed + 1, numRuns: o.runs, endOnFailure: o.endOnFailure === true },
      );
    });
  });

  /**
   * Non-integer values: quarters, which doubles hold exactly, so any order of additions gives the same sum and
   * the streaming result must equal the batch computation to the last bit. (Decimal fractions such as 0.1 are a
   * separate question, issue 18's "sums depend on the write path".)
   */
  describe.each(cases.filter((c) => c.name !== 'sliding count'))(`$name of non-integer values (${o.name})`, ({ job: definition, expected, maxDelayMs }) => {
    test('streaming with the strategy watermark gives exactly the windows of a batch computation', async () => {
      const quarters = fc.integer({ min: 0, max: 40 }).map((n) => n / 4);
      let fractional = 0;
      await fc.assert(
        fc.asyncProperty(scenario(maxDelayMs, { clicks: quarters }), async (s) => {
          if (s.events.some((e) => !Number.isInteger(e.clicks))) fractional += 1;
          const h = strategyHarness(definition);
          await deliver(h, s);
          await h.finish();
          expect(h.late()).toEqual([]);
          expect(canonical(h.results())).toEqual(canonical(expected(s.events)));
        }),
        { seed: o.seed + 2, numRuns: o.runs, endOnFailure: o.endOnFailure === true },
      );
      expect(fractional).toBeGreaterThan(o.runs / 2);
    });
  });

  describe.each(latenessCases)(`$name with allowed lateness (${o.name})`, (c) => {
    test('late events within the lateness update their windows, later ones go late: the batch computation in delivery order', async () => {
      // Most events within the out-of-orderness bound, one in four up to 5 s further behind: some of those within
      // the allowed lateness (a late firing), some past it (late).
      const delayMs = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: OUT_OF_ORDERNESS_MS }) }, { weight: 1, arbitrary: fc.integer({ min: OUT_OF_ORDERNESS_MS, max: OUT_OF_ORDERNESS_MS + 5000 }) });
      let withinLateness = 0;
      let pastLateness = 0;
      await fc.assert(
        fc.asyncProperty(scenario(OUT_OF_ORDERNESS_MS + 5000, { delayMs, minEvents: 20 }), async (s) => {
          const h = strategyHarness(c.job);
          await deliver(h, s);
          await h.finish();
          const want = withLateness(c, s);
          if (want.late.length > 0) pastLateness += 1;
          if (h.results().length > new Set(h.results().map((r) => `${r.key}/${r.windowStart}`)).size) withinLateness += 1;
          expect(h.deadLetters()).toEqual([]);
          expect(canonical(h.late() as Result[])).toEqual(canonical(want.late));
          // The table holds each window's last firing: every event it accepted, late firings included.
          expect(canonical(h.table())).toEqual(canonical(want.table));
        }),
        { seed: o.seed + 3, numRuns: o.runs, endOnFailure: o.endOnFailure === true },
      );
      // Both paths were taken: late firings (a window's result emitted again) and events past the lateness.
      expect({ withinLateness: withinLateness > o.runs / 10, pastLateness: pastLateness > o.runs / 10 }).toEqual({ withinLateness: true, pastLateness: true });
    });
  });
}
