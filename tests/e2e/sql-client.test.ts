/**
 * `shardflow sql` as a person drives it, through a real child process with its stdin piped: declarations,
 * EXPLAIN (what `shardflow plan` prints), a bad statement's error, and a SELECT on the embedded runtime
 * whose rows, for records pushed with `shardflow push`, are what sqlite3 computes; Ctrl-C stops the query
 * and leaves no process behind; QUIT exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clickEvents, descendantsOf, freePort, isAlive, ROOT, run, sqliteClickCounts, until } from './dev-process';

jest.setTimeout(180_000);

const CLICKS = `CREATE TABLE clicks (userId STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'kinesis', 'stream' = 'clicks');`;
const COUNTS = `SELECT userId, SUM(clicks) AS clicks
FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND);`;

interface Client {
  readonly child: ChildProcess;
  output(): string;
  /** Types lines, as at the prompt. */
  type(text: string): void;
  /** Waits until the output after `from` matches. */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

/** `shardflow sql` on the edge port, its stdin a pipe. */
const startClient = (port: number): Client => spawnClient(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'sql', '--port', String(port)]);

/** A command whose output is collected; `enter` ends a typed line (a terminal's Enter key is '\r'). */
function spawnClient(command: string, args: readonly string[], enter = '\n'): Client {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    type: (text) => child.stdin!.write(`${text}${enter}`),
    waitFor: async (pattern, from = 0, timeoutMs = 60_000) => {
      let match: RegExpMatchArray | null = null;
      await until(() => `${pattern} in the client's output:\n${out.slice(from)}`, async () => (match = out.slice(from).match(pattern)) !== null, timeoutMs);
      return match!;
    },
    exited,
  };
}

let dir: string;
let client: Client | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-sql-'));
});
afterEach(async () => {
  if (client && client.child.exitCode === null && client.child.signalCode === null) {
    client.child.kill('SIGKILL');
    await client.exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('declarations, EXPLAIN as `shardflow plan` prints it, and a bad statement’s error, after which the client goes on', async () => {
  const port = await freePort();
  client = startClient(port);
  client.type(CLICKS);
  await client.waitFor(/\[INFO\] table clicks created/);

  let mark = client.output().length;
  client.type(`EXPLAIN ${COUNTS}`);
  await client.waitFor(/sql-client-results/, mark);
  // `shardflow plan` on the same script, as a file.
  const script = path.join(dir, 'counts.sql');
  fs.writeFileSync(script, `${CLICKS}\nCREATE TABLE sql_client_results WITH ('connector' = 'dynamodb', 'table-name' = 'sql-client-results');\nINSERT INTO sql_client_results ${COUNTS}`);
  const { stdout: plan } = await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'plan', script], { cwd: ROOT });
  await client.waitFor(new RegExp(escape(plan.trim().split('\n').at(-1)!)), mark);
  expect(client.output().slice(mark)).toContain(plan.trim());

  mark = client.output().length;
  client.type('SELECT userId, nope');
  client.type('FROM clicks;');
  await client.waitFor(/\[ERROR\]/, mark);
  expect(client.output().slice(mark).trim()).toMatch(/^\[ERROR\] line 1, column 16: unknown column nope\b/);

  mark = client.output().length;
  client.type('DROP TABLE clicks;');
  await client.waitFor(/\[ERROR\] 'DROP' is not a statement the client runs — CREATE TABLE, /, mark);

  mark = client.output().length;
  client.type('SHOW TABLES;');
  await client.waitFor(/^clicks$/m, mark);
  client.type('QUIT;');
  expect(await client.exited).toBe(0);
});

test('a SELECT runs on the embedded runtime: records pushed with `shardflow push` give the rows sqlite3 computes, Ctrl-C stops it, the next query starts afresh, QUIT exits', async () => {
  const port = await freePort();
  client = startClient(port);
  client.type(CLICKS);
  client.type(COUNTS);
  await client.waitFor(/\[INFO\] running as job sql-client-results: push records to stream clicks/);
  const events = clickEvents(300, 8, 21);
  const file = path.join(dir, 'clicks.jsonl');
  fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n'));
  await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'push', 'clicks', '--file', file, '--endpoint', `http://localhost:${port}`], { cwd: ROOT });
  const expected = await sqliteClickCounts(events, Math.max(...events.map((e) => e.ts)) - 2000 - 1, dir);
  expect(expected.length).toBeGreaterThan(20);

  // The changelog: a header, then +I / +U lines; the last line per (user, window) is the row now.
  const rows = (): [string, number, number][] => {
    const latest = new Map<string, [string, number, number]>();
    for (const line of client!.output().split('\n')) {
      const m = /^\+[IU] \| (\S+ \S+) \| \S+ \S+ \| (\S+) \| (\d+)$/.exec(line);
      if (m) latest.set(`${m[2]} ${m[1]}`, [m[2]!, Date.parse(`${m[1]!.replace(' ', 'T')}Z`), Number(m[3])]);
    }
    return [...latest.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  };
  await until(() => `${expected.length} rows; have ${rows().length}:\n${client!.output()}`, async () => rows().length >= expected.length);
  expect(client.output()).toContain('op | window_start | window_end | userId | clicks');
  expect(rows()).toEqual(expected);

  // esbuild's service process bundles every query's functions for the client: it lives as long as the client.
  const all = descendantsOf(client.child.pid!);
  const processes = all.filter((pid) => !commandLine(pid).includes('esbuild --service'));
  expect(processes.length).toBeGreaterThanOrEqual(4); // two emulators and the function workers

  const mark = client.output().length;
  client.child.kill('SIGINT'); // Ctrl-C
  await client.waitFor(/\[INFO\] query stopped/, mark);
  await until(() => `the query’s emulators and workers to exit; alive: ${processes.filter(isAlive).map(commandLine).join('; ')}`, async () => processes.every((pid) => !isAlive(pid)), 15_000);
  expect(client.child.exitCode).toBeNull(); // the client itself goes on

  // The next query starts afresh on the same port.
  const again = client.output().length;
  client.type(COUNTS);
  await client.waitFor(/\[INFO\] running as job sql-client-results/, again);
  client.child.kill('SIGINT');
  await client.waitFor(/\[INFO\] query stopped/, again);
  client.type('SHOW TABLES;');
  await client.waitFor(/^clicks$/m, again);
  client.type('QUIT;');
  expect(await client.exited).toBe(0);
  await until(() => `every process of the client to exit; alive: ${all.filter(isAlive).map(commandLine).join('; ')}`, async () => all.every((pid) => !isAlive(pid)), 10_000);
});

