/**
 * `shardflow rescale` on the embedded runtime while events flow: the keyed stage's shuffle stream goes
 * from 2 shards to 4 (UpdateShardCount splits each) and back to 2 (merges them), with records put before,
 * during and after each; windows open across both reshards. Every window's result equals what sqlite3
 * computes over all events — nothing lost, nothing counted twice — and the watermark keeps moving to the
 * end. The source stage's cached route map is stale after each reshard: its envelopes land on the wrong
 * shards and are sent again.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import * as path from 'node:path';
import { listShardIds } from '../../lib/io/shard-list';
import { clickEvents, embeddedJobs, ROOT, run, scanClickCounts, sqliteClickCounts, until } from './dev-process';

jest.setTimeout(300_000);

const JOB = `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
type Click = { userId: string; clicks: number; ts: number };
export default job('rescaled')
  .source(kinesisSource<Click>('rescaled-clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s', shards: 2 }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .sum('clicks')
  .parallelism(2)
  .settings({ batchingWindow: 0 })
  .sink(dynamoSink('rescaled-counts'));
`;

const jobs = embeddedJobs('sf-rescale-');

type Click = { userId: string; clicks: number; ts: number };

/** The real command line. */
async function shardflow(args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), ...args], { cwd: ROOT, timeout: 120_000 });
  return stdout;
}

test('a keyed stage rescaled 2 → 4 → 2 shards while events flow keeps every window exact, and its watermark moves on', async () => {
  const { runtime: r, jobFile, port } = await jobs.start('rescaled', JOB);
  const put = async (events: readonly Click[]): Promise<void> => {
    for (let i = 0; i < events.length; i += 25) {
      const out = await r.kinesis.send(new PutRecordsCommand({ StreamName: 'rescaled-clicks', Records: events.slice(i, i + 25).map((e) => ({ PartitionKey: e.userId, Data: Buffer.from(JSON.stringify(e)) })) }));
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
      await new Promise((done) => setTimeout(done, 250)); // spread over the reshard, as live traffic would be
    }
  };
  const rescaleTo = (n: number): Promise<string> => shardflow(['rescale', jobFile, '--stage', 's1', '--shards', String(n), '--endpoint', `http://localhost:${port}`]);

  const events = clickEvents(900, 8, 7, 1_700_000_000_000, 45_000);
  const [before, during, after] = [events.slice(0, 300), events.slice(300, 600), events.slice(600)];
  await put(before);
  await until('the first events through both stages', async () => r.idle() && r.status().stages[1]!.recordsIn > 0);

  const [split] = await Promise.all([rescaleTo(4), put(during)]);
  expect(split).toMatch(/^s1: stream rescaled-s1 from 2 to 4 shard\(s\): /);
  const [merged] = await Promise.all([rescaleTo(2), put(after)]);
  expect(merged).toMatch(/^s1: stream rescaled-s1 from 4 to 2 shard\(s\): /);
  // 2 first shards, 4 children, 2 grandchildren.
  expect(await listShardIds(r.kinesis, 'rescaled-s1')).toHaveLength(8);

  // One late click per user far ahead: the watermark passes every window of the events above.
  const last = Math.max(...events.map((e) => e.ts));
  const flush = Array.from({ length: 8 }, (_, u) => ({ userId: `user-${u}`, clicks: 1, ts: last + 20_000 }));
  await put(flush);
  const expected = await sqliteClickCounts([...events, ...flush], last + 20_000 - 2000 - 1, jobs.dir());
  expect(expected.length).toBeGreaterThan(40);
  let got: [string, number, number][] = [];
  await until(
    () => `the results to equal sqlite3's (${got.length} of ${expected.length} windows so far)`,
    async () => JSON.stringify((got = await scanClickCounts(r.ddb, 'rescaled-counts'))) === JSON.stringify(expected),
    120_000,
  ).catch(() => undefined);
  expect(got).toEqual(expected);
  // The keyed stage's watermark, as its open shards' logs have it, passed the last window of the events.
  await until('the keyed watermark past the events', async () => (r.status().stages[1]!.watermarkMs ?? 0) >= last - 2001, 30_000);
});
