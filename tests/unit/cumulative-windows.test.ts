/**
 * Cumulative windows (Flink's CumulativeWindowAssigner, the windows of Flink SQL's CUMULATE): the assigner
 * against Flink's CumulativeWindowAssignerTest vectors, the window operator through the public harness (firing,
 * lateness, processing time), the planner's checks and printouts, and a job on Nexmark bids against sqlite3.
 */
import { cumulative, dynamoSink, job, kinesisSource, planJob, type WindowedStream } from 'shardflow';
import { harness } from 'shardflow/testing';
import { jobGraph } from '../../lib/local/dashboard/job-graph';
import { nexmarkRows, type Bid } from '../../lib/nexmark';
import { describePlan } from '../../lib/plan/describe';
import { assignTimeWindows, type WindowAssignerSpec } from '../../lib/time/window';
import { planErrorOf } from './plan-error-of';
import { byJson, sqliteOnBids } from './sql-reference';

type Click = { userId: string; clicks: number; ts: number };

const click = (userId: string, ts: number, clicks = 1): Click => ({ userId, clicks, ts });

const clicksIn = (assigner: WindowAssignerSpec): WindowedStream<Click> =>
  job('cumulative')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts }))
    .keyBy((c) => c.userId)
    .window(assigner);

const out = dynamoSink('click-sums');
const lateClicks = dynamoSink('late-clicks');

/** [start, end) pairs, as Flink's test writes `new TimeWindow(start, end)`. */
const windowsAt = (spec: WindowAssignerSpec, ts: number): [number, number][] => assignTimeWindows(spec, ts).map((w) => [w.start, w.end]);

describe('the cumulative assigner (Flink: CumulativeWindowAssignerTest.testWindowAssignment, size 5000 ms, step 1000 ms)', () => {
  const spec = cumulative(5000, 1000);

  test('an element at the start of a period is in all size / step windows of it', () => {
    expect(windowsAt(spec, 0)).toEqual([
      [0, 1000],
      [0, 2000],
      [0, 3000],
      [0, 4000],
      [0, 5000],
    ]);
  });

  test('an element at the last millisecond of a period is in its largest window only', () => {
    expect(windowsAt(spec, 4999)).toEqual([[0, 5000]]);
  });

  test('the next period starts at size', () => {
    expect(windowsAt(spec, 5000)).toEqual([
      [5000, 6000],
      [5000, 7000],
      [5000, 8000],
      [5000, 9000],
      [5000, 10000],
    ]);
  });

  test('an element is in every window of its period that ends after it (size 10 s, step 2 s: 13 s)', () => {
    expect(windowsAt(cumulative('10s', '2s'), 13000)).toEqual([
      [10000, 14000],
      [10000, 16000],
      [10000, 18000],
      [10000, 20000],
    ]);
  });

  test('negative timestamps fall in epoch-aligned periods before 0', () => {
    expect(windowsAt(spec, -1)).toEqual([[-5000, 0]]);
    expect(windowsAt(spec, -5000)).toEqual([
      [-5000, -4000],
      [-5000, -3000],
      [-5000, -2000],
      [-5000, -1000],
      [-5000, 0],
    ]);
  });

  test('a step equal to the size gives tumbling windows', () => {
    expect(windowsAt(cumulative(5000, 5000), 7300)).toEqual([[5000, 10000]]);
  });
});

