/**
 * A SQL job on the real stage and watermark functions and the emulators (records really put on Kinesis,
 * state really in DynamoDB), its function bundles, and the shardflow command on .sql files.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { compileSql } from 'shardflow';
import { harness } from 'shardflow/testing';
import { bundleFunctions } from '../../infra/bundle';
import { pipelinesOnEmulators } from './pipeline';

jest.setTimeout(60_000);
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');

type Click = { userId: string; page: string; clicks: number; ts: string | number };
const T0 = 1_700_000_000_000;

/** Seeded clicks over `users` users, event time moving forward with under 1 s of disorder; every third one has an ISO-8601 time. */
function clicks(n: number, users: number, seed = 3): Click[] {
  let s = seed;
  const random = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, (_, i) => {
    const ms = T0 + i * 40 - Math.floor(random() * 900);
    return { userId: `u${Math.floor(random() * users)}`, page: `p${Math.floor(random() * 3)}`, clicks: 1 + Math.floor(random() * 4), ts: i % 3 === 0 ? new Date(ms).toISOString() : ms };
  });
}

const HOT_PAGES = `SET 'pipeline.name' = 'it-sql';
CREATE TABLE clicks (userId STRING, page STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'kinesis', 'stream' = 'it-sql-clicks', 'shards' = '2');
CREATE TABLE out WITH ('connector' = 'dynamodb', 'table-name' = 'it-sql-out');
INSERT INTO out
SELECT userId, HOP_END(ts, INTERVAL '1' SECOND, INTERVAL '3' SECOND) AS ends, SUM(clicks) AS clicks, COUNT(DISTINCT page) AS pages, AVG(clicks) AS mean
FROM clicks WHERE page <> 'p2'
GROUP BY userId, HOP(ts, INTERVAL '1' SECOND, INTERVAL '3' SECOND)
HAVING COUNT(*) > 1;`;

describe('on the emulators', () => {
  const pipeline = pipelinesOnEmulators();

  test('a SQL job through the real stage and watermark functions gives exactly the harness results', async () => {
    const definition = compileSql(HOT_PAGES);
    const events = clicks(300, 6);
    const p = await pipeline(definition, 100).create();
    await p.put(events, (e) => (e as Click).userId);
    await p.pump();
    await p.tick();
    const found = await p.results('it-sql-out');

    const watermark = Math.max(...events.map((e) => (typeof e.ts === 'number' ? e.ts : Date.parse(e.ts)))) - 2000 - 1;
    const h = harness(definition);
    await h.sendBatch(events);
    await h.watermark(watermark);
    const expected = h.table().sort((a, b) => String(a.key).localeCompare(String(b.key)) || Number(a.windowStart) - Number(b.windowStart));
    expect(found.length).toBeGreaterThan(30);
    expect(found).toEqual(expected);
    expect(found[0]).toEqual({ key: 'u0', windowStart: expect.any(Number), windowEnd: expect.any(Number), userId: 'u0', ends: found[0]!.windowEnd, clicks: expect.any(Number), pages: expect.any(Number), mean: expect.any(Number) });
  });
});

describe('bundles and the command', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-sql-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a .sql job bundles into functions that compile its SQL when they load', async () => {
    const bundles = await bundleFunctions(path.join(ROOT, 'examples/nexmark-highest-bid.sql'), path.join(dir, 'bundle'), { minify: false });
    expect(fs.readFileSync(bundles.operator, 'utf8')).toContain('FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(dateTime)');
    const load = `const m = require(${JSON.stringify(bundles.watermark)}); console.log(typeof m.handler);`;
    const { stdout } = await run(process.execPath, ['-e', load], { env: { ...process.env, SHARDFLOW_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1' } });
    expect(stdout.trim()).toBe('function');
  });

  test('a .sql job’s CREATE FUNCTION module is bundled into its functions, which load without the file', async () => {
    const bundles = await bundleFunctions(path.join(ROOT, 'examples/nexmark-bid-kinds.sql'), path.join(dir, 'udf-bundle'), { minify: false });
    expect(fs.readFileSync(bundles.operator, 'utf8')).toContain('text.split(char).length - 1');
    // Loaded from elsewhere: the function comes from the bundle, not from examples/count-char.ts.
    const load = `const m = require(${JSON.stringify(bundles.operator)}); console.log(typeof m.handler);`;
    const { stdout } = await run(process.execPath, ['-e', load], { cwd: os.tmpdir(), env: { ...process.env, SHARDFLOW_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1' } });
    expect(stdout.trim()).toBe('function');
  });

  test('shardflow plan prints a SQL job’s stages', async () => {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'plan', 'examples/nexmark-hot-items.sql'], { cwd: ROOT });
    expect(stdout).toContain('job hot-items  (event time: out-of-orderness 1s, idle after 5s)');
    expect(stdout).toContain('window#4 sliding(10s, 2s).aggregate() → filter#5 → map#6');
    expect(stdout).toContain('sink dynamodb:nexmark-hot-items');
  });

  test('shardflow plan says whether a SQL job’s results are append-only or updating, and by which key', async () => {
    const plan = async (file: string): Promise<string> => (await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'plan', file], { cwd: ROOT })).stdout;
    expect(await plan('examples/nexmark-hot-items.sql')).toContain('\nchangelog: append-only [+I], unique key (auction, window_start, window_end)\n');
    const topBidders = await plan('examples/nexmark-top-bidders.sql');
    expect(topBidders).toContain('process(state: accumulator)');
    expect(topBidders).toContain('process(state: ranked)');
    expect(topBidders).toContain('\nchangelog: updating [+I, +U, -D], unique key (channel, rn): the DynamoDB sink upserts by it (a deletion leaves the row with op = -D)\n');
  });

  test('a SQL error is one line naming the file, line and column, with exit code 2', async () => {
    const file = path.join(dir, 'bad.sql');
    fs.writeFileSync(file, `CREATE TABLE a (x INT) WITH ('connector' = 'kinesis');\nCREATE TABLE b (x INT) WITH ('connector' = 'kinesis');\nCREATE TABLE c (x INT) WITH ('connector' = 'dynamodb');\nINSERT INTO c SELECT a.x FROM a LEFT JOIN b ON a.x = b.x;\n`);
    const failed = await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'plan', file], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({
      code: 2,
      stderr: `shardflow: ${file}, line 4, column 33: a LEFT JOIN's rows (+I, and -D when a row sent with NULLs finds its match) have no unique key to write to the DynamoDB table c by — write them to a Kinesis sink ('connector' = 'kinesis'), or aggregate them with GROUP BY\n`,
    });
  });
});
