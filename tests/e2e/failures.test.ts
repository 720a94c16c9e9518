/**
 * A poison record, end to end: it crashes the stage function every time, so the event source mapping
 * bisects down to it, exhausts its retries and sends it to the stage's on-failure queue; `shardflow
 * failures` (the real CLI, through the edge, as on AWS through SQS) shows it; the job is fixed and the
 * runtime restarted on the same data; `shardflow failures --redrive` feeds it to the stage again; the
 * results are then exactly what sqlite3 computes over every event, the poison record counted once.
 */
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DevRuntime } from '../../lib/local/dev-runtime';
import { clickEvents, freePort, putWithCli, ROOT, run, scanResults, sqliteClickCounts, until } from './dev-process';

jest.setTimeout(300_000);

const OUT_OF_ORDERNESS_MS = 2000;

/** The job, poisoned (a record with `poison` kills the function's process, like an OOM would) or fixed. */
const jobSource = (poisoned: boolean): string => `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
type Click = { userId: string; clicks: number; ts: number; poison?: boolean };
export default job('poison-clicks')
  .source(kinesisSource<Click>('poison-clicks-in', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s' }))
  .map((c) => {
    ${poisoned ? 'if (c.poison) process.exit(13);' : ''}
    return { userId: c.userId, clicks: c.clicks, ts: c.ts };
  })
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .allowedLateness('10m')
  .sum('clicks')
  .sink(dynamoSink('click-counts'));
`;

/** The same job with the poison in the keyed stage: its window function kills the process on that record. */
const keyedPoisonSource = (poisoned: boolean): string => `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
type Click = { userId: string; clicks: number; ts: number; poison?: boolean };
export default job('poison-keyed')
  .source(kinesisSource<Click>('poison-keyed-in', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s' }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .allowedLateness('10m')
  .aggregate({
    create: () => ({ clicks: 0 }),
    add: (a: { clicks: number }, c: Click) => {
      ${poisoned ? 'if (c.poison) process.exit(13);' : ''}
      return { clicks: a.clicks + c.clicks };
    },
    merge: (a: { clicks: number }, b: { clicks: number }) => ({ clicks: a.clicks + b.clicks }),
    result: (a: { clicks: number }) => a,
  })
  .sink(dynamoSink('keyed-counts'));
`;

