import { dynamoSink, job, kinesisSource, tumbling, valueState } from 'shardflow';
import { harness } from 'shardflow/testing';
import { NO_WATERMARK } from '../../lib/time/watermark';

type Click = { userId: string; clicks: number; ts: number };
const source = (shards = 1) => kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, idleAfter: '10s', shards });
const record = (seq: number, c: Click) => ({ shardId: 'shard-0', sequenceNumber: String(seq), data: JSON.stringify(c) });

test('a batch retried after the watermark moved past its windows is neither counted again nor reported late', async () => {
  const h = harness(job('retry-late').source(source()).keyBy((c) => c.userId).window(tumbling('5s')).sum('clicks').sink(dynamoSink('out')));
  const batch = [record(1, { userId: 'a', clicks: 2, ts: 1000 }), record(2, { userId: 'a', clicks: 3, ts: 2000 })];
  await h.replay(batch);
  await h.watermark(20_000); // fires and closes [0, 5000)
  await h.replay(batch); // Lambda never saw the success
  expect(h.table()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 5000, clicks: 5 }]);
  expect(h.late()).toEqual([]);
});

test('a window function that throws when its window fires becomes a dead letter; other windows still fire', async () => {
  const h = harness(
    job('bad-window')
      .source(source())
      .keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .process(({ key, elements }) => {
        if (key === 'bad') throw new Error('cannot summarise');
        return { n: elements.length };
      })
      .sink(dynamoSink('out')),
  );
  await h.sendBatch([{ userId: 'bad', clicks: 1, ts: 10 }, { userId: 'good', clicks: 1, ts: 20 }]);
  await h.watermark(4999);
  expect(h.results()).toEqual([{ key: 'good', windowStart: 0, windowEnd: 5000, n: 1 }]);
  expect(h.deadLetters()).toEqual([expect.objectContaining({ operator: 'window#2', reason: expect.stringContaining('cannot summarise') })]);
  await h.watermark(20_000); // the stage keeps moving
  expect(h.currentWatermark()).toBe(20_000);
});

test('an onTimer that throws becomes a dead letter, keeps the state it had, and later timers still fire', async () => {
  const h = harness(
    job('bad-timer')
      .source(source())
      .keyBy((c) => c.userId)
      .process({
        state: { seen: valueState(0) },
        onEvent(c, ctx) {
          ctx.state.seen.update(ctx.state.seen.value() + 1);
          ctx.timers.registerEventTime(c.ts + 100);
        },
        onTimer(ts, ctx) {
          ctx.state.seen.update(-1);
          if (ts === 200) throw new Error('timer broke');
          ctx.emit({ at: ts, seen: ctx.state.seen.value() });
        },
      })
      .sink(dynamoSink('out')),
  );
  await h.sendBatch([{ userId: 'a', clicks: 1, ts: 100 }, { userId: 'a', clicks: 1, ts: 300 }]);
  await h.watermark(250);
  expect(h.deadLetters()).toEqual([expect.objectContaining({ reason: 'process#2 onTimer threw: timer broke' })]);
  await h.watermark(1000);
  expect(h.results()).toEqual([{ at: 400, seen: -1 }]);
});

test("a keyed shard's watermark waits until every declared source shard has reported, or the idleness timeout, and never goes back", async () => {
  const h = harness(job('two-shards').source(source(2)).keyBy((c) => c.userId).window(tumbling('5s')).count().sink(dynamoSink('out')), { watermarks: 'strategy' });
  await h.send({ userId: 'a', clicks: 1, ts: 9000 }, { shard: 'shard-0' });
  expect(h.currentWatermark()).toBe(NO_WATERMARK); // shard-1 has not reported yet
  await h.advanceProcessingTime(10_000);
  // The tick names shard-1: it holds the watermark until it reports or has been silent for idleAfter.
  expect(h.currentWatermark()).toBe(NO_WATERMARK);
  await h.advanceProcessingTime(10_000);
  expect(h.currentWatermark()).toBe(8999); // every input idle: the highest holds
  await h.send({ userId: 'b', clicks: 1, ts: 4000 }, { shard: 'shard-1' });
  expect(h.currentWatermark()).toBe(8999); // a watermark never goes back
  expect(h.late()).toEqual([{ userId: 'b', clicks: 1, ts: 4000 }]);
});
