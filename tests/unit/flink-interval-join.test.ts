/**
 * Flink's IntervalJoinOperatorTest (flink-streaming-java, org.apache.flink.streaming.api.operators.co),
 * transcribed onto the public harness: the same elements, watermarks, bounds and expected pairs, every case
 * with the left input faster than the right and the other way round, as Flink parameterises it.
 *
 * Flink's harness sets each input's watermark directly; here an input's watermark is what its source's
 * records say (a record at `t` moves it to `t − OUT_OF_ORDERNESS − 1`, far below the test's times, so an
 * element moves no watermark that matters, as in Flink's harness), and Flink's `processWatermark1(t)` is a
 * record at `t + OUT_OF_ORDERNESS + 1` that the job filters out before the join: only its watermark arrives. Elements
 * carry their own time as `ts`, like Flink's TestElem; a pair is written (left ts, right ts).
 */
import { job, kinesisSource, logSink, outputTag, type JobDefinition } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';

interface Elem {
  readonly ts: number;
  readonly side: 'lhs' | 'rhs';
  /** A record standing for a watermark: filtered out before the join. */
  readonly tick?: true;
}
type Pair = [number, number];
const OUT_OF_ORDERNESS = 1000;

interface Bounds {
  readonly lower: number;
  readonly lowerInclusive: boolean;
  readonly upper: number;
  readonly upperInclusive: boolean;
}

const lateLeft = outputTag<Elem>('left_late');
const lateRight = outputTag<Elem>('right_late');

function intervalJoin(b: Bounds, late = false): JobDefinition {
  const j = job('flink-interval-join');
  const side = (stream: string) =>
    j
      .source(kinesisSource<Elem>(stream, { eventTime: (e) => e.ts, outOfOrderness: OUT_OF_ORDERNESS }))
      .filter((e) => !e.tick)
      .keyBy(() => 'key');
  let joined = side('lhs').intervalJoin(side('rhs')).between(b.lower, b.upper);
  if (!b.lowerInclusive) joined = joined.lowerBoundExclusive();
  if (!b.upperInclusive) joined = joined.upperBoundExclusive();
  if (late) joined = joined.sideOutputLeftLateData(lateLeft).sideOutputRightLateData(lateRight);
  const pairs = joined.process((l, r, { timestamp }) => ({ l: l.ts, r: r.ts, timestamp }));
  pairs.sink(logSink('pairs'));
  if (late) {
    pairs.sideOutput(lateLeft).sink(logSink('late-left'));
    pairs.sideOutput(lateRight).sink(logSink('late-right'));
  }
  return j;
}

/** Flink's JoinTestBuilder, on the harness. */
class JoinTest {
  readonly h: Harness;
  constructor(bounds: Bounds, late = false) {
    this.h = harness(intervalJoin(bounds, late), { watermarks: 'strategy' });
  }
  async element1(ts: number): Promise<this> {
    await this.h.send({ ts, side: 'lhs' }, { source: 'lhs' });
    return this;
  }
  async element2(ts: number): Promise<this> {
    await this.h.send({ ts, side: 'rhs' }, { source: 'rhs' });
    return this;
  }
  async watermark1(ts: number): Promise<this> {
    await this.h.send({ ts: ts + OUT_OF_ORDERNESS + 1, side: 'lhs', tick: true }, { source: 'lhs' });
    return this;
  }
  async watermark2(ts: number): Promise<this> {
    await this.h.send({ ts: ts + OUT_OF_ORDERNESS + 1, side: 'rhs', tick: true }, { source: 'rhs' });
    return this;
  }
  /** Flink's processElementsAndWatermarks(from, to): one side's elements and watermarks, then the other's. */
  async elementsAndWatermarks(from: number, to: number, lhsFirst: boolean): Promise<this> {
    const sides = lhsFirst ? ([1, 2] as const) : ([2, 1] as const);
    for (const s of sides) {
      for (let i = from; i <= to; i++) {
        if (s === 1) await (await this.element1(i)).watermark1(i);
        else await (await this.element2(i)).watermark2(i);
      }
    }
    return this;
  }
  pairs(): Pair[] {
    return sortedPairs(this.h.results('pairs').map((r) => [r.l as number, r.r as number]));
  }
  /** The timestamps each side's buffer holds (Flink's assertLeftBufferContainsOnly / assertRightBufferContainsOnly). */
  async buffers(): Promise<{ left: number[]; right: number[] }> {
    const data = (await this.h.state()).key as { maps: { left?: Record<string, unknown>; right?: Record<string, unknown> } } | undefined;
    const times = (m: Record<string, unknown> | undefined): number[] => Object.keys(m ?? {}).map(Number).sort((a, b) => a - b);
    return { left: times(data?.maps.left), right: times(data?.maps.right) };
  }
}