let dir: string;
const runtimes: DevRuntime[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-failures-'));
});
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The real command line, as a user types it. */
async function shardflow(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), ...args], { cwd: ROOT, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Stops the poisoned runtime, starts the fixed job on the same data, and runs `failures --redrive` (which must succeed). */
async function fixAndRedrive(poisoned: DevRuntime, fixed: Parameters<typeof DevRuntime.start>[0], endpoint: readonly string[]): Promise<{ code: number; stdout: string }> {
  await poisoned.stop();
  runtimes.splice(runtimes.indexOf(poisoned), 1);
  runtimes.push(await DevRuntime.start(fixed));
  const redrive = await shardflow(['failures', fixed.jobFile, '--redrive', ...endpoint]);
  expect(redrive).toMatchObject({ code: 0 });
  return redrive;
}

test('a poison record exhausts its retries, `shardflow failures` shows it, and after the fix `--redrive` brings its effect in once', async () => {
  const port = await freePort();
  const data = path.join(dir, 'data');
  const poisonedJob = path.join(dir, 'poison-clicks.ts');
  const fixedJob = path.join(dir, 'poison-clicks-fixed.ts');
  fs.writeFileSync(poisonedJob, jobSource(true));
  fs.writeFileSync(fixedJob, jobSource(false));
  // Few retries, so the poison record is given up on within the test (the plan's default is 1000).
  const options = { port, dataDir: data, batch: { maxRetryAttempts: 1 } };
  const endpoint = ['--endpoint', `http://localhost:${port}`];

  const first = await DevRuntime.start({ ...options, jobFile: poisonedJob });
  runtimes.push(first);
  const events = clickEvents(240, 6, 11);
  const poison = { userId: 'user-2', clicks: 7, ts: events[120]!.ts, poison: true };
  await putWithCli(port, 'poison-clicks-in', events.slice(0, 120), dir);
  const put = await first.kinesis.send(new PutRecordCommand({ StreamName: 'poison-clicks-in', PartitionKey: poison.userId, Data: Buffer.from(JSON.stringify(poison)) }));
  await putWithCli(port, 'poison-clicks-in', events.slice(120), dir);

  // The mapping bisects down to the poison record, retries it once, and gives up on it alone.
  let listing = '';
  await until('shardflow failures to show the poison record', async () => {
    const r = await shardflow(['failures', poisonedJob, ...endpoint]);
    listing = r.stdout;
    return r.code === 0 && listing.includes(put.SequenceNumber!);
  });
  expect(listing.trim()).toMatch(
    new RegExp(`^s0  ${put.ShardId}  ${put.SequenceNumber}\\.\\.${put.SequenceNumber}  1 record\\(s\\)  RetryAttemptsExhausted after \\d+ invocation\\(s\\) \\(function error: Unhandled\\)  at \\S+Z$`),
  );
  await until('the rest of the stream to be processed', async () => first.idle());
  expect(first.status().stages[0]).toMatchObject({ id: 's0' });
  expect(first.status().stages[0]!.shards.reduce((n, s) => n + s.recordsDelivered, 0)).toBe(240);
  // Listing leaves the message in the queue.
  expect((await shardflow(['failures', poisonedJob, '--stage', 's0', ...endpoint])).stdout).toContain(put.SequenceNumber!);

  // The fix: the job without the crash, restarted on the same data (streams, tables, checkpoints, queue).
  const redrive = await fixAndRedrive(first, { ...options, jobFile: fixedJob }, endpoint);
  expect(redrive.stdout).toContain(put.SequenceNumber!);
  expect(redrive.stdout).toMatch(/redriven: 1 record\(s\) put on poison-clicks-in again \(shardId-\d+\/\d+\); stage s0 takes them like any batch/);
  const after = await shardflow(['failures', fixedJob, ...endpoint]);
  expect(after.stdout.trim()).toBe('no failed batches in poison-clicks-s0-failures, poison-clicks-s1-failures');

  // Every event, the poison record included once, in the windows the final watermark has closed.
  const all = [...events, { userId: poison.userId, clicks: poison.clicks, ts: poison.ts }];
  const expected = await sqliteClickCounts(all, Math.max(...all.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1, dir);
  const poisonWindow = poison.ts - (poison.ts % 5000);
  expect(expected.find(([key, start]) => key === poison.userId && start === poisonWindow)).toBeDefined();
  await until('the results to equal sqlite3\'s', async () => JSON.stringify(await scanResults(port, 'click-counts')) === JSON.stringify(expected), 120_000).catch(() => undefined);
  expect(await scanResults(port, 'click-counts')).toEqual(expected);
});

test('a keyed stage\'s failed batch (an envelope of many keys) is redriven once: the envelope comes back under an input of its own, and every element of it counts once', async () => {
  const port = await freePort();
  const poisonedJob = path.join(dir, 'poison-keyed.ts');
  const fixedJob = path.join(dir, 'poison-keyed-fixed.ts');
  fs.writeFileSync(poisonedJob, keyedPoisonSource(true));
  fs.writeFileSync(fixedJob, keyedPoisonSource(false));
  const options = { port, dataDir: path.join(dir, 'data'), batch: { maxRetryAttempts: 1 } };
  const endpoint = ['--endpoint', `http://localhost:${port}`];

  const first = await DevRuntime.start({ ...options, jobFile: poisonedJob });
  runtimes.push(first);
  const events = clickEvents(240, 6, 12);
  const poison = { userId: 'user-3', clicks: 5, ts: events[100]!.ts, poison: true };
  await putWithCli(port, 'poison-keyed-in', [...events.slice(0, 100), poison, ...events.slice(100)], dir);

  // The keyed stage gives up on the envelope holding the poison record (with the other records of its source batch).
  let listing = '';
  await until('shardflow failures to show the keyed stage\'s failed batch', async () => {
    const r = await shardflow(['failures', poisonedJob, '--stage', 's1', ...endpoint]);
    listing = r.stdout;
    return r.code === 0 && /^s1 {2}/m.test(listing);
  });
  expect(listing.trim()).toMatch(/^s1 {2}shardId-\d+ {2}\d+\.\.\d+ {2}1 record\(s\) {2}RetryAttemptsExhausted after \d+ invocation\(s\) \(function error: Unhandled\)/);
  await until('the rest of the stream to be processed', async () => first.idle());
  const redrive = await fixAndRedrive(first, { ...options, jobFile: fixedJob }, endpoint);
  expect(redrive.stdout).toMatch(/redriven: 1 envelope\(s\) of the 1 record\(s\) put on poison-keyed-s1 again \(shardId-\d+\/\d+\); stage s1 takes them like any batch, once/);

  // Every event, the poison record's clicks included once — late firings within the allowed lateness.
  const all = [...events, { userId: poison.userId, clicks: poison.clicks, ts: poison.ts }];
  const expected = await sqliteClickCounts(all, Math.max(...all.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1, dir);
  await until('the results to equal sqlite3\'s', async () => JSON.stringify(await scanResults(port, 'keyed-counts')) === JSON.stringify(expected), 120_000).catch(() => undefined);
  expect(await scanResults(port, 'keyed-counts')).toEqual(expected);
});

describe('a mistake gets one clear line and exit code 2', () => {
  test('a stage the job does not have', async () => {
    const r = await shardflow(['failures', 'examples/click-counts.ts', '--stage', 's9']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("shardflow: --stage s9: job 'click-counts' has stages s0, s1");
  });

  test('nothing running at the endpoint', async () => {
    const port = await freePort();
    const r = await shardflow(['failures', 'examples/click-counts.ts', '--endpoint', `http://localhost:${port}`]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`shardflow: nothing answers at http://localhost:${port} — start \`shardflow dev JOB\` first, or pass --endpoint / --deployed`);
  });
});
