/**
 * Window assigners and window functions, driven through the public harness with manual watermarks
 * (Flink's operator-test style): elements in, a watermark, the exact results out.
 */
import { countWindow, dynamoSink, job, kinesisSource, session, sliding, tumbling, type WindowedStream } from 'shardflow';
import { harness } from 'shardflow/testing';

/** What `.window(...)` takes: tumbling(...), sliding(...), session(...), countWindow(...). */
type WindowAssigner = ReturnType<typeof tumbling>;

type Click = { userId: string; clicks: number; ts: number };

const click = (userId: string, ts: number, clicks = 1): Click => ({ userId, clicks, ts });

/** A keyed, windowed click stream; the caller adds the window function and the sink. */
const clicksIn = (assigner: WindowAssigner): WindowedStream<Click> =>
  job('windows')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts }))
    .keyBy((c) => c.userId)
    .window(assigner);

const out = dynamoSink('window-results');

/** Results sorted by key then window, so assertions do not depend on firing order between keys. */
const sorted = (records: Record<string, unknown>[]): Record<string, unknown>[] =>
  [...records].sort((a, b) => String(a.key).localeCompare(String(b.key)) || Number(a.windowStart) - Number(b.windowStart));

describe('tumbling windows', () => {
  test('are aligned to the epoch and fire when the watermark reaches windowEnd - 1', async () => {
    const h = harness(clicksIn(tumbling('1s')).count().sink(out));
    await h.sendBatch([click('a', 0), click('a', 999), click('a', 1000), click('b', 500)]);

    await h.watermark(998);
    expect(h.results()).toEqual([]);

    await h.watermark(999);
    expect(sorted(h.results())).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, count: 2 },
      { key: 'b', windowStart: 0, windowEnd: 1000, count: 1 },
    ]);

    await h.watermark(1999);
    expect(h.results().slice(2)).toEqual([{ key: 'a', windowStart: 1000, windowEnd: 2000, count: 1 }]);
  });

  test('a window that is not due stays open across watermarks', async () => {
    const h = harness(clicksIn(tumbling('5s')).sum('clicks').sink(out));
    await h.send(click('a', 4000, 2));
    await h.watermark(1000);
    await h.send(click('a', 4999, 3));
    await h.watermark(4998);
    expect(h.results()).toEqual([]);
    await h.watermark(4999);
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 5000, clicks: 5 }]);
  });

  test('negative timestamps fall in epoch-aligned windows before 0', async () => {
    const h = harness(clicksIn(tumbling('1s')).count().sink(out));
    await h.sendBatch([click('a', -1), click('a', -1000), click('a', -1001), click('a', 0)]);
    await h.watermark(-1);
    expect(h.results()).toEqual([
      { key: 'a', windowStart: -2000, windowEnd: -1000, count: 1 },
      { key: 'a', windowStart: -1000, windowEnd: 0, count: 2 },
    ]);
    await h.finish();
    expect(h.results()[2]).toEqual({ key: 'a', windowStart: 0, windowEnd: 1000, count: 1 });
  });
});

describe('sliding windows', () => {
  test('an element belongs to size / slide windows, each epoch-aligned to the slide', async () => {
    const h = harness(clicksIn(sliding('5s', '1s')).sum('clicks').sink(out));
    await h.send(click('a', 7300, 4));
    await h.finish();
    expect(h.results()).toEqual([3000, 4000, 5000, 6000, 7000].map((start) => ({ key: 'a', windowStart: start, windowEnd: start + 5000, clicks: 4 })));
  });

  test('overlapping windows fire one by one as the watermark passes each end', async () => {
    const h = harness(clicksIn(sliding('3s', '1s')).count().sink(out));
    await h.sendBatch([click('a', 500), click('a', 1500), click('a', 2500)]);
    await h.watermark(999);
    expect(h.results()).toEqual([{ key: 'a', windowStart: -2000, windowEnd: 1000, count: 1 }]);
    await h.watermark(1999);
    expect(h.results()[1]).toEqual({ key: 'a', windowStart: -1000, windowEnd: 2000, count: 2 });
    await h.watermark(2999);
    expect(h.results()[2]).toEqual({ key: 'a', windowStart: 0, windowEnd: 3000, count: 3 });
    await h.finish();
    expect(h.results().slice(3)).toEqual([
      { key: 'a', windowStart: 1000, windowEnd: 4000, count: 2 },
      { key: 'a', windowStart: 2000, windowEnd: 5000, count: 1 },
    ]);
  });

  test('negative timestamps give the same windows as positive ones shifted', async () => {
    const h = harness(clicksIn(sliding('2s', '1s')).count().sink(out));
    await h.send(click('a', -500));
    await h.finish();
    expect(h.results()).toEqual([
      { key: 'a', windowStart: -2000, windowEnd: 0, count: 1 },
      { key: 'a', windowStart: -1000, windowEnd: 1000, count: 1 },
    ]);
  });
});

