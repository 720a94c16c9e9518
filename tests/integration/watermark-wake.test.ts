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

test('an idle job\'s watermark function sleeps, and the next data wakes it before its schedule would', async () => {
  const port = await freePort();
  const calls: EdgeCall[] = [];
  const bootedAt = Date.now();
  const runtime = await DevRuntime.start({
    jobFile: path.join(ROOT, 'examples/click-counts.ts'),
    port,
    watermarkTickMs: SCHEDULE_MS,
    watermarkLoopMs: 55_000,
    edge: { onCall: (c) => void calls.push(c) },
  });
  const endpoint = `http://localhost:${port}`;
  const ddb = dynamoClient({ endpoint });
  const kinesis = kinesisClient({ endpoint });
  try {
    // Nothing has come in: once the inputs it found are idle (idleAfter 10 s), it says it sleeps and returns.
    const nextScheduled = bootedAt + SCHEDULE_MS;
    await until('the watermark function to sleep', nextScheduled - 20_000, async () => {
      const { Item } = await ddb.send(new GetItemCommand({ TableName: 'click-counts-state', Key: { pk: { S: 'm#watermark-function' }, sk: { S: 'asleep' } }, ConsistentRead: true }));
      return Item?.asleep?.BOOL === true ? true : undefined;
    });
    expect(calls.filter((c) => c.service === 'lambda')).toEqual([]);

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
    expect(calls.filter((c) => c.service === 'lambda').map((c) => c.operation)).toEqual(['Invoke']);
  } finally {
    ddb.destroy();
    kinesis.destroy();
    await runtime.stop();
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
    expect(Array.isArray(JSON.parse(fs.readFileSync(out, 'utf8')))).toBe(true); // the ticks it ran
    const missing = promisify(execFile)('aws', ['--endpoint-url', `http://localhost:${port}`, 'lambda', 'invoke', '--function-name', 'no-such-function', out], { env });
    await expect(missing).rejects.toThrow(/ResourceNotFoundException|Function not found/);
  } finally {
    await runtime.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