describe('the planner checks a cumulative window (Flink: testInvalidParameters1–3)', () => {
  test.each([
    [cumulative('-2s', '1s'), "cumulative window size '-2s' is not a positive duration"],
    [cumulative('2s', '-1s'), "cumulative window step '-1s' is not a positive duration"],
    [cumulative(0, '1s'), 'cumulative window size 0 is not a positive duration'],
    [cumulative('5000s', '2000s'), 'cumulative size 5000000ms is not a multiple of step 2000000ms'],
    [cumulative('1s', '5s'), 'cumulative size 1000ms is not a multiple of step 5000ms'],
  ])('%j is refused, naming the window operator', (assigner, problem) => {
    const error = planErrorOf(clicksIn(assigner).count().sink(out));
    expect(error.problem).toBe(problem);
    expect(error.operator).toMatch(/^tests\/unit\/cumulative-windows\.test\.ts:\d+ \.window\(assigner\)$/);
  });

  test('a window join over cumulative windows is refused (Flink has none)', () => {
    const j = job('cumulative-join');
    const left = j.source(kinesisSource<Click>('left', { eventTime: (c) => c.ts }));
    const right = j.source(kinesisSource<Click>('right', { eventTime: (c) => c.ts }));
    left
      .join(right)
      .where((c) => c.userId)
      .equalTo((c) => c.userId)
      .window(cumulative('10s', '2s'))
      .apply((l, r) => ({ clicks: l.clicks + r.clicks }))
      .sink(out);
    expect(planErrorOf(j).problem).toBe('a window join over cumulative windows is not supported');
  });

  test('the plan and the dashboard describe it', () => {
    const plan = planJob(clicksIn(cumulative('1m', '10s')).allowedLateness('5s').sum('clicks').sink(out));
    expect(describePlan(plan)).toContain("cumulative(1m, 10s).sum('clicks') allowedLateness 5s");
    const stage = jobGraph(plan).nodes.find((n) => n.keyed);
    expect(stage?.detail).toContain('cumulative 1m by 10s · sum(clicks) · lateness 5s');
  });

  test('processing time shows in the plan', () => {
    const plan = planJob(clicksIn(cumulative('10s', '2s', { time: 'processing' })).count().sink(out));
    expect(describePlan(plan)).toContain("cumulative(10s, 2s, { time: 'processing' }).count()");
  });
});

describe('cumulative windows in the window operator', () => {
  test('windows of one period fire one by one as the watermark passes each end, each with everything since the period began', async () => {
    const h = harness(clicksIn(cumulative('10s', '2s')).sum('clicks').sink(out));
    await h.sendBatch([click('a', 1000, 1), click('a', 3500, 2), click('a', 9000, 4), click('a', 13000, 8)]);
    await h.watermark(1998);
    expect(h.results()).toEqual([]);
    await h.watermark(1999);
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 2000, clicks: 1 }]);
    await h.watermark(5999);
    expect(h.results().slice(1)).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 4000, clicks: 3 },
      { key: 'a', windowStart: 0, windowEnd: 6000, clicks: 3 },
    ]);
    await h.watermark(9999);
    expect(h.results().slice(3)).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 8000, clicks: 3 },
      { key: 'a', windowStart: 0, windowEnd: 10000, clicks: 7 },
    ]);
    // [10 s, 12 s) has no element: no window, no result (as Flink's window aggregation).
    await h.finish();
    expect(h.results().slice(5)).toEqual([14000, 16000, 18000, 20000].map((end) => ({ key: 'a', windowStart: 10000, windowEnd: end, clicks: 8 })));
  });

  test('one watermark past a whole period fires its windows earliest end first, per key', async () => {
    const h = harness(clicksIn(cumulative('3s', '1s')).count().sink(out));
    await h.sendBatch([click('b', 2500), click('a', 500), click('a', 1500), click('b', 100)]);
    await h.watermark(2999);
    const ends = (key: string) => h.results().filter((r) => r.key === key).map((r) => [r.windowEnd, r.count]);
    expect(ends('a')).toEqual([
      [1000, 1],
      [2000, 2],
      [3000, 2],
    ]);
    expect(ends('b')).toEqual([
      [1000, 1],
      [2000, 1],
      [3000, 2],
    ]);
  });

  test('each window has its own result id, so a results table keeps the latest window of a period (its windowStart is shared)', async () => {
    const h = harness(clicksIn(cumulative('4s', '1s')).sum('clicks').sink(out));
    await h.sendBatch([click('a', 0, 1), click('a', 2200, 5)]);
    await h.watermark(3999);
    const ids = h.outputs().map((o) => o.id);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
    expect(h.table()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 4000, clicks: 6 }]);
  });

  test('within the allowed lateness a late element fires again the windows still kept; late for all of them it goes to the late output', async () => {
    const h = harness(clicksIn(cumulative('10s', '2s')).allowedLateness('3s').lateOutput(lateClicks).sum('clicks').sink(out));
    await h.send(click('a', 1000, 1));
    await h.watermark(10999);
    expect(h.results().map((r) => r.windowEnd)).toEqual([2000, 4000, 6000, 8000, 10000]);
    // 5 s is in [0, 6 s), [0, 8 s) and [0, 10 s): the first two were dropped at 8999 and 10999, the last is kept until 12999.
    await h.send(click('a', 5000, 10));
    expect(h.results().slice(5)).toEqual([{ key: 'a', windowStart: 0, windowEnd: 10000, clicks: 11 }]);
    expect(h.late()).toEqual([]);
    // The windows still kept, as a cold container would load them: [0, 10 s) only, fired twice.
    expect(await h.state()).toEqual({ a: { n: 6, w: [[0, 10000, expect.anything(), 2]] } });
    await h.watermark(12999);
    expect(await h.state()).toEqual({});
    await h.send(click('a', 9999, 100));
    expect(h.results()).toHaveLength(6);
    expect(h.late()).toEqual([click('a', 9999, 100)]);
    expect(h.results('late-clicks')).toEqual([click('a', 9999, 100)]);
  });

  test('by processing time: windows of the arrival time, each fired once at its end', async () => {
    const h = harness(clicksIn(cumulative('3s', '1s', { time: 'processing' })).count().sink(out));
    await h.setProcessingTime(500);
    await h.send(click('a', 999999));
    await h.setProcessingTime(1700);
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, count: 1 }]);
    await h.send(click('a', 0));
    await h.setProcessingTime(3000);
    expect(h.results().slice(1)).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 2000, count: 2 },
      { key: 'a', windowStart: 0, windowEnd: 3000, count: 2 },
    ]);
  });
});

