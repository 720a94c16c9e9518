/**
 * Upgrading a running job with its state (`shardflow dev --data`): version 1 counts clicks per user per
 * 5 s in 4 key groups per shard at parallelizationFactor 2; stopped mid-stream, version 2 — a filter and a
 * map added, the window's uid kept, parallelizationFactor 4 — starts on the state version 1 left (the same
 * logs: one per shard and key group) and the results are complete, as sqlite3 sums every click; `plan --against deployed`
 * reads version 2's layout from its running state table and refuses version 3, which changes the window
 * under the same uid, and a version that declares a source and a window before the kept one (which would move
 * it to another stage); and so does the start of version 3 on version 2's data, before any function starts.
 *
 * An upgrade that adds a keyed operator behind the source: version 1 counts clicks per user over a 2-shard
 * source, from both shards; version 2 keeps that window and adds one (the most clicks per user per window),
 * and its events all come on shard 0 — shard 1 stays quiet. The new operator starts where version 1 had read
 * each shard (recorded at the start, from the kept window's logs), so the quiet shard goes idle for it as for
 * the kept one and its windows fire: it sees exactly version 2's events, the kept window all of them, as
 * sqlite3 computes both.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aws, clickEvents, freePort, putWithCli, ROOT, run, scanResults, sqliteClickCounts, startDev, untilSettled, type DevProcess } from './dev-process';

jest.setTimeout(240_000);
const OUT_OF_ORDERNESS_MS = 2000;
/** The first and the last hash key: shard 0 and shard 1 of a 2-shard stream. */
const SHARD_0 = '0';
const SHARD_1 = (2n ** 128n - 1n).toString();

