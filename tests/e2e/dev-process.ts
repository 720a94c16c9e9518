/** Test support: `shardflow dev` as a real subprocess, driven as a person would from a shell. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { loadJob } from '../../lib/cli/load-job';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { DevRuntime } from '../../lib/local/dev-runtime';
import { logicalShardsOf } from '../../lib/runtime/keyed/key-groups';
import { checkpointKey, fileCheckpointStore, SHARD_END } from '../../lib/local/esm/checkpoint-store';
import { planJob } from '../../lib/plan/planner';
import { DynamoLogStore } from '../../lib/state/dynamodb/dynamo-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { NO_WATERMARK } from '../../lib/time/watermark';
import { readBack } from '../chaos/stream';

export const ROOT = path.resolve(__dirname, '../..');
export const run = promisify(execFile);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface DevProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Every process below the dev process (emulators, workers), by walking /proc. */
  descendants(): number[];
  /** Ctrl-C, and the exit code. */
  interrupt(): Promise<number | null>;
}

/** `shardflow dev ARGS`: this checkout's, or (`from`) an installed package's in a user's project. */
export async function startDev(args: readonly string[], timeoutMs = 60_000, from: { bin: string; cwd: string } = { bin: path.join(ROOT, 'bin/shardflow.js'), cwd: ROOT }): Promise<DevProcess> {
  const child = spawn(process.execPath, [from.bin, 'dev', ...args], { cwd: from.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  while (!/ready in/.test(out)) {
    if (child.exitCode !== null) throw new Error(`shardflow dev exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`shardflow dev not ready after ${timeoutMs} ms:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    descendants: () => descendantsOf(child.pid!),
    interrupt: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

/** Every process below `root`, by walking /proc. */
export function descendantsOf(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // gone already
    }
  }
  const found: number[] = [];
  const walk = (pid: number): void => {
    for (const [child, ppid] of parent) if (ppid === pid) {
      found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // a zombie has exited
  } catch {
    return false;
  }
};

/** The AWS CLI against the edge, as the README shows it. */
export async function aws(port: number, args: readonly string[]): Promise<unknown> {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  const { stdout } = await run('aws', ['--endpoint-url', `http://localhost:${port}`, '--output', 'json', ...args], { env, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim() ? JSON.parse(stdout) : undefined;
}

/** Puts events with `aws kinesis put-records` (raw JSON data, as CLI v1 sends it), 100 per call. */
export async function putWithCli(port: number, stream: string, events: readonly { userId: string }[], dir: string): Promise<void> {
  for (let i = 0; i < events.length; i += 100) {
    const file = path.join(dir, `records-${i}.json`);
    fs.writeFileSync(file, JSON.stringify(events.slice(i, i + 100).map((e) => ({ PartitionKey: e.userId, Data: JSON.stringify(e) }))));
    const out = (await aws(port, ['kinesis', 'put-records', '--stream-name', stream, '--records', `file://${file}`])) as { FailedRecordCount: number };
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
  }
}

/** A results table as the AWS CLI scans it: (key, windowStart, clicks), sorted. */
export async function scanResults(port: number, table: string): Promise<[string, number, number][]> {
  const out = (await aws(port, ['dynamodb', 'scan', '--table-name', table])) as { Items: Record<string, { S?: string; N?: string }>[] };
  return out.Items.map((i): [string, number, number] => [i.key!.S!, Number(i.windowStart!.N), Number(i.clicks!.N)]).sort(byKeyThenWindow);
}

/** A results table's (key, windowStart, clicks), sorted, read with the SDK (no CLI process per look). */
export async function scanClickCounts(ddb: DynamoDBClient, table: string): Promise<[string, number, number][]> {
  const { Items = [] } = await ddb.send(new ScanCommand({ TableName: table }));
  return Items.map((i) => unmarshall(i) as { key: string; windowStart: number; clicks: number })
    .map((i): [string, number, number] => [i.key, i.windowStart, i.clicks])
    .sort(byKeyThenWindow);
}

/**
 * Per test, a fresh directory and a job in it on the embedded runtime (in this process), stopped and
 * removed after the test: `start(name, source)` writes `<name>.ts` and starts it on a free port.
 */
export function embeddedJobs(prefix: string): { dir: () => string; start: (name: string, source: string) => Promise<{ runtime: DevRuntime; jobFile: string; port: number }> } {
  let dir = '';
  let runtime: DevRuntime | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir: () => dir,
    start: async (name, source) => {
      const jobFile = path.join(dir, `${name}.ts`);
      fs.writeFileSync(jobFile, source);
      const port = await freePort();
      runtime = await DevRuntime.start({ jobFile, port });
      return { runtime, jobFile, port };
    },
  };
}

export const byKeyThenWindow = (a: [string, number, number], b: [string, number, number]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]);

/**
 * The expected windows, computed by sqlite3 (an SQL engine that is not ours): clicks per user per
 * 5-second tumbling window (their sum, or `aggregate`), for windows the final watermark has passed.
 */
export async function sqliteClickCounts(events: readonly { userId: string; clicks: number; ts: number }[], watermarkMs: number, dir: string, aggregate: 'SUM' | 'MAX' = 'SUM'): Promise<[string, number, number][]> {
  const file = path.join(dir, 'reference.sql');
  const rows = events.map((e) => `('${e.userId.replace(/'/g, "''")}', ${e.clicks}, ${e.ts})`);
  fs.writeFileSync(
    file,
    `CREATE TABLE clicks (user_id TEXT, clicks INTEGER, ts INTEGER);
INSERT INTO clicks VALUES ${rows.join(',\n')};
.mode json
SELECT user_id, ts - (ts % 5000) AS window_start, ${aggregate}(clicks) AS clicks FROM clicks
GROUP BY user_id, window_start HAVING window_start + 5000 - 1 <= ${watermarkMs} ORDER BY user_id, window_start;
`,
  );
  const { stdout } = await run('sqlite3', [':memory:', `.read ${file}`]);
  return (JSON.parse(stdout || '[]') as { user_id: string; window_start: number; clicks: number }[]).map((r): [string, number, number] => [r.user_id, r.window_start, r.clicks]).sort(byKeyThenWindow);
}

/** Seeded clicks from `users` users over `spanMs` of event time, disorder under the job's 2 s bound. */
export function clickEvents(n: number, users: number, seed: number, t0 = 1_700_000_000_000, spanMs = 30_000): { userId: string; clicks: number; ts: number }[] {
  let s = seed;
  const random = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, (_, i) => ({
    userId: `user-${Math.floor(random() * users)}`,
    clicks: 1 + Math.floor(random() * 5),
    ts: t0 + Math.floor((i * spanMs) / n) - Math.floor(random() * 1500),
  }));
}

/** Waits until `check` returns true, polling. `what` may be a function, to say what the last poll saw. */
export async function until(what: string | (() => string), check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Waits until `shardflow dev --data <dataDir>` has nothing left to do: stage by stage, its event source
 * mapping has checkpointed the last record of every shard of its stream (a stage's stream is complete once
 * the stage before it is done), and then every keyed stage has fired up to `watermarkMs`. From then on no
 * record is in flight and every window up to that watermark has fired: the results cannot change.
 */
export async function untilSettled(port: number, jobFile: string, dataDir: string, watermarkMs: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const plan = planJob(loadJob(path.join(ROOT, jobFile)));
  const endpoint = `http://localhost:${port}`;
  const kinesis = kinesisClient({ endpoint });
  const ddb = dynamoClient({ endpoint });
  try {
    for (const stage of plan.stages) {
      const fn = `${plan.job}-${stage.id}`;
      const stream = stage.input.stream;
      const tails = new Map<string, string>();
      for (const r of (await readBack(kinesis, stream)).records) tails.set(r.shardId, r.sequenceNumber);
      let behind: string[] = [];
      await until(
        () => `${fn} to checkpoint the last record of every shard of ${stream}; behind: ${behind.join(', ')}`,
        async () => {
          const checkpoints = fileCheckpointStore(path.join(dataDir, 'checkpoints'));
          behind = [];
          for (const [shardId, last] of tails) {
            const at = await checkpoints.load(checkpointKey(fn, stream, shardId));
            if (at !== SHARD_END && (at === undefined || BigInt(at) < BigInt(last))) behind.push(`${shardId} at ${at ?? 'none'} of ${last}`);
          }
          return behind.length === 0;
        },
        deadline - Date.now(),
      );
    }
    // A keyed stage has fired up to the lowest of its logical shards' watermarks (a shard's key groups), as their logs have them.
    const states = new ShardStates(new DynamoLogStore(ddb, plan.stateTable));
    for (const stage of plan.stages.filter((s) => s.keyed)) {
      let fired = NO_WATERMARK;
      const shards = (await readBack(kinesis, stage.input.stream)).shards.filter((s) => s.open).map((s) => s.shardId);
      await until(
        () => `${stage.id} to fire up to ${watermarkMs}; fired up to ${fired}`,
        async () => {
          fired = Number.POSITIVE_INFINITY;
          for (const shardId of shards.flatMap((s) => logicalShardsOf(s, stage.keyGroups))) fired = Math.min(fired, (await states.current({ stageId: stage.stateId, shardId })).watermarkMs);
          return fired >= watermarkMs;
        },
        deadline - Date.now(),
      );
    }
  } finally {
    kinesis.destroy();
    ddb.destroy();
  }
}
