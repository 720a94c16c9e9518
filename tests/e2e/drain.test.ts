/**
 * `shardflow drain` on the embedded runtime: with windows still open (no event has passed them), the
 * command moves the keyed stage's watermark to the end of time, every window fires, and the results
 * equal sqlite3's over every event; an event put afterwards is late, and the results stay as they are.
 * With parallelizationFactor 3 the end of time reaches every key group of every shard.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import * as path from 'node:path';
import { END_OF_INPUT } from '../../lib/time/watermark';
import { clickEvents, embeddedJobs, ROOT, run, scanClickCounts, sqliteClickCounts, until } from './dev-process';

jest.setTimeout(180_000);

const jobWith = (parallelizationFactor: number): string => `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
type Click = { userId: string; clicks: number; ts: number };
export default job('drained')
  .source(kinesisSource<Click>('drained-clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10m', shards: 2 }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .sum('clicks')
  .settings({ parallelizationFactor: ${parallelizationFactor} })
  .sink(dynamoSink('drained-counts'));
`;

const jobs = embeddedJobs('sf-drain-');

test.each([1, 3])('drain fires every open window (parallelizationFactor %i): the results are every event, as sqlite3 counts them, and later events are late', async (parallelizationFactor) => {
  const { runtime: r, jobFile, port } = await jobs.start('drained', jobWith(parallelizationFactor));
  const put = async (events: readonly { userId: string }[]): Promise<void> => {
    const out = await r.kinesis.send(new PutRecordsCommand({ StreamName: 'drained-clicks', Records: events.map((e) => ({ PartitionKey: e.userId, Data: Buffer.from(JSON.stringify(e)) })) }));
    expect(out.FailedRecordCount).toBe(0);
  };
  const results = (): Promise<[string, number, number][]> => scanClickCounts(r.ddb, 'drained-counts');
  const events = clickEvents(300, 6, 3, 1_700_000_000_000, 20_000);
  await put(events);
  await until('the events through both stages', async () => r.idle() && r.status().stages[1]!.recordsIn > 0);
  // The last windows are open: nothing has passed them (idleAfter is 10 minutes).
  const all = await sqliteClickCounts(events, END_OF_INPUT, jobs.dir());
  expect((await results()).length).toBeLessThan(all.length);

  const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'drain', jobFile, '--endpoint', `http://localhost:${port}`], { cwd: ROOT, timeout: 120_000 });
  expect(stdout).toContain('s1: the end of time put on 2 shard(s) of drained-s1 from 2 source shard(s)');
  expect(stdout).toContain('drained: every window and event-time timer has fired');
  await until('every window in the results table', async () => JSON.stringify(await results()) === JSON.stringify(all), 30_000).catch(() => undefined);
  expect(await results()).toEqual(all);

  // After the drain an event, even for an open-looking time, is late: nothing changes.
  await put([{ userId: 'user-1', clicks: 5, ts: events[events.length - 1]!.ts } as { userId: string }]);
  await until('the keyed stage to count the event late', async () => (r.status().stages[1]!.metrics.LateRecords?.sum ?? 0) >= 1);
  expect(await results()).toEqual(all);
});