let dir: string;
let running: DevProcess | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-e2e-upgrade-'));
});
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) await running.interrupt();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('v1 → v2 keeps the window state (results complete); v2 → v3, a changed window under the same uid, is refused', async () => {
  const port = await freePort();
  const data = path.join(dir, 'data');
  const events = clickEvents(300, 8, 13, 1_700_000_000_000, 30_000);
  const finalWatermark = Math.max(...events.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1;

  running = await startDev(['tests/fixtures/upgrade/v1.ts', '--no-demo', '--port', String(port), '--data', data]);
  await putWithCli(port, 'clicks', events.slice(0, 200), dir);
  // Version 1 has applied its part: the window open at the cut holds some of its clicks in its state.
  await untilSettled(port, 'tests/fixtures/upgrade/v1.ts', data, Math.max(...events.slice(0, 200).map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1, 120_000);
  const v1Logs = await logsOf(port, 'upgraded-state');
  expect(v1Logs.length).toBeGreaterThan(0);
  for (const log of v1Logs) expect(log).toMatch(/^clicks-per-user#shardId-\d+\.g[0-3]$/);
  expect(await running.interrupt()).toBe(0);

  running = await startDev(['tests/fixtures/upgrade/v2.ts', '--no-demo', '--port', String(port), '--data', data]);
  await putWithCli(port, 'clicks', events.slice(200), dir);
  await untilSettled(port, 'tests/fixtures/upgrade/v2.ts', data, finalWatermark, 120_000);
  expect(await scanResults(port, 'upgraded-counts')).toEqual(await sqliteClickCounts(events, finalWatermark, dir));
  // At parallelizationFactor 4 the state is in the same key groups' logs: none besides them.
  for (const log of await logsOf(port, 'upgraded-state')) expect(log).toMatch(/^clicks-per-user#shardId-\d+\.g[0-3]$/);
  // The running version's layout is in its state table: `plan --against deployed` compares with it.
  const planned = await shardflow(['plan', 'tests/fixtures/upgrade/v3.ts', '--against', 'deployed', '--endpoint', `http://localhost:${port}`]);
  expect(planned).toMatchObject({ code: 2, stderr: `shardflow: the upgrade would be refused: ${V3_REFUSAL}\n` });
  expect(planned.stdout).toMatch(/state, against table upgraded-state \(http:\/\/localhost:\d+\), recorded by shardflow dev at /);
  // A source and a window declared before the kept one would move it to another stage and stream: refused.
  const moved = await shardflow(['plan', 'tests/fixtures/upgrade/moved.ts', '--against', 'deployed', '--endpoint', `http://localhost:${port}`]);
  expect(moved.code).toBe(2);
  expect(moved.stderr).toMatch(/^shardflow: the upgrade would be refused: the state 'clicks-per-user' moves from stage s1 to s3: it would read another stream in another function, and what the old stream holds would be lost — declare new sources and keyed operators after the ones the running version has/);
  expect(await running.interrupt()).toBe(0);

  const refused = await shardflow(['dev', 'tests/fixtures/upgrade/v3.ts', '--no-demo', '--port', String(port), '--data', data]);
  expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: `shardflow: ${data} holds the state of another version of upgraded: ${V3_REFUSAL}\n` });
});

test('a keyed operator an upgrade adds fires while a source shard stays quiet, from where the previous version had read', async () => {
  const port = await freePort();
  const data = path.join(dir, 'data');
  const events = clickEvents(240, 6, 29, 1_700_000_000_000, 40_000);
  const [before, after] = [events.slice(0, 120), events.slice(120)];
  const watermarkOf = (part: typeof events): number => Math.max(...part.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1;

  running = await startDev(['tests/fixtures/upgrade/added-v1.ts', '--no-demo', '--port', String(port), '--data', data]);
  await putOnShards(port, before, (i) => (i % 2 === 0 ? SHARD_0 : SHARD_1));
  await untilSettled(port, 'tests/fixtures/upgrade/added-v1.ts', data, watermarkOf(before), 120_000);
  expect(await running.interrupt()).toBe(0);

  running = await startDev(['tests/fixtures/upgrade/added-v2.ts', '--no-demo', '--port', String(port), '--data', data]);
  expect(running.output()).toMatch(/new +most-clicks +window#\d+ tumbling\(5s\)\.max\(clicks\): starts with no state\n/);
  expect(running.output()).toContain('the keyed operators it adds start where the previous run had read the source (2 shard positions)');
  await putOnShards(port, after, () => SHARD_0);
  // Both windows fire up to the last event's watermark: shard 1, quiet since version 1 read it, is idle for both.
  await untilSettled(port, 'tests/fixtures/upgrade/added-v2.ts', data, watermarkOf(after), 120_000);
  expect(await scanResults(port, 'added-counts')).toEqual(await sqliteClickCounts(events, watermarkOf(after), dir));
  expect(await scanResults(port, 'added-maxes')).toEqual(await sqliteClickCounts(after, watermarkOf(after), dir, 'MAX'));
  expect(await running.interrupt()).toBe(0);
});

const V3_REFUSAL =
  "the state 'clicks-per-user' was tumbling(5s).sum(clicks), now tumbling(10s).sum(clicks) — give the changed operator a new .uid(...) (its old state is then dropped), or start from empty state";

/** The shard logs (`stage#logical shard`) in a state table, by their entries' keys (`l#…`). */
async function logsOf(port: number, table: string): Promise<string[]> {
  const out = (await aws(port, ['dynamodb', 'scan', '--table-name', table, '--projection-expression', 'pk'])) as { Items: { pk: { S: string } }[] };
  return [...new Set(out.Items.map((i) => i.pk.S).filter((pk) => pk.startsWith('l#')).map((pk) => pk.slice(2)))].sort();
}

/** The real command line; its exit code and output. */
async function shardflow(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('node', [path.join(ROOT, 'bin/shardflow.js'), ...args], { cwd: ROOT }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** Puts events on the source with an explicit hash key each (which picks the shard), 100 at a time. */
async function putOnShards(port: number, events: readonly { userId: string }[], hashKeyOf: (i: number) => string): Promise<void> {
  for (let i = 0; i < events.length; i += 100) {
    const file = path.join(dir, `records-${i}.json`);
    fs.writeFileSync(file, JSON.stringify(events.slice(i, i + 100).map((e, j) => ({ PartitionKey: e.userId, ExplicitHashKey: hashKeyOf(i + j), Data: JSON.stringify(e) }))));
    const out = (await aws(port, ['kinesis', 'put-records', '--stream-name', 'added-clicks', '--records', `file://${file}`])) as { FailedRecordCount: number };
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
  }
}
