/**
 * ParallelizationFactor above 1 on keyed stages, on the embedded runtime (kinesis-local, dynalite, the local
 * event source mapping, worker processes): clicks per user per 5 s window on a keyed stage with P = 3 (two
 * shards, three key groups each), whose results go to a table and, keyed again, to a second keyed stage with
 * P = 2 that sums them once more. Both tables equal what sqlite3 computes over all events; batches of one
 * shard really ran side by side (the mapping's lanes); and each key group kept its own log.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { clickEvents, embeddedJobs, scanClickCounts, sqliteClickCounts, until } from './dev-process';

jest.setTimeout(300_000);

const JOB = `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
type Click = { userId: string; clicks: number; ts: number };
const parallel = job('parallel');
const perUser = parallel
  .source(kinesisSource<Click>('parallel-clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s', shards: 2 }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .sum('clicks')
  .parallelism(2)
  .settings({ batchingWindow: 0, batchSize: 10, parallelizationFactor: 3 });
perUser.sink(dynamoSink('parallel-counts'));
perUser
  .map((w) => ({ userId: w.key, clicks: w.clicks, ts: w.windowStart }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .sum('clicks')
  .parallelism(2)
  .settings({ batchingWindow: 0, batchSize: 10, parallelizationFactor: 2 })
  .sink(dynamoSink('parallel-again'));
export default parallel;
`;

const jobs = embeddedJobs('sf-parallel-');

type Click = { userId: string; clicks: number; ts: number };

test('keyed stages with ParallelizationFactor 3 and 2 run batches of one shard side by side, and every window equals sqlite3', async () => {
  const { runtime: r } = await jobs.start('parallel', JOB);
  const put = async (events: readonly Click[]): Promise<void> => {
    for (let i = 0; i < events.length; i += 50) {
      const out = await r.kinesis.send(new PutRecordsCommand({ StreamName: 'parallel-clicks', Records: events.slice(i, i + 50).map((e) => ({ PartitionKey: e.userId, Data: Buffer.from(JSON.stringify(e)) })) }));
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
    }
  };
  const events = clickEvents(1500, 24, 11, 1_700_000_000_000, 40_000);
  await put(events);
  // One click per user far ahead: the watermark passes every window of the events above.
  const last = Math.max(...events.map((e) => e.ts));
  const flush = Array.from({ length: 24 }, (_, u) => ({ userId: `user-${u}`, clicks: 1, ts: last + 20_000 }));
  await put(flush);

  const expected = await sqliteClickCounts([...events, ...flush], last + 20_000 - 2000 - 1, jobs.dir());
  expect(expected.length).toBeGreaterThan(150);
  let got: [string, number, number][] = [];
  let again: [string, number, number][] = [];
  await until(
    () => `both tables to equal sqlite3's (${got.length} and ${again.length} of ${expected.length} windows so far)`,
    async () => {
      got = await scanClickCounts(r.ddb, 'parallel-counts');
      again = await scanClickCounts(r.ddb, 'parallel-again');
      return JSON.stringify(got) === JSON.stringify(expected) && JSON.stringify(again) === JSON.stringify(expected);
    },
    150_000,
  ).catch(() => undefined);
  expect(got).toEqual(expected);
  expect(again).toEqual(expected);

  // Concurrent batches of one shard: the event source mapping had more than one lane of a keyed stage's
  // shard in flight at once (each batch in its own worker process), never more than the stage's factor.
  const status = r.status();
  const concurrency = (stage: number): number[] => status.stages[stage]!.shards.map((s) => s.maxConcurrentBatches);
  expect(Math.max(...concurrency(1))).toBeGreaterThan(1);
  expect(Math.max(...concurrency(1))).toBeLessThanOrEqual(3);
  expect(Math.max(...concurrency(2))).toBeLessThanOrEqual(2);

  // Each (shard, key group) kept its own log: three logical shards per shard of the first keyed stage, two of the second.
  const { Items = [] } = await r.ddb.send(new ScanCommand({ TableName: r.plan.stateTable }));
  const logs = new Set(Items.map((i) => unmarshall(i) as Record<string, unknown>).map((i) => String(Object.values(i).find((v) => typeof v === 'string' && v.startsWith('l#')) ?? '')));
  const groupsOf = (stateId: string): Set<string> => new Set([...logs].map((l) => new RegExp(`^l#${stateId}#shardId-\\d+\\.(g\\d)$`).exec(l)?.[1]).filter((g): g is string => g !== undefined));
  expect(groupsOf('s1')).toEqual(new Set(['g0', 'g1', 'g2']));
  expect(groupsOf('s2')).toEqual(new Set(['g0', 'g1']));
});
