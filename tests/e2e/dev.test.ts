/**
 * The embedded runtime as a newcomer meets it: `shardflow dev` in a subprocess, events pushed with the
 * AWS CLI through the edge port, results read back with the AWS CLI and checked against sqlite3.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { clickEvents, freePort, isAlive, putWithCli, ROOT, run, scanResults, sqliteClickCounts, startDev, until, untilSettled, type DevProcess } from './dev-process';

jest.setTimeout(180_000);
const OUT_OF_ORDERNESS_MS = 2000;
const finalWatermark = (events: readonly { ts: number }[]): number => Math.max(...events.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1;

let dir: string;
/** Runs started by a test: whatever a failing test left running is stopped after it. */
const started: DevProcess[] = [];
const dev = async (args: readonly string[]): Promise<DevProcess> => {
  const d = await startDev(args);
  started.push(d);
  return d;
};
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-e2e-'));
});
afterEach(async () => {
  await Promise.all(started.splice(0).filter((d) => d.child.exitCode === null && d.child.signalCode === null).map((d) => d.interrupt()));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('events pushed with the AWS CLI give exactly the windows sqlite3 computes, and Ctrl-C leaves no process behind', async () => {
  const port = await freePort();
  const running = await dev(['examples/click-counts.ts', '--no-demo', '--port', String(port)]);
  const events = clickEvents(400, 12, 5);
  await putWithCli(port, 'clicks', events, dir);
  const expected = await sqliteClickCounts(events, finalWatermark(events), dir);
  expect(expected.length).toBeGreaterThan(40);
  await until('all windows in the results table', async () => (await scanResults(port, 'click-counts')).length >= expected.length);
  expect(await scanResults(port, 'click-counts')).toEqual(expected);
  expect(running.output()).toMatch(/click-counts {2}user-\d+ +\[/); // results printed as they fire

  const processes = running.descendants();
  expect(processes.length).toBeGreaterThanOrEqual(4); // two emulators and the function workers
  expect(await running.interrupt()).toBe(0);
  await until('every child process to exit', async () => processes.every((pid) => !isAlive(pid)), 10_000);
});

test('stopped mid-stream and started again with the same --data, the results are complete and nothing is counted twice', async () => {
  const port = await freePort();
  const data = path.join(dir, 'data');
  const events = clickEvents(600, 10, 9, 1_700_000_000_000, 60_000);
  const expected = await sqliteClickCounts(events, finalWatermark(events), dir);

  const first = await dev(['examples/click-counts.ts', '--no-demo', '--port', String(port), '--data', data]);
  await putWithCli(port, 'clicks', events.slice(0, 400), dir);
  expect(await first.interrupt()).toBe(0); // at once: records are still in the streams, in flight between the stages

  const second = await dev(['examples/click-counts.ts', '--no-demo', '--port', String(port), '--data', data]);
  await putWithCli(port, 'clicks', events.slice(400), dir);
  // Every record through every stage and every window up to the last watermark fired: a count made twice would be in the table now.
  await untilSettled(port, 'examples/click-counts.ts', data, finalWatermark(events));
  expect(await scanResults(port, 'click-counts')).toEqual(expected);
  expect(await second.interrupt()).toBe(0);
});

describe('a mistake gets one clear line and a non-zero exit', () => {
  const shardflow = async (args: string[]): Promise<{ code: number; stderr: string }> => {
    try {
      await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), ...args], { cwd: ROOT, timeout: 60_000 });
      return { code: 0, stderr: '' };
    } catch (e) {
      const err = e as { code: number; stderr: string };
      return { code: err.code, stderr: err.stderr };
    }
  };

  test('a job file that does not exist', async () => {
    const r = await shardflow(['dev', 'examples/no-such-job.ts', '--no-demo']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('shardflow: examples/no-such-job.ts: no such file');
  });

  test('a job that fails to plan names the operator as written, where, and the problem', async () => {
    const file = path.join(dir, 'bad-job.ts');
    fs.writeFileSync(file, "import { job, kinesisSource, sliding, dynamoSink } from 'shardflow';\nexport default job('bad').source(kinesisSource<{ u: string; ts: number }>('in', { eventTime: (e) => e.ts })).keyBy((e) => e.u).window(sliding('5s', '2s')).count().sink(dynamoSink('out'));\n");
    const r = await shardflow(['dev', file, '--no-demo']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`shardflow: ${file}:2 .window(sliding('5s', '2s')): sliding size 5000ms is not a multiple of slide 2000ms — pick a slide that divides the size`);
  });

  test('a port in use', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await shardflow(['dev', 'examples/click-counts.ts', '--no-demo', '--port', String(port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`shardflow: port ${port} is in use — stop what is using it, or pass --port <another>`);
    } finally {
      server.close();
    }
  });
});
