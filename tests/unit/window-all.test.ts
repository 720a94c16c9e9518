/** windowAll (Flink's global windows): every record in one window per time window, keyed 'all', after a keyed stage or straight from the source. */
import { dynamoSink, job, kinesisSource, logSink, tumbling } from 'shardflow';
import { harness } from 'shardflow/testing';

type Click = { userId: string; clicks: number; ts: number };
const source = () => kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, shards: 2 });

test('after a keyed window: the largest per-user sum of each window, over all users', async () => {
  const h = harness(job('busiest').source(source()).keyBy((c) => c.userId).window(tumbling('1s')).sum('clicks').windowAll(tumbling('1s')).max('clicks').sink(dynamoSink('busiest')));
  await h.sendBatch([{ userId: 'a', clicks: 2, ts: 100 }, { userId: 'b', clicks: 4, ts: 200 }], { shard: 'shard-0' });
  await h.sendBatch([{ userId: 'a', clicks: 3, ts: 300 }, { userId: 'c', clicks: 1, ts: 1500 }], { shard: 'shard-1' });
  await h.finish();
  expect(h.results()).toEqual([
    { key: 'all', windowStart: 0, windowEnd: 1000, clicks: 5 },
    { key: 'all', windowStart: 1000, windowEnd: 2000, clicks: 1 },
  ]);
  expect(h.plan.stages.map((s) => s.input.shards)).toEqual([2, 2, 1]);
});

test('straight from the source: one count per window over every record', async () => {
  const h = harness(job('all-clicks').source(source()).windowAll(tumbling('1s')).count().sink(logSink()));
  await h.sendBatch([{ userId: 'a', clicks: 2, ts: 100 }, { userId: 'b', clicks: 4, ts: 900 }, { userId: 'b', clicks: 4, ts: 1000 }]);
  await h.finish();
  expect(h.results()).toEqual([
    { key: 'all', windowStart: 0, windowEnd: 1000, count: 2 },
    { key: 'all', windowStart: 1000, windowEnd: 2000, count: 1 },
  ]);
});
