/**
 * Backfill from history: the same clicks once live (`shardflow dev`, pushed with the AWS CLI, the source
 * stream split between the pushes) and once through `shardflow run --from-stream` over that stream's
 * history (the closed parent shard read before its children): the same windows. And JSON lines from S3
 * (s3rver, an S3 emulator, across the wire) give what the same local file gives.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import S3rver from 's3rver';
import { kinesisClient } from '../../lib/io/aws-clients';
import { partitionKeyOf, putEvents } from '../../lib/local/demo';
import { aws, byKeyThenWindow, clickEvents, freePort, putWithCli, ROOT, run, scanResults, sqliteClickCounts, startDev, until, untilSettled, type DevProcess } from './dev-process';

jest.setTimeout(240_000);
const OUT_OF_ORDERNESS_MS = 2000;

let dir: string;
let running: DevProcess | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-e2e-history-'));
});
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) await running.interrupt();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Row = [string, number, number];

/** The emulators' dummy identity, as the AWS CLI helper uses it; s3rver is told to accept it below. */
const IDENTITY = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

/** `shardflow ARGS` as a user runs it: exit code, and what it printed. */
const shardflow = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  run('node', [path.join(ROOT, 'bin/shardflow.js'), ...args], { cwd: ROOT, env: { ...process.env, ...IDENTITY } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** The click-counts windows a `run --output` wrote, sorted. */
function windowsIn(output: string): Row[] {
  const text = fs.readFileSync(path.join(output, 'click-counts.jsonl'), 'utf8').trim();
  if (!text) return [];
  return text
    .split('\n')
    .map((l) => JSON.parse(l) as { key: string; windowStart: number; clicks: number })
    .map((r): Row => [r.key, r.windowStart, r.clicks])
    .sort(byKeyThenWindow);
}

test('run --from-stream reads the stream from --at to --until, a split shard before its children, and gives the windows the live run gave', async () => {
  // More than a batch (500) of each half: the order the shards are read in decides what is late.
  const events = clickEvents(1500, 12, 21);
  const [before, after] = [events.slice(0, 750), events.slice(750)];
  const port = await freePort();
  const data = path.join(dir, 'data');
  const endpoint = `http://localhost:${port}`;
  running = await startDev(['examples/click-counts.ts', '--no-demo', '--port', String(port), '--data', data]);

  await putWithCli(port, 'clicks', before, dir);
  // Every record put so far arrived before `middle`; every record put from now on, at or after it.
  const middle = Date.now() + 1;
  await until('the clock to pass the middle of the history', async () => Date.now() > middle, 5_000);
  // Split the stream's one shard: the first half stays in the closed parent, the second goes to its children.
  await aws(port, ['kinesis', 'split-shard', '--stream-name', 'clicks', '--shard-to-split', 'shardId-000000000000', '--new-starting-hash-key', (2n ** 127n).toString()]);
  // The second half follows the split at once, in one call: live, a child that stays silent for the job's
  // idleAfter (10 s) after the watermark function names it stops holding the watermark, and records it
  // delivers later may be late (docs/guarantees.md) — a slow push on a loaded machine would make the live
  // run, not the backfill, lose records.
  const kinesis = kinesisClient({ endpoint });
  try {
    await until('the split to finish', async () => {
      const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'clicks' }));
      return s?.StreamStatus === 'ACTIVE' && s.OpenShardCount === 2;
    });
    expect(await putEvents(kinesis, 'clicks', after, partitionKeyOf)).toBe(after.length);
  } finally {
    kinesis.destroy();
  }
  const liveWatermark = Math.max(...events.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1;
  await untilSettled(port, 'examples/click-counts.ts', data, liveWatermark, 120_000);
  const live = await scanResults(port, 'click-counts');
  expect(live.length).toBeGreaterThan(20);

  // All of the history: the parent's 750 records, then its children's side by side.
  const all = path.join(dir, 'all');
  const whole = await shardflow('run', 'examples/click-counts.ts', '--from-stream', 'clicks', '--at', 'TRIM_HORIZON', '--endpoint', endpoint, '--output', all);
  expect(whole.code).toBe(0);
  const shardCounts = /read 1,500 records of stream clicks from TRIM_HORIZON to \S+: shard 0 750, shard 1 (\d+), shard 2 (\d+)\n/.exec(whole.stderr);
  expect(shardCounts).not.toBeNull();
  expect(Number(shardCounts![1]) + Number(shardCounts![2])).toBe(750);
  expect(whole.stderr).toMatch(/ran 1,500 events through click-counts in [\d.]+ s .*; 0 late, 0 dead-lettered/);
  const bounded = windowsIn(all);
  expect(bounded).toEqual(await sqliteClickCounts(events, Number.MAX_SAFE_INTEGER, dir));
  // Live, the windows its watermark passed: exactly the backfill's windows up to that watermark.
  expect(live).toEqual(bounded.filter(([, windowStart]) => windowStart + 5000 - 1 <= liveWatermark));

  // From the middle (epoch ms): only what came after, all of it in the children.
  const later = path.join(dir, 'later');
  const fromMiddle = await shardflow('run', 'examples/click-counts.ts', '--from-stream', 'clicks', '--at', String(middle), '--endpoint', endpoint, '--output', later);
  expect(fromMiddle.stderr).toMatch(/read 750 records of stream clicks from \S+ to \S+: shard 0 0, shard 1 \d+, shard 2 \d+\n/);
  expect(windowsIn(later)).toEqual(await sqliteClickCounts(after, Number.MAX_SAFE_INTEGER, dir));

  // Up to the middle (ISO-8601): only what came before, all of it in the parent.
  const earlier = path.join(dir, 'earlier');
  const toMiddle = await shardflow('run', 'examples/click-counts.ts', '--from-stream', 'clicks', '--at', 'trim_horizon', '--until', new Date(middle).toISOString(), '--endpoint', endpoint, '--output', earlier);
  expect(toMiddle.stderr).toMatch(/read 750 records of stream clicks from TRIM_HORIZON to \S+: shard 0 750, shard 1 0, shard 2 0\n/);
  expect(windowsIn(earlier)).toEqual(await sqliteClickCounts(before, Number.MAX_SAFE_INTEGER, dir));

  // What is wrong, said in one line: a stream that is not there, a time the stream no longer keeps.
  const missing = await shardflow('run', 'examples/click-counts.ts', '--from-stream', 'clicks=clickz', '--at', 'TRIM_HORIZON', '--endpoint', endpoint);
  expect({ code: missing.code, stderr: missing.stderr }).toEqual({ code: 2, stderr: `shardflow: no stream 'clickz' at ${endpoint}: name the stream to read, and start \`shardflow dev JOB\` first or pass --endpoint / --deployed\n` });
  const dayAndAHourAgo = new Date(Date.now() - 25 * 3_600_000).toISOString();
  const tooOld = await shardflow('run', 'examples/click-counts.ts', '--from-stream', 'clicks', '--at', dayAndAHourAgo, '--endpoint', endpoint);
  expect(tooOld.code).toBe(2);
  expect(tooOld.stderr).toMatch(new RegExp(`^shardflow: --at ${dayAndAHourAgo.replace(/[.]/g, '\\.')} is before what stream 'clicks' keeps: its retention is 24 hours \\(records since \\S+\\); use a later --at, or --at TRIM_HORIZON for all it has\\n$`));
  expect(await running.interrupt()).toBe(0);
});

