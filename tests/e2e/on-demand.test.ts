/**
 * A job whose streams are on-demand (`job(name, { streamMode: 'on-demand' })`) on the embedded runtime:
 * its source and shuffle streams exist in on-demand mode with the 4 shards such a stream starts with,
 * events flow through both stages and every window equals what sqlite3 computes, and `shardflow rescale`
 * refuses the stream (Kinesis scales an on-demand stream by itself). kinesis-mock does not scale it: the
 * shards stay 4 (docs/operations.md).
 */
import { DescribeStreamSummaryCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import * as path from 'node:path';
import { clickEvents, embeddedJobs, ROOT, run, scanClickCounts, sqliteClickCounts, until } from './dev-process';

jest.setTimeout(300_000);

const JOB = `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
type Click = { userId: string; clicks: number; ts: number };
export default job('on-demand', { streamMode: 'on-demand' })
  .source(kinesisSource<Click>('on-demand-clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s' }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .sum('clicks')
  .settings({ batchingWindow: 0 })
  .sink(dynamoSink('on-demand-counts'));
`;

const jobs = embeddedJobs('sf-on-demand-');

type Click = { userId: string; clicks: number; ts: number };

test('a job on on-demand streams runs on the embedded runtime with every window exact, and rescale leaves its streams to Kinesis', async () => {
  const { runtime: r, jobFile, port } = await jobs.start('on-demand', JOB);
  for (const stream of ['on-demand-clicks', 'on-demand-s1']) {
    const { StreamDescriptionSummary: s } = await r.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    expect([stream, s?.StreamModeDetails?.StreamMode, s?.OpenShardCount]).toEqual([stream, 'ON_DEMAND', 4]);
  }
  const put = async (events: readonly Click[]): Promise<void> => {
    for (let i = 0; i < events.length; i += 100) {
      const out = await r.kinesis.send(new PutRecordsCommand({ StreamName: 'on-demand-clicks', Records: events.slice(i, i + 100).map((e) => ({ PartitionKey: e.userId, Data: Buffer.from(JSON.stringify(e)) })) }));
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
    }
  };
  const events = clickEvents(600, 12, 17, 1_700_000_000_000, 30_000);
  const last = Math.max(...events.map((e) => e.ts));
  // One click per user far ahead: every shard's watermark passes every window of the events above.
  const flush = Array.from({ length: 12 }, (_, u) => ({ userId: `user-${u}`, clicks: 1, ts: last + 20_000 }));
  await put(events);
  await put(flush);

  const expected = await sqliteClickCounts([...events, ...flush], last + 20_000 - 2000 - 1, jobs.dir());
  expect(expected.length).toBeGreaterThan(50);
  let got: [string, number, number][] = [];
  await until(
    () => `the results to equal sqlite3's (${got.length} of ${expected.length} windows so far)`,
    async () => JSON.stringify((got = await scanClickCounts(r.ddb, 'on-demand-counts'))) === JSON.stringify(expected),
    // Eight shard consumers and their workers: on a loaded machine (the full suite beside other work) this takes minutes.
    180_000,
  ).catch(() => undefined);
  expect(got).toEqual(expected);
  // The keyed stage's mapping read all four shards of its on-demand stream.
  expect(r.status().stages[1]!.shards.filter((s) => s.recordsDelivered > 0)).toHaveLength(4);

  const refused = await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'rescale', jobFile, '--stage', 's1', '--shards', '8', '--endpoint', `http://localhost:${port}`], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
  expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('stream on-demand-s1 is in on-demand mode: Kinesis scales it by itself') });
  const { StreamDescriptionSummary: after } = await r.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'on-demand-s1' }));
  expect(after?.OpenShardCount).toBe(4);
});