describe('session windows', () => {
  test('elements closer than the gap form one session per key; a session ends gap after its last element', async () => {
    const h = harness(clicksIn(session('1s')).sum('clicks').sink(out));
    await h.sendBatch([click('a', 0, 1), click('a', 500, 2), click('b', 100, 7), click('a', 5000, 4)]);
    await h.watermark(1499);
    expect(sorted(h.results())).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1500, clicks: 3 },
      { key: 'b', windowStart: 100, windowEnd: 1100, clicks: 7 },
    ]);
    await h.finish();
    expect(h.results()[2]).toEqual({ key: 'a', windowStart: 5000, windowEnd: 6000, clicks: 4 });
  });

  test('sessions that touch merge (Flink TimeWindow.intersects is inclusive)', async () => {
    const h = harness(clicksIn(session('1s')).count().sink(out));
    await h.sendBatch([click('a', 0), click('a', 1000)]);
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 2000, count: 2 }]);
  });

  test('an element arriving between two sessions bridges them into one', async () => {
    const h = harness(clicksIn(session('2s')).sum('clicks').sink(out));
    await h.send(click('a', 0, 1));
    await h.send(click('a', 4000, 2));
    await h.send(click('a', 2000, 4));
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 6000, clicks: 7 }]);
  });

  test('session windows work with negative timestamps', async () => {
    const h = harness(clicksIn(session('1s')).count().sink(out));
    await h.sendBatch([click('a', -2500), click('a', -1800), click('a', 100)]);
    await h.finish();
    expect(h.results()).toEqual([
      { key: 'a', windowStart: -2500, windowEnd: -800, count: 2 },
      { key: 'a', windowStart: 100, windowEnd: 1100, count: 1 },
    ]);
  });
});

describe('count windows', () => {
  test('tumbling: fire in-band every size elements of a key, with per-key element ordinals as bounds', async () => {
    const h = harness(clicksIn(countWindow(3)).sum('clicks').sink(out));
    await h.sendBatch([1, 2, 3, 4, 5, 6, 7].map((n) => click('a', n * 10, n)));
    await h.sendBatch([click('b', 0, 10), click('b', 1, 20), click('b', 2, 30)]);
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 3, clicks: 6 },
      { key: 'a', windowStart: 3, windowEnd: 6, clicks: 15 },
      { key: 'b', windowStart: 0, windowEnd: 3, clicks: 60 },
    ]);
    await h.finish();
    expect(h.results()).toHaveLength(3);
  });

  test('sliding: every slide elements, over the last size elements (the first ones over fewer)', async () => {
    const h = harness(clicksIn(countWindow(3, 1)).sum('clicks').sink(out));
    await h.sendBatch([1, 2, 3, 4].map((n) => click('a', 0, n)));
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1, clicks: 1 },
      { key: 'a', windowStart: 0, windowEnd: 2, clicks: 3 },
      { key: 'a', windowStart: 0, windowEnd: 3, clicks: 6 },
      { key: 'a', windowStart: 1, windowEnd: 4, clicks: 9 },
    ]);
  });

  test('sliding by more than one: elements across batches count toward the same window', async () => {
    const h = harness(clicksIn(countWindow(4, 2)).count().sink(out));
    for (let n = 0; n < 6; n++) await h.send(click('a', n));
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 2, count: 2 },
      { key: 'a', windowStart: 0, windowEnd: 4, count: 4 },
      { key: 'a', windowStart: 2, windowEnd: 6, count: 4 },
    ]);
  });
});