test('run --from-stream names what is missing or malformed before it reads anything', async () => {
  const future = String(Date.now() + 3_600_000);
  const cases: [string[], string][] = [
    [['--from-stream', 'clicks'], '--from-stream needs --at: where to start — an ISO-8601 time (2026-11-30T12:00:00Z), epoch milliseconds, or TRIM_HORIZON for all the stream keeps'],
    [['--from-stream', 'clicks', '--at', 'yesterday'], '--at yesterday: expected an ISO-8601 time (2026-11-30T12:00:00Z) or epoch milliseconds, or TRIM_HORIZON'],
    [['--from-stream', 'clicks', '--at', '2026-01-02T00:00:00Z', '--until', '2026-01-01T00:00:00Z'], '--until 2026-01-01T00:00:00Z: it must come after --at 2026-01-02T00:00:00Z'],
    [['--from-stream', 'clicks', '--at', future], `--at ${future} is in the future: a backfill reads what has arrived already`],
    [['--input', path.join(ROOT, 'package.json'), '--from-stream', 'clicks', '--at', 'TRIM_HORIZON'], 'source clicks is given more than one input: give each source one, with --input or --from-stream'],
  ];
  for (const [args, message] of cases) {
    const out = await shardflow('run', 'examples/click-counts.ts', ...args);
    expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 2, stderr: `shardflow: ${message}\n` });
  }
  const fraud = await shardflow('run', 'examples/fraud.ts', '--from-stream', 'tx', '--at', 'TRIM_HORIZON');
  expect(fraud.stderr).toBe("shardflow: the job reads 3 sources (transactions, logins, limit-rules): name each stream's, --from-stream transactions=STREAM,logins=STREAM,limit-rules=STREAM\n");
  const nobody = await shardflow('run', 'examples/click-counts.ts', '--from-stream', 'clicks', '--at', 'TRIM_HORIZON', '--endpoint', `http://127.0.0.1:${await freePort()}`);
  expect(nobody.stderr).toMatch(/^shardflow: nothing answers at http:\/\/127\.0\.0\.1:\d+: start `shardflow dev JOB` first, or pass --endpoint \/ --deployed\n$/);
});

