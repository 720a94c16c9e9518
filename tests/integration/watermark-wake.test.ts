/**
 * The watermark function as deployed (a run a minute, looping 55 s, returning once every input is idle)
 * on the embedded runtime: it falls asleep on an idle job, and the first batch after idleness wakes it
 * through Lambda's Invoke on the edge — the window result comes long before the next scheduled run.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { GetItemCommand, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
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
    expect(Date.now()).toBeLessThan(nextScheduled); // woken, not scheduled
    expect({ windowStart: Number(result.windowStart!.N), clicks: Number(result.clicks!.N) }).toEqual({ windowStart: T, clicks: 5 });
    // Woken by one asynchronous Invoke through the edge (both stages found their inputs waking; one won the flag).
    expect(invokes().map((c) => c.operation)).toEqual(['Invoke']);
  } finally {
    await stop();
  }
});

test('while events flow, each watermark invocation hands over to the next: windows keep firing though each loops only 3 s', async () => {
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
    // A wake and several successors, one at a time: far fewer than one per second.
    const invoked = invokes().length;
    expect(invoked).toBeGreaterThanOrEqual(3);
    expect(invoked).toBeLessThan((Date.now() - bootedAt) / 1_000);
  } finally {
    await stop();
  }
});

test('`aws lambda invoke` runs the watermark function of the embedded runtime through the edge: it fires the window its watermark has passed', async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-invoke-'));
  // Scheduled once, at start: the window below can only fire by the invoke.
  const runtime = await DevRuntime.start({ jobFile: path.join(ROOT, 'examples/click-counts.ts'), port, watermarkTickMs: 600_000 });
  try {
    const T = 1_700_000_000_000;
    const clicks = [
      { userId: 'ann', clicks: 2, ts: T + 100 },
      { userId: 'ann', clicks: 3, ts: T + 4_000 },
      { userId: 'bob', clicks: 1, ts: T + 9_000 },
    ];
    await runtime.kinesis.send(new PutRecordsCommand({ StreamName: 'clicks', Records: clicks.map((c) => ({ PartitionKey: c.userId, Data: Buffer.from(JSON.stringify(c)) })) }));
    // The keyed stage has the clicks once its input's watermark is the last click's, less the 2 s bound.
    const watermarkMs = T + 9_000 - 2_000 - 1;
    await until('the keyed stage to take the clicks', Date.now() + 30_000, async () => {
      const { Items = [] } = await runtime.ddb.send(
        new QueryCommand({ TableName: 'click-counts-state', KeyConditionExpression: 'pk = :pk AND begins_with(sk, :in)', ExpressionAttributeValues: { ':pk': { S: 'm#s1' }, ':in': { S: 'in#' } }, ConsistentRead: true }),
      );
      return Items.length > 0 && Items.every((i) => Number(i.wm?.N) === watermarkMs) ? true : undefined;
    });
    const results = async () => ((await runtime.ddb.send(new ScanCommand({ TableName: 'click-counts', ConsistentRead: true }))).Items ?? []).map((i) => ({ key: i.key!.S, windowStart: Number(i.windowStart!.N), clicks: Number(i.clicks!.N) }));
    expect(await results()).toEqual([]);

    const out = path.join(dir, 'out.json');
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
    const { stdout } = await promisify(execFile)('aws', ['--endpoint-url', `http://localhost:${port}`, 'lambda', 'invoke', '--function-name', 'click-counts-watermark', out], { env });
    expect(JSON.parse(stdout)).toMatchObject({ StatusCode: 200 });
    // The ticks it ran: the keyed stage's watermark passed ann's window [T, T + 5 s), not bob's.
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual([
      { stage: 's1', watermarkMs, fired: 1, outputs: 1, deadLetters: 0, deadLetterSample: [], stateWrites: 1, conditionFailures: 0, atMs: expect.any(Number) },
    ]);
    expect(await results()).toEqual([{ key: 'ann', windowStart: T, clicks: 5 }]);
    const { Item } = await runtime.ddb.send(new GetItemCommand({ TableName: 'click-counts-state', Key: { pk: { S: 'm#s1' }, sk: { S: 'watermark' } }, ConsistentRead: true }));
    expect(Number(Item?.wm?.N)).toBe(watermarkMs);

    const missing = promisify(execFile)('aws', ['--endpoint-url', `http://localhost:${port}`, 'lambda', 'invoke', '--function-name', 'no-such-function', out], { env });
    await expect(missing).rejects.toThrow(/ResourceNotFoundException|Function not found/);
  } finally {
    await runtime.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