describe('window functions', () => {
  /** Two windows of key a and one of key b. */
  const input = [click('a', 100, 3), click('a', 200, 1), click('a', 300, 8), click('b', 400, 5), click('a', 1500, 2)];

  async function run(stream: Parameters<typeof harness>[0]): Promise<Record<string, unknown>[]> {
    const h = harness(stream);
    await h.sendBatch(input);
    await h.finish();
    return sorted(h.results());
  }

  test('count', async () => {
    expect(await run(clicksIn(tumbling('1s')).count().sink(out))).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, count: 3 },
      { key: 'a', windowStart: 1000, windowEnd: 2000, count: 1 },
      { key: 'b', windowStart: 0, windowEnd: 1000, count: 1 },
    ]);
  });

  test('sum', async () => {
    expect(await run(clicksIn(tumbling('1s')).sum('clicks').sink(out))).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 12 },
      { key: 'a', windowStart: 1000, windowEnd: 2000, clicks: 2 },
      { key: 'b', windowStart: 0, windowEnd: 1000, clicks: 5 },
    ]);
  });

  test('min', async () => {
    expect(await run(clicksIn(tumbling('1s')).min('clicks').sink(out))).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 1 },
      { key: 'a', windowStart: 1000, windowEnd: 2000, clicks: 2 },
      { key: 'b', windowStart: 0, windowEnd: 1000, clicks: 5 },
    ]);
  });

  test('max', async () => {
    expect(await run(clicksIn(tumbling('1s')).max('clicks').sink(out))).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 8 },
      { key: 'a', windowStart: 1000, windowEnd: 2000, clicks: 2 },
      { key: 'b', windowStart: 0, windowEnd: 1000, clicks: 5 },
    ]);
  });

  test('avg', async () => {
    expect(await run(clicksIn(tumbling('1s')).avg('clicks').sink(out))).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 4 },
      { key: 'a', windowStart: 1000, windowEnd: 2000, clicks: 2 },
      { key: 'b', windowStart: 0, windowEnd: 1000, clicks: 5 },
    ]);
  });

  test('reduce: the result is the combined element, with the window fields', async () => {
    const stream = clicksIn(tumbling('1s'))
      .reduce((x, y) => ({ userId: x.userId, clicks: x.clicks + y.clicks, ts: Math.max(x.ts, y.ts) }))
      .sink(out);
    expect(await run(stream)).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, userId: 'a', clicks: 12, ts: 300 },
      { key: 'a', windowStart: 1000, windowEnd: 2000, userId: 'a', clicks: 2, ts: 1500 },
      { key: 'b', windowStart: 0, windowEnd: 1000, userId: 'b', clicks: 5, ts: 400 },
    ]);
  });

  test('aggregate: create, add and result build the record', async () => {
    const stream = clicksIn(tumbling('1s'))
      .aggregate({
        create: () => ({ n: 0, total: 0 }),
        add: (acc, c: Click) => ({ n: acc.n + 1, total: acc.total + c.clicks }),
        merge: (x, y) => ({ n: x.n + y.n, total: x.total + y.total }),
        result: (acc) => ({ events: acc.n, perEvent: acc.total / acc.n }),
      })
      .sink(out);
    expect(await run(stream)).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, events: 3, perEvent: 4 },
      { key: 'a', windowStart: 1000, windowEnd: 2000, events: 1, perEvent: 2 },
      { key: 'b', windowStart: 0, windowEnd: 1000, events: 1, perEvent: 5 },
    ]);
  });

  test('aggregate merges accumulators when sessions merge', async () => {
    const stream = clicksIn(session('1s'))
      .aggregate({
        create: () => ({ tss: [] as number[] }),
        add: (acc, c: Click) => ({ tss: [...acc.tss, c.ts] }),
        merge: (x, y) => ({ tss: [...x.tss, ...y.tss] }),
        result: (acc) => ({ tss: [...acc.tss].sort((p, q) => p - q) }),
      })
      .sink(out);
    const h = harness(stream);
    await h.send(click('a', 0));
    await h.send(click('a', 1800));
    await h.send(click('a', 900));
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 2800, tss: [0, 900, 1800] }]);
  });

  test('process: sees the key, the window and every element in arrival order', async () => {
    const stream = clicksIn(tumbling('1s'))
      .process(({ key, window, elements }) => ({ seen: `${key}:${window.start}-${window.end}`, clicksInOrder: elements.map((e) => e.clicks) }))
      .sink(out);
    expect(await run(stream)).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, seen: 'a:0-1000', clicksInOrder: [3, 1, 8] },
      { key: 'a', windowStart: 1000, windowEnd: 2000, seen: 'a:1000-2000', clicksInOrder: [2] },
      { key: 'b', windowStart: 0, windowEnd: 1000, seen: 'b:0-1000', clicksInOrder: [5] },
    ]);
  });

  test('process: may return several records for one window, each with its own id', async () => {
    const h = harness(
      clicksIn(tumbling('1s'))
        .process(({ elements }) => elements.filter((e) => e.clicks > 2).map((e) => ({ big: e.clicks })))
        .sink(out),
    );
    await h.sendBatch(input.filter((c) => c.userId === 'a'));
    await h.finish();
    expect(h.results()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, big: 3 },
      { key: 'a', windowStart: 0, windowEnd: 1000, big: 8 },
    ]);
    const ids = h.outputs().map((o) => o.id);
    expect(new Set(ids).size).toBe(2);
  });

  test('a function result cannot overwrite the window fields key, windowStart and windowEnd', async () => {
    const h = harness(
      clicksIn(tumbling('1s'))
        .process(() => ({ key: 'other', windowStart: -1, windowEnd: -1, n: 1 }))
        .sink(out),
    );
    await h.send(click('a', 10));
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, n: 1 }]);
  });
});