describe('a cumulative window job on Nexmark bids gives what sqlite3 gives', () => {
  // 2,000 events at 20 per second: 100 s of bids, ten 10 s periods of five 2 s steps each.
  const BIDS = nexmarkRows('bid', { count: 2000, eventsPerSecond: 20, seed: 7 });

  test('bids, total and top price per auction in cumulating 10 s windows, every 2 s', async () => {
    const bidsJob = job('cumulative-bids')
      .source(kinesisSource<Bid>('bids', { eventTime: (b) => b.dateTime, outOfOrderness: '4s' }))
      .keyBy((b) => String(b.auction))
      .window(cumulative('10s', '2s'))
      .aggregate({
        create: () => ({ bids: 0, total: 0, top: 0 }),
        add: (a, b: Bid) => ({ bids: a.bids + 1, total: a.total + b.price, top: Math.max(a.top, b.price) }),
        merge: (a, b) => ({ bids: a.bids + b.bids, total: a.total + b.total, top: Math.max(a.top, b.top) }),
        result: (a) => a,
      })
      .sink(out);
    const h = harness(bidsJob, { watermarks: 'strategy' });
    for (let i = 0; i < BIDS.length; i += 100) await h.sendBatch(BIDS.slice(i, i + 100));
    await h.finish();
    expect(h.late()).toEqual([]);
    const records = h.results().map((r) => ({ auction: Number(r.key), ws: r.windowStart, we: r.windowEnd, bids: r.bids, total: r.total, top: r.top }));
    // sqlite3: each bid joined with the step numbers n = 1..5, in the window [period start, period start + n × 2 s) when it ends after the bid.
    const expected = sqliteOnBids(
      BIDS,
      `WITH RECURSIVE steps(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM steps WHERE n < 5)
       SELECT auction, t - t % 10000 AS ws, t - t % 10000 + n * 2000 AS we, COUNT(*) AS bids, SUM(price) AS total, MAX(price) AS top
       FROM bid, steps WHERE t - t % 10000 + n * 2000 > t
       GROUP BY auction, ws, we;`,
    );
    expect(expected.length).toBeGreaterThan(500);
    expect(byJson(records)).toEqual(byJson(expected));
  });
});
