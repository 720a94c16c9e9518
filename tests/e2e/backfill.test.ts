/**
 * Backfill: the same clicks once live (`shardflow dev`, pushed with the AWS CLI, read back from the results
 * table) and once through `shardflow run --input` (a bounded run in process): the same windows, and the
 * bounded run also has the windows a live run only fires when later events come (its final watermark).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { byKeyThenWindow, clickEvents, freePort, putWithCli, ROOT, run, scanResults, sqliteClickCounts, startDev, untilSettled, type DevProcess } from './dev-process';

jest.setTimeout(180_000);
const OUT_OF_ORDERNESS_MS = 2000;

let dir: string;
let running: DevProcess | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-e2e-backfill-'));
});
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) await running.interrupt();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Row = [string, number, number];

test('shardflow run --input gives the windows a live run gives, and the rest at the end of input', async () => {
  const events = clickEvents(400, 12, 21);
  const input = path.join(dir, 'clicks.jsonl');
  fs.writeFileSync(input, events.map((e) => JSON.stringify(e)).join('\n') + '\n');

  const output = path.join(dir, 'out');
  const { stdout, stderr } = await run('node', [path.join(ROOT, 'bin/shardflow.js'), 'run', 'examples/click-counts.ts', '--input', input, '--output', output], { cwd: ROOT });
  expect(`${stdout}${stderr}`).toMatch(/ran 400 events through click-counts in [\d.]+ s .*; 0 late, 0 dead-lettered/);
  const bounded = fs
    .readFileSync(path.join(output, 'click-counts.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { key: string; windowStart: number; clicks: number })
    .map((r): Row => [r.key, r.windowStart, r.clicks])
    .sort(byKeyThenWindow);
  // At the end of input every window fires: all of them, as sqlite3 sums them.
  expect(bounded).toEqual(await sqliteClickCounts(events, Number.MAX_SAFE_INTEGER, dir));

  const port = await freePort();
  const data = path.join(dir, 'data');
  running = await startDev(['examples/click-counts.ts', '--no-demo', '--port', String(port), '--data', data]);
  await putWithCli(port, 'clicks', events, dir);
  const liveWatermark = Math.max(...events.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1;
  await untilSettled(port, 'examples/click-counts.ts', data, liveWatermark, 120_000);
  const live = await scanResults(port, 'click-counts');
  expect(live.length).toBeGreaterThan(20);
  // Live, the windows its watermark passed: exactly the bounded run's windows up to that watermark.
  expect(live).toEqual(bounded.filter(([, windowStart]) => windowStart + 5000 - 1 <= liveWatermark));
  expect(await running.interrupt()).toBe(0);
});

test('shardflow run names what is wrong with its input — a missing file, a source the job lacks — and dead-letters a line that is not JSON, as a live run would', async () => {
  const shardflow = (...args: string[]) => run('node', [path.join(ROOT, 'bin/shardflow.js'), ...args], { cwd: ROOT }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
  expect(await shardflow('run', 'examples/click-counts.ts', '--input', path.join(dir, 'none.jsonl'))).toEqual({ code: 2, stderr: `shardflow: ${path.join(dir, 'none.jsonl')}: no such file\n` });
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, '{"userId":"a","clicks":1,"ts":1}\n{oops\n');
  const output = path.join(dir, 'o');
  const notJson = await shardflow('run', 'examples/click-counts.ts', '--input', bad, '--output', output);
  expect(notJson.code).toBe(0);
  expect(notJson.stderr).toMatch(/ran 2 events through click-counts .*; 0 late, 1 dead-lettered/);
  const dead = fs.readFileSync(path.join(output, 'dead-letters.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { reason: string; data: string });
  expect(dead.map((d) => [d.reason.startsWith('malformed JSON'), d.data])).toEqual([[true, '{oops']]);
  expect(fs.readFileSync(path.join(output, 'click-counts.jsonl'), 'utf8')).toBe('{"key":"a","windowStart":0,"windowEnd":5000,"clicks":1}\n');
  expect(await shardflow('run', 'examples/fraud.ts', '--input', bad)).toEqual({
    code: 2,
    stderr: "shardflow: the job reads 3 sources (transactions, logins, limit-rules): name each file's, --input transactions=FILE,logins=FILE,limit-rules=FILE\n",
  });
  expect((await shardflow('run', 'examples/fraud.ts', '--input', `payments=${bad}`)).stderr).toBe(`shardflow: --input payments=${bad}: the job has no source stream 'payments' (it reads transactions, logins, limit-rules)\n`);
});