describe('bad records go to the dead letters, not into windows', () => {
  test('a sum over a field that is not a number at run time names the field', async () => {
    const h = harness(clicksIn(tumbling('1s')).sum('clicks').sink(out));
    await h.sendBatch([click('a', 10, 2), { userId: 'a', clicks: '3', ts: 20 }, { userId: 'a', ts: 30 }]);
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 2 }]);
    expect(h.deadLetters()).toEqual([
      { id: 'shard-0/2/window#2', reason: `sum('clicks'): field 'clicks' is not a number ("3")`, operator: 'window#2', shardId: 'shard-0', sequenceNumber: '2', data: '{"userId":"a","clicks":"3","ts":20}' },
      { id: 'shard-0/3/window#2', reason: `sum('clicks'): field 'clicks' is missing`, operator: 'window#2', shardId: 'shard-0', sequenceNumber: '3', data: '{"userId":"a","ts":30}' },
    ]);
  });

  test('a window whose only element was refused emits nothing', async () => {
    const h = harness(clicksIn(tumbling('1s')).avg('clicks').sink(out));
    await h.send({ userId: 'a', clicks: 'many', ts: 10 });
    await h.finish();
    expect(h.results()).toEqual([]);
    expect(h.deadLetters().map((d) => d.reason)).toEqual([`avg('clicks'): field 'clicks' is not a number ("many")`]);
  });

  test('a bad record in several sliding windows makes one dead letter', async () => {
    const h = harness(clicksIn(sliding('3s', '1s')).max('clicks').sink(out));
    await h.sendBatch([{ userId: 'a', clicks: null, ts: 2500 }, click('a', 2600, 4)]);
    await h.finish();
    expect(h.deadLetters().map((d) => [d.reason, d.sequenceNumber])).toEqual([[`max('clicks'): field 'clicks' is not a number (null)`, '1']]);
    expect(h.results().map((r) => r.clicks)).toEqual([4, 4, 4]);
  });

  test('a bad record for a session or count window is refused too', async () => {
    for (const assigner of [session('1s'), countWindow(1)]) {
      const h = harness(clicksIn(assigner).sum('clicks').sink(out));
      await h.send({ userId: 'a', clicks: 'x', ts: 1 });
      await h.finish();
      expect(h.results()).toEqual([]);
      expect(h.deadLetters().map((d) => d.reason)).toEqual([`sum('clicks'): field 'clicks' is not a number ("x")`]);
    }
  });

  test('malformed JSON is a dead letter from the source, with the raw data', async () => {
    const h = harness(clicksIn(tumbling('1s')).count().sink(out));
    await h.sendRaw(['{"userId":"a","clicks":1,"ts":5}', '{not json', '']);
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, count: 1 }]);
    const dead = h.deadLetters();
    expect(dead.map(({ operator, shardId, sequenceNumber, data }) => ({ operator, shardId, sequenceNumber, data }))).toEqual([
      { operator: 'source', shardId: 'shard-0', sequenceNumber: '2', data: '{not json' },
      { operator: 'source', shardId: 'shard-0', sequenceNumber: '3', data: '' },
    ]);
    for (const d of dead) expect(d.reason).toMatch(/^malformed JSON: /);
  });

  test('an event time that is not a number, and a missing key, are dead letters', async () => {
    const h = harness(clicksIn(tumbling('1s')).count().sink(out));
    await h.sendBatch([{ userId: 'a', clicks: 1, ts: '2024-01-01' }, { clicks: 1, ts: 5 }]);
    expect(h.deadLetters().map(({ reason, operator }) => ({ reason, operator }))).toEqual([
      { reason: 'eventTime gave "2024-01-01", not a number of epoch ms', operator: 'source' },
      { reason: 'keyBy#1: the key is missing', operator: 'keyBy#1' },
    ]);
  });
});