test('run --input s3://… (one object, or every object under a prefix in key order) gives what the same local file gives', async () => {
  const events = clickEvents(300, 9, 5);
  const lines = events.map((e) => JSON.stringify(e));
  const local = path.join(dir, 'clicks.jsonl');
  fs.writeFileSync(local, lines.join('\n') + '\n');

  const port = await freePort();
  const s3rver = new S3rver({ port, address: '127.0.0.1', silent: true, directory: path.join(dir, 's3') });
  await s3rver.run();
  // s3rver checks signatures against its own key pairs: give it the dummy identity the emulators take.
  (require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } }).DUMMY_ACCOUNT.createKeyPair(IDENTITY.AWS_ACCESS_KEY_ID, IDENTITY.AWS_SECRET_ACCESS_KEY);
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: IDENTITY.AWS_ACCESS_KEY_ID, secretAccessKey: IDENTITY.AWS_SECRET_ACCESS_KEY } });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'archive' }));
    await s3.send(new PutObjectCommand({ Bucket: 'archive', Key: 'clicks.jsonl', Body: fs.readFileSync(local) }));
    // Under a prefix: listed in key order (b before c), whatever order they were written in; the "folder" object is skipped.
    await s3.send(new PutObjectCommand({ Bucket: 'archive', Key: 'days/c-second.jsonl', Body: lines.slice(120).join('\n') + '\n' }));
    await s3.send(new PutObjectCommand({ Bucket: 'archive', Key: 'days/b-first.jsonl', Body: lines.slice(0, 120).join('\n') }));
    await s3.send(new PutObjectCommand({ Bucket: 'archive', Key: 'days/', Body: new Uint8Array() }));

    const outputs: Record<string, string> = {};
    for (const [name, input] of [
      ['file', local],
      ['object', 's3://archive/clicks.jsonl'],
      ['prefix', 's3://archive/days/'],
    ] as const) {
      const output = path.join(dir, `out-${name}`);
      const out = await shardflow('run', 'examples/click-counts.ts', '--input', input, '--s3-endpoint', endpoint, '--output', output);
      expect(out.stderr).toMatch(/ran 300 events through click-counts in [\d.]+ s .*; 0 late, 0 dead-lettered/);
      outputs[name] = fs.readFileSync(path.join(output, 'click-counts.jsonl'), 'utf8');
    }
    expect(windowsIn(path.join(dir, 'out-file'))).toEqual(await sqliteClickCounts(events, Number.MAX_SAFE_INTEGER, dir));
    expect(outputs.object).toBe(outputs.file);
    expect(outputs.prefix).toBe(outputs.file);

    const missing = await shardflow('run', 'examples/click-counts.ts', '--input', 's3://archive/days', '--s3-endpoint', endpoint);
    expect(missing.stderr).toBe('shardflow: s3://archive/days: no such object (for every object under a prefix, end it with /: s3://archive/days/)\n');
    const empty = await shardflow('run', 'examples/click-counts.ts', '--input', 's3://archive/weeks/', '--s3-endpoint', endpoint);
    expect(empty.stderr).toBe('shardflow: s3://archive/weeks/: no objects under this prefix\n');
    const noBucket = await shardflow('run', 'examples/click-counts.ts', '--input', 's3://attic/', '--s3-endpoint', endpoint);
    expect(noBucket.stderr).toBe("shardflow: s3://attic/: no bucket 'attic'\n");
  } finally {
    s3.destroy();
    await s3rver.close();
  }
});
