/**
 * The watermark function as deployed (a run a minute, looping 55 s, returning once every keyed shard's
 * inputs are idle) on the embedded runtime: it falls asleep on an idle job, and the first batch after
 * idleness wakes it through Lambda's Invoke on the edge.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { DevRuntime } from '../../lib/local/dev-runtime';
import type { EdgeCall } from '../../lib/local/edge';
import { freePort } from '../../lib/local/free-port';

jest.setTimeout(120_000);
const ROOT = path.resolve(__dirname, '../..');
const SCHEDULE_MS = 60_000;

async function until<T>(what: string, deadline: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** click-counts on the embedded runtime with the watermark function as deployed, looping `loopMs` per invocation. */
async function deployedSchedule(loopMs: number) {
  const port = await freePort();
  const calls: EdgeCall[] = [];
  const bootedAt = Date.now();
  const runtime = await DevRuntime.start({
    jobFile: path.join(ROOT, 'examples/click-counts.ts'),
    port,
    watermarkTickMs: SCHEDULE_MS,
    watermarkLoopMs: loopMs,
    edge: { onCall: (c) => void calls.push(c) },
  });
  const endpoint = `http://localhost:${port}`;
  const ddb = dynamoClient({ endpoint });
  const kinesis = kinesisClient({ endpoint });
  return {
    ddb,
    kinesis,
    bootedAt,
    /** Lambda Invokes seen at the edge. */
    invokes: () => calls.filter((c) => c.service === 'lambda'),
    stop: async () => {
      ddb.destroy();
      kinesis.destroy();
      await runtime.stop();
    },
  };
}

test('an idle job\'s watermark function sleeps, and the next data wakes it before its schedule would', async () => {
  const { ddb, kinesis, bootedAt, invokes, stop } = await deployedSchedule(55_000);
  try {
    // Nothing has come in: once the inputs it found are idle (idleAfter 10 s), it says it sleeps and returns.
    const nextScheduled = bootedAt + SCHEDULE_MS;
    await until('the watermark function to sleep', nextScheduled - 20_000, async () => {
      const { Item } = await ddb.send(new GetItemCommand({ TableName: 'click-counts-state', Key: { pk: { S: 'm#watermark-function' }, sk: { S: 'asleep' } }, ConsistentRead: true }));
      return Item?.asleep?.BOOL === true ? true : undefined;
    });
    expect(invokes()).toEqual([]);

    // Clicks in [T, T + 5 s), and one at T + 9 s: the watermark (max − 2 s − 1) passes the window's end.
    const T = 1_700_000_000_000;
    const clicks = [
      { userId: 'ann', clicks: 2, ts: T + 100 },
      { userId: 'ann', clicks: 3, ts: T + 4_000 },
      { userId: 'bob', clicks: 1, ts: T + 9_000 },
    ];
    await kinesis.send(new PutRecordsCommand({ StreamName: 'clicks', Records: clicks.map((c) => ({ PartitionKey: c.userId, Data: Buffer.from(JSON.stringify(c)) })) }));
    const result = await until('ann\'s window', nextScheduled - 2_000, async () => {
      const { Items } = await ddb.send(new ScanCommand({ TableName: 'click-counts' }));
      return Items?.find((i) => i.key?.S === 'ann');
    });
    // The keyed stage fires the window as the markers pass it, long before the schedule's next minute.
    expect(Date.now()).toBeLessThan(nextScheduled);
    expect({ windowStart: Number(result.windowStart!.N), clicks: Number(result.clicks!.N) }).toEqual({ windowStart: T, clicks: 5 });
    // And the batch that heard the idle input again woke the function: one asynchronous Invoke through the
    // edge (sent after the batch's results, so it may come a moment later), not one per batch.
    await until('the wake', nextScheduled - 1_000, async () => (invokes().length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 2_000)); // later batches of the active input must not wake it again
    expect(invokes().map((c) => c.operation)).toEqual(['Invoke']);
  } finally {
    await stop();
  }
});

test('while events flow, windows fire in the keyed stage, and the watermark function hands over to the next invocation though each loops only 3 s', async () => {
  const { ddb, kinesis, bootedAt, invokes, stop } = await deployedSchedule(3_000);
  try {
    // A click every 500 ms for 14 s, event time keeping pace: windows [T, T + 5 s) and [T + 5 s, T + 10 s)
    // close while it runs (out-of-orderness 2 s), long before the schedule's next minute.
    const T = 1_700_000_000_000;
    const startedAt = Date.now();
    for (let i = 0; i < 28; i++) {
      const c = { userId: 'ann', clicks: 1, ts: T + i * 500 };
      await kinesis.send(new PutRecordsCommand({ StreamName: 'clicks', Records: [{ PartitionKey: c.userId, Data: Buffer.from(JSON.stringify(c)) }] }));
      await new Promise((r) => setTimeout(r, Math.max(0, startedAt + (i + 1) * 500 - Date.now())));
    }
    const windows = await until('two windows', bootedAt + SCHEDULE_MS - 2_000, async () => {
      const { Items } = await ddb.send(new ScanCommand({ TableName: 'click-counts' }));
      const found = (Items ?? []).map((i) => ({ windowStart: Number(i.windowStart!.N), clicks: Number(i.clicks!.N) })).sort((a, b) => a.windowStart - b.windowStart);
      return found.length >= 2 ? found : undefined;
    });
    expect(windows).toEqual([
      { windowStart: T, clicks: 10 },
      { windowStart: T + 5_000, clicks: 10 },
    ]);
    expect(Date.now()).toBeLessThan(bootedAt + SCHEDULE_MS);
    // Windows fire in the keyed stage as the markers pass; the watermark function keeps ticking (for the
    // moment every input falls silent) by handing over to successors while shards are active, one at a
    // time: several invokes before its schedule's next minute, far fewer than one per second.
    await until('three hand-overs', bootedAt + SCHEDULE_MS - 1_000, async () => (invokes().length >= 3 ? true : undefined));
    expect(invokes().length).toBeLessThan((Date.now() - bootedAt) / 1_000);
  } finally {
    await stop();
  }
});

test('`aws lambda invoke` runs a function of the embedded runtime through the edge', async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-invoke-'));
  const runtime = await DevRuntime.start({ jobFile: path.join(ROOT, 'examples/click-counts.ts'), port });
  try {
    const out = path.join(dir, 'out.json');
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
    const { stdout } = await promisify(execFile)('aws', ['--endpoint-url', `http://localhost:${port}`, 'lambda', 'invoke', '--function-name', 'click-counts-watermark', out], { env });
    expect(JSON.parse(stdout)).toMatchObject({ StatusCode: 200 });
    // What it did: a tick record on the keyed stage's one shard.
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual([expect.objectContaining({ stage: 's1', ticks: 1, shards: 1 })]);
    const missing = promisify(execFile)('aws', ['--endpoint-url', `http://localhost:${port}`, 'lambda', 'invoke', '--function-name', 'no-such-function', out], { env });
    await expect(missing).rejects.toThrow(/ResourceNotFoundException|Function not found/);
  } finally {
    await runtime.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
