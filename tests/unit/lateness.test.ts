/**
 * Late data (Flink's rules): an element is late for a window when windowEnd − 1 + allowedLateness ≤ watermark.
 * Within the allowed lateness a fired window fires again with the updated result; past it the element goes to
 * the late output, and only when it is late for every window it belongs to.
 */
import { dynamoSink, job, kinesisSource, session, sliding, tumbling, type Duration, type WindowedStream } from 'shardflow';
import { harness } from 'shardflow/testing';

/** What `.window(...)` takes: tumbling(...), sliding(...), session(...), countWindow(...). */
type WindowAssigner = ReturnType<typeof tumbling>;

type Click = { userId: string; clicks: number; ts: number };

const click = (userId: string, ts: number, clicks = 1): Click => ({ userId, clicks, ts });

const clicksIn = (assigner: WindowAssigner, outOfOrderness: Duration = 0): WindowedStream<Click> =>
  job('lateness')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness }))
    .keyBy((c) => c.userId)
    .window(assigner);

const out = dynamoSink('click-sums');
const lateClicks = dynamoSink('late-clicks');

describe('allowed lateness', () => {
  test('a late element within the allowed lateness fires the window again with the updated result', async () => {
    const h = harness(clicksIn(tumbling('1s')).allowedLateness('2s').sum('clicks').sink(out));
    await h.send(click('a', 100, 2));
    await h.watermark(1500);
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 2 }]);

    await h.send(click('a', 900, 5));
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 2 },
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 7 },
    ]);
    // The results table holds one item per key + windowStart: the late firing overwrote it.
    expect(h.table()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 7 }]);
    expect(h.late()).toEqual([]);
  });

  test('each firing has its own id, so a late firing is not mistaken for a repeat', async () => {
    const h = harness(clicksIn(tumbling('1s')).allowedLateness('2s').count().sink(out));
    await h.send(click('a', 100));
    await h.watermark(999);
    await h.send(click('a', 200));
    await h.send(click('a', 300));
    const ids = h.outputs().map((o) => o.id);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect(h.results().map((r) => r.count)).toEqual([1, 2, 3]);
  });

  test('each late element within the allowed lateness fires its window again, batched or not (Flink: EventTimeTrigger.onElement)', async () => {
    const h = harness(clicksIn(tumbling('1s')).allowedLateness('2s').sum('clicks').sink(out));
    await h.send(click('a', 100, 1));
    await h.watermark(1000);
    await h.sendBatch([click('a', 200, 10), click('a', 300, 100), click('b', 400, 7)]);
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 1 },
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 11 },
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 111 },
      // b's window never had an element before, but is already due: it fires at once (Flink's EventTimeTrigger.onElement).
      { key: 'b', windowStart: 0, windowEnd: 1000, clicks: 7 },
    ]);
  });

  test('a window first seen after the watermark passed its end, within lateness, fires at once and only once', async () => {
    const h = harness(clicksIn(tumbling('1s')).allowedLateness('5s').count().sink(out));
    await h.watermark(2500);
    await h.send(click('a', 10));
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, count: 1 }]);
    await h.watermark(3000);
    await h.finish();
    expect(h.results()).toHaveLength(1);
  });

  test('the window closes at windowEnd - 1 + allowedLateness; from then on its elements are late', async () => {
    const h = harness(clicksIn(tumbling('1s')).allowedLateness(1000).lateOutput(lateClicks).sum('clicks').sink(out));
    await h.send(click('a', 500, 1));
    await h.watermark(1998);
    await h.send(click('a', 600, 2)); // 999 + 1000 > 1998: a late firing
    await h.watermark(1999);
    await h.send(click('a', 700, 4)); // 999 + 1000 <= 1999: late
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 1 },
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 3 },
    ]);
    expect(h.late()).toEqual([click('a', 700, 4)]);
    expect(h.results('late-clicks')).toEqual([click('a', 700, 4)]);
  });

  test('without allowed lateness the window closes as it fires', async () => {
    const h = harness(clicksIn(tumbling('1s')).sum('clicks').sink(out));
    await h.send(click('a', 500, 1));
    await h.watermark(999);
    await h.send(click('a', 998, 1));
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 1 }]);
    expect(h.late()).toEqual([click('a', 998, 1)]);
  });

  test('a session element whose own gap is late still joins a session that is within lateness', async () => {
    const h = harness(clicksIn(session('3s')).allowedLateness(100).lateOutput(lateClicks).sum('clicks').sink(out));
    await h.send(click('a', 5000, 1));
    await h.watermark(8000); // [5000, 8000) fires; it closes at 7999 + 100
    expect(h.results()).toEqual([{ key: 'a', windowStart: 5000, windowEnd: 8000, clicks: 1 }]);

    // [2500, 5500) alone is late (5499 + 100 <= 8000) but it touches [5000, 8000): the merged session
    // [2500, 8000) is not late, and already due, so it fires at once (Flink checks the merged window).
    await h.send(click('a', 2500, 2));
    expect(h.results().slice(1)).toEqual([{ key: 'a', windowStart: 2500, windowEnd: 8000, clicks: 3 }]);

    // [-1000, 2000) touches nothing and is late.
    await h.send(click('a', -1000, 100));
    expect(h.results()).toHaveLength(2);
    expect(h.results('late-clicks')).toEqual([click('a', -1000, 100)]);
  });
});