const sortedPairs = (ps: readonly Pair[]): Pair[] => [...ps].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
const inclusive = (lower: number, upper: number): Bounds => ({ lower, lowerInclusive: true, upper, upperInclusive: true });

describe.each([true, false])('Flink IntervalJoinOperatorTest, lhs faster than rhs: %s', (lhsFirst) => {
  test('testImplementationMirrorsCorrectly', async () => {
    const forward = await new JoinTest({ lower: 1, lowerInclusive: true, upper: 3, upperInclusive: false }).elementsAndWatermarks(1, 4, lhsFirst);
    expect(forward.pairs()).toEqual([
      [1, 2],
      [1, 3],
      [2, 3],
      [2, 4],
      [3, 4],
    ]);
    const mirrored = await new JoinTest({ lower: -3, lowerInclusive: false, upper: -1, upperInclusive: true }).elementsAndWatermarks(1, 4, lhsFirst);
    expect(mirrored.pairs()).toEqual([
      [2, 1],
      [3, 1],
      [3, 2],
      [4, 2],
      [4, 3],
    ]);
  });

  test.each<[string, Bounds, Pair[]]>([
    [
      'testNegativeInclusiveAndNegativeInclusive',
      inclusive(-2, -1),
      [
        [2, 1],
        [3, 1],
        [3, 2],
        [4, 2],
        [4, 3],
      ],
    ],
    [
      'testNegativeInclusiveAndPositiveInclusive',
      inclusive(-1, 1),
      [
        [1, 1],
        [1, 2],
        [2, 1],
        [2, 2],
        [2, 3],
        [3, 2],
        [3, 3],
        [3, 4],
        [4, 3],
        [4, 4],
      ],
    ],
    [
      'testPositiveInclusiveAndPositiveInclusive',
      inclusive(1, 2),
      [
        [1, 2],
        [1, 3],
        [2, 3],
        [2, 4],
        [3, 4],
      ],
    ],
    [
      'testNegativeExclusiveAndNegativeExlusive',
      { lower: -3, lowerInclusive: false, upper: -1, upperInclusive: false },
      [
        [3, 1],
        [4, 2],
      ],
    ],
    [
      'testNegativeExclusiveAndPositiveExlusive',
      { lower: -1, lowerInclusive: false, upper: 1, upperInclusive: false },
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
      ],
    ],
    [
      'testPositiveExclusiveAndPositiveExlusive',
      { lower: 1, lowerInclusive: false, upper: 3, upperInclusive: false },
      [
        [1, 3],
        [2, 4],
      ],
    ],
  ])('%s', async (_name, bounds, expected) => {
    const t = await new JoinTest(bounds).elementsAndWatermarks(1, 4, lhsFirst);
    expect(t.pairs()).toEqual(expected);
    expect([t.h.late(), t.h.deadLetters()]).toEqual([[], []]);
  });

  test.each<[string, Bounds, [number[], number[]], [number[], number[]]]>([
    ['testStateCleanupNegativeInclusiveNegativeInclusive', inclusive(-1, 0), [[2, 3, 4, 5], [1, 2, 3, 4, 5]], [[5], [4, 5]]],
    ['testStateCleanupNegativePositiveNegativeExlusive', { lower: -2, lowerInclusive: false, upper: 1, upperInclusive: false }, [[2, 3, 4, 5], [1, 2, 3, 4, 5]], [[5], [4, 5]]],
    ['testStateCleanupPositiveInclusivePositiveInclusive', inclusive(0, 1), [[1, 2, 3, 4, 5], [2, 3, 4, 5]], [[4, 5], [5]]],
    ['testStateCleanupPositiveExlusivePositiveExclusive', { lower: -1, lowerInclusive: false, upper: 2, upperInclusive: false }, [[1, 2, 3, 4, 5], [2, 3, 4, 5]], [[4, 5], [5]]],
  ])('%s', async (_name, bounds, atOne, atFour) => {
    const t = new JoinTest(bounds);
    for (const ts of [1, 2, 3, 4, 5]) await t.element1(ts);
    for (const ts of [1, 2, 3, 4, 5]) await t.element2(ts);
    await (await t.watermark1(1)).watermark2(1);
    expect(await t.buffers()).toEqual({ left: atOne[0], right: atOne[1] });
    await (await t.watermark1(4)).watermark2(4);
    expect(await t.buffers()).toEqual({ left: atFour[0], right: atFour[1] });
    await (await t.watermark1(6)).watermark2(6);
    expect(await t.buffers()).toEqual({ left: [], right: [] });
  });

  test('testRestoreFromSnapshot (a container that loses its cache carries on from the log)', async () => {
    const t = new JoinTest(inclusive(-1, 1));
    for (const ts of [1, 2, 3]) await (await (await (await t.element1(ts)).watermark1(ts)).element2(ts)).watermark2(ts);
    expect(t.pairs()).toEqual([
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
      [2, 3],
      [3, 2],
      [3, 3],
    ]);
    t.h.loseCaches();
    await (await (await (await t.element1(4)).watermark1(4)).element2(4)).watermark2(4);
    expect(t.pairs()).toEqual(
      sortedPairs([
        [1, 1],
        [1, 2],
        [2, 1],
        [2, 2],
        [2, 3],
        [3, 2],
        [3, 3],
        [3, 4],
        [4, 3],
        [4, 4],
      ]),
    );
  });

  test('testReturnsCorrectTimestamp: a pair carries the later of its two times', async () => {
    const t = await new JoinTest(inclusive(-1, 1)).elementsAndWatermarks(1, 4, lhsFirst);
    const results = t.h.results('pairs');
    expect(results.length).toBe(10);
    for (const r of results) expect(r.timestamp).toBe(Math.max(r.l as number, r.r as number));
  });

  test('testDiscardsLateData', async () => {
    const t = new JoinTest(inclusive(-1, 1));
    for (const ts of [1, 2, 3]) await (await t.element1(ts)).element2(ts);
    await (await t.watermark1(3)).watermark2(3);
    await t.element1(1); // late: joined with nothing, and counted
    expect(t.h.late()).toEqual([{ ts: 1, side: 'lhs' }]);
    for (const ts of [4, 5]) await (await t.element1(ts)).element2(ts);
    expect(t.pairs()).toEqual([
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
      [2, 3],
      [3, 2],
      [3, 3],
      [3, 4],
      [4, 3],
      [4, 4],
      [4, 5],
      [5, 4],
      [5, 5],
    ]);
  });

  test('testLateData: late records of each side go to their side outputs', async () => {
    const t = new JoinTest(inclusive(-1, 1), true);
    await (await t.element1(3)).element2(3);
    await (await t.watermark1(3)).watermark2(3);
    await (await t.element1(4)).element2(4);
    await t.element1(1);
    await t.element2(2);
    await (await t.element1(5)).element2(5);
    expect(t.pairs()).toEqual([
      [3, 3],
      [3, 4],
      [4, 3],
      [4, 4],
      [4, 5],
      [5, 4],
      [5, 5],
    ]);
    expect(t.h.results('late-left')).toEqual([{ ts: 1, side: 'lhs' }]);
    expect(t.h.results('late-right')).toEqual([{ ts: 2, side: 'rhs' }]);
    // Counted late either way (the LateRecords metric), as a window's late records are.
    expect(t.h.late()).toEqual([
      { ts: 1, side: 'lhs' },
      { ts: 2, side: 'rhs' },
    ]);
  });
});
