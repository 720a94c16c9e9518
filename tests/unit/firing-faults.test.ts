import { dynamoSink, job, kinesisSource, tumbling, valueState } from 'shardflow';
import { harness } from 'shardflow/testing';
import { planJob } from '../../lib/plan/planner';
import { StageExecutor } from '../../lib/runtime/stage-executor';
import { MemoryBackend } from '../../lib/state/memory/memory-backend';
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

test("a stage's watermark waits until every declared source shard has reported, or the idleness timeout", async () => {
  const plan = planJob(job('two-shards').source(source(2)).keyBy((c) => c.userId).window(tumbling('5s')).count().sink(dynamoSink('out')));
  const backend = new MemoryBackend();
  const s1 = new StageExecutor(plan, plan.stages[1]!, backend);
  // Inputs of the keyed stage are (its shard < upstream shard) pairs: 2 shuffle shards × 2 source shards.
  const heard = (upstream: string, watermarkMs: number, lastActiveMs: number) =>
    ['x0', 'x1'].map((x) => ({ input: `${x}<${upstream}`, watermarkMs, maxEventTimeMs: NO_WATERMARK, lastActiveMs }));
  await backend.writeInputs('s1', heard('shard-0', 9000, 1000));
  expect(await s1.currentWatermark(2000)).toBe(NO_WATERMARK);
  expect(await s1.currentWatermark(1000 + 10_000)).toBe(9000); // the silent shard is idle now
  await backend.writeInputs('s1', heard('shard-1', 4000, 2000));
  expect(await s1.currentWatermark(2500)).toBe(4000);
});