describe('late output', () => {
  test('the lateOutput sink receives late elements as they were sent, with deterministic ids', async () => {
    const h = harness(clicksIn(tumbling('1s')).lateOutput(lateClicks).count().sink(out));
    await h.send(click('a', 1500));
    await h.watermark(1999);
    await h.sendBatch([click('a', 100), click('b', 999), click('a', 2000)]);
    expect(h.results('late-clicks')).toEqual([click('a', 100), click('b', 999)]);
    expect(h.outputs('late-clicks').map((o) => o.id)).toEqual(['late/shard-0@2.0', 'late/shard-0@3.0']);
    expect(h.late()).toEqual([click('a', 100), click('b', 999)]);
    await h.finish();
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 1000, windowEnd: 2000, count: 1 },
      { key: 'a', windowStart: 2000, windowEnd: 3000, count: 1 },
    ]);
  });

  test('without a lateOutput sink late elements are dropped from the results but reported by late()', async () => {
    const h = harness(clicksIn(tumbling('1s')).count().sink(out));
    await h.watermark(5000);
    await h.send(click('a', 100));
    await h.finish();
    expect(h.results()).toEqual([]);
    expect(h.late()).toEqual([click('a', 100)]);
  });

  test('with the strategy watermark, an element exactly outOfOrderness behind is on time and one more is late', async () => {
    const h = harness(clicksIn(tumbling('1s'), '2s').lateOutput(lateClicks).count().sink(out), { watermarks: 'strategy' });
    await h.send(click('a', 10_000)); // watermark 10000 - 2000 - 1 = 7999: [7000, 8000) has fired
    expect(h.currentWatermark()).toBe(7999);
    await h.send(click('a', 8000));
    await h.send(click('a', 7999));
    expect(h.late()).toEqual([click('a', 7999)]);
    await h.finish();
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 8000, windowEnd: 9000, count: 1 },
      { key: 'a', windowStart: 10000, windowEnd: 11000, count: 1 },
    ]);
  });

  test('with the strategy watermark and a source of three shards, the watermark moves once every shard has delivered', async () => {
    const threeShards = job('lateness')
      .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', shards: 3 }))
      .keyBy((c) => c.userId)
      .window(tumbling('1s'));
    const h = harness(threeShards.lateOutput(lateClicks).count().sink(out), { watermarks: 'strategy' });
    await h.send(click('a', 10_000), { shard: 'shard-0' });
    await h.send(click('a', 11_000), { shard: 'shard-1' });
    expect(h.currentWatermark()).toBe(Number.MIN_SAFE_INTEGER); // shard-2 has not delivered yet
    await h.send(click('b', 12_000), { shard: 'shard-2' });
    // The minimum over the shards: 10000 - 2000 - 1.
    expect(h.currentWatermark()).toBe(7999);
    await h.send(click('a', 7999), { shard: 'shard-2' });
    expect(h.late()).toEqual([click('a', 7999)]);
  });
});

describe('sliding windows and lateness', () => {
  test('an element late for some of its windows but not all is counted in the others and not side-output', async () => {
    const h = harness(clicksIn(sliding('3s', '1s')).lateOutput(lateClicks).count().sink(out));
    await h.send(click('a', 100));
    await h.watermark(2999); // [0, 3000) fired and closed
    await h.send(click('a', 2500)); // in [0,3000) (late), [1000,4000) and [2000,5000)
    await h.finish();
    expect(h.late()).toEqual([]);
    expect(h.results('late-clicks')).toEqual([]);
    expect(h.results()).toEqual([
      { key: 'a', windowStart: -2000, windowEnd: 1000, count: 1 },
      { key: 'a', windowStart: -1000, windowEnd: 2000, count: 1 },
      { key: 'a', windowStart: 0, windowEnd: 3000, count: 1 },
      { key: 'a', windowStart: 1000, windowEnd: 4000, count: 1 },
      { key: 'a', windowStart: 2000, windowEnd: 5000, count: 1 },
    ]);
  });

  test('an element late for every one of its sliding windows goes to the late output once', async () => {
    const h = harness(clicksIn(sliding('3s', '1s')).lateOutput(lateClicks).count().sink(out));
    await h.watermark(4999);
    await h.send(click('a', 1500)); // windows end at 2000, 3000, 4000: all closed
    expect(h.results('late-clicks')).toEqual([click('a', 1500)]);
    expect(h.late()).toEqual([click('a', 1500)]);
  });

  test('with allowed lateness, the windows still open fire late and the closed ones ignore the element', async () => {
    const h = harness(clicksIn(sliding('3s', '1s')).allowedLateness('1s').lateOutput(lateClicks).count().sink(out));
    await h.send(click('a', 2100));
    await h.watermark(4000); // fired: [0,3000), [1000,4000); closed: [0,3000) (2999 + 1000 <= 4000)
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 3000, count: 1 },
      { key: 'a', windowStart: 1000, windowEnd: 4000, count: 1 },
    ]);
    await h.send(click('a', 2900));
    expect(h.results().slice(2)).toEqual([{ key: 'a', windowStart: 1000, windowEnd: 4000, count: 2 }]);
    expect(h.late()).toEqual([]);
    await h.finish();
    expect(h.table()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 3000, count: 1 },
      { key: 'a', windowStart: 1000, windowEnd: 4000, count: 2 },
      { key: 'a', windowStart: 2000, windowEnd: 5000, count: 2 },
    ]);
  });
});