/** What a process runs, for a failure message. */
const commandLine = (pid: number): string => {
  try {
    return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120)}`;
  } catch {
    return `${pid} (gone)`;
  }
};

/** The terminal's escape character, which starts its cursor movements. */
const ESC = String.fromCharCode(27);
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('on a terminal the rows are a table redrawn in place, and the Ctrl-C key stops the query', async () => {
  const port = await freePort();
  // `script` gives the client a pseudo-terminal: stdin and stdout are TTYs, Ctrl-C is a key.
  client = spawnClient('script', ['-qfec', `${process.execPath} bin/shardflow.js sql --port ${port}`, '/dev/null'], '\r');
  const { child } = client;
  await client.waitFor(/shardflow sql> /);
  client.type(CLICKS.replace(/\n/g, ' '));
  await client.waitFor(/\[INFO\] table clicks created/);
  client.type(COUNTS.replace(/\n/g, ' '));
  await client.waitFor(/\[INFO\] running as job sql-client-results/);
  const events = clickEvents(120, 4, 8);
  const file = path.join(dir, 'clicks.jsonl');
  fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n'));
  await run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'push', 'clicks', '--file', file, '--endpoint', `http://localhost:${port}`], { cwd: ROOT });
  const expected = await sqliteClickCounts(events, Math.max(...events.map((e) => e.ts)) - 2000 - 1, dir);
  await client.waitFor(new RegExp(`${expected.length} rows · events in 120 `));
  const out = client.output();
  // The table: a header with box-drawing rules, and each redraw moves the cursor back up over the last one.
  expect(out).toMatch(/window_start +│ window_end +│ userId │ clicks/);
  expect(out).toMatch(/─┼─/);
  expect(out).toMatch(new RegExp(`${ESC}\\[\\d+A\r${ESC}\\[J`));
  const [user, windowStart, clicks] = expected[0]!;
  expect(out).toMatch(new RegExp(`${new Date(windowStart).toISOString().replace('T', ' ').replace('Z', '')} │ [^│]+ │ ${user} +│ ${clicks} `));

  const mark = out.length;
  child.stdin!.write('\x03'); // the Ctrl-C key
  await client.waitFor(/\[INFO\] query stopped/, mark);
  client.type('QUIT;');
  expect(await client.exited).toBe(0);
});

test('`shardflow sql -f SCRIPT` runs the script as `shardflow dev SCRIPT --no-demo` does; -f needs a script', async () => {
  const port = await freePort();
  client = spawnClient(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'sql', '-f', 'examples/click-counts.sql', '--port', String(port)]);
  await client.waitFor(/ready in/);
  await client.waitFor(/push to {3}clicks\n/); // no demo stream
  client.child.kill('SIGINT');
  expect(await client.exited).toBe(0);
  await expect(run(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'sql', '-f'], { cwd: ROOT })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('-f needs a script: shardflow sql -f examples/click-counts.sql') });
});
