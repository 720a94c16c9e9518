/**
 * The quick subset of `npm run chaos`: one short seeded run per job kind with one keyed stage, with workers
 * killed at named points and at random moments, timeouts, containers' caches lost and stale, zombie
 * invocations, producer duplicates, disorder, malformed records, late records (and, for the lateness job,
 * records within and past the allowed lateness), throttling at the edge, a split of the source stream and a
 * reshard of each keyed stage's shuffle stream (split, merge or UpdateShardCount), one kind on on-demand streams —
 * each checked against the sqlite3 reference. The runs go two at a time (they share nothing but the machine).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { drawFault, FAULTS_ENV, readInjectedFaults, shared } from '../../lib/io/fault-points';
import { runChaos, type ChaosRunReport } from './harness';
import { JOB_KINDS, joinsTwoStreams, type JobKind } from './jobs/settings';
import { ROOT } from './processes';
import { shuffleStreamsOf } from './shuffle-reshards';
import { runLine } from './summary';

// Above the harness's own bounds for two rounds of runs (a quick run waits up to 60 s for each lateness pause,
// the late probes and the final watermark), so a stuck run fails with its message, not a timeout.
jest.setTimeout(900_000);

/**
 * The two-stage kind runs two keyed stages one behind the other, the slowest quick run: it runs in `npm run chaos`; in `npm test` two keyed stages run on the emulators and on `shardflow dev`
 * (tests/integration/chained-stages.test.ts, tests/e2e/hot-items.test.ts). The join kind runs four stages, and a
 * fifth quick run would be a third round of runs: it runs in `npm run chaos`; in `npm test` the joins run on
 * `shardflow dev` (tests/e2e/fraud.test.ts) and against sqlite3 (tests/unit/joins-property.test.ts).
 */
const QUICK_KINDS = JOB_KINDS.filter((kind) => kind !== 'chained' && !joinsTwoStreams(kind));

/** One kind runs on on-demand streams (the seeds of the subset draw provisioned): its reshards are splits and merges. */
const ON_DEMAND_KIND: JobKind = 'session';

describe('the quick chaos subset', () => {
  const reports = new Map<string, ChaosRunReport>();

  beforeAll(async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
    // Container faults more often than in the full runs: short runs have few keyed batches. Each run's first
    // keyed batch with records turns zombie, whatever the draw.
    const container = { lostCache: 0.1, staleCache: 0.2, zombie: 0.08, firstZombie: true };
    // Two at a time: four runtimes at once starve each other's function workers on two cores.
    for (let i = 0; i < QUICK_KINDS.length; i += 2) {
      const runs = await Promise.all(
        QUICK_KINDS.slice(i, i + 2).map((kind, j) => runChaos({ kind, seed: 7 + i + j, quick: true, plan: { container, ...(kind === ON_DEMAND_KIND && { streamMode: 'on-demand' as const }) } })),
      );
      for (const r of runs) reports.set(r.kind, r);
    }
  });

  test.each(QUICK_KINDS)('%s: every window matches the sqlite3 reference and every record is accounted for', (kind) => {
    const r = reports.get(kind)!;
    if (r.mismatches > 0) console.log([runLine(r), ...r.comparison.examples].join('\n'));
    expect({ mismatches: r.mismatches, error: r.error }).toEqual({ mismatches: 0, error: undefined });
    expect(r.windowsFound).toBe(r.windowsExpected);
    expect(r.windowsExpected).toBeGreaterThan(5);
    // counted + late + dead-lettered + flush = what Kinesis accepted
    expect(r.fates.counted + r.fates.late + r.fates.dead + r.fates.flush).toBe(r.events);
    expect({ late: r.late, dead: r.deadLettered }).toEqual({ late: r.fates.late, dead: r.fates.dead });
    // The late probes went out once the keyed stage had fired past their windows: every one is late.
    expect(r.lateProbes).toEqual({ sent: 4, onLateOutput: 4 });
    expect(r.discarded).toBe(0);
    expect(r.boundViolations).toBe(0);
    // the faults really happened
    const kills = Object.values(r.faults.killedAt).reduce((a, b) => a + b, 0) + r.faults.randomKills;
    expect(kills).toBeGreaterThan(0);
    expect(r.faults.duplicates).toBeGreaterThan(0);
    expect(r.faults.disordered).toBeGreaterThan(0);
    expect(r.faults.throttled.kinesis + r.faults.throttled.dynamodb).toBeGreaterThan(0);
    expect(r.faults.splits).toBe(1);
    // One reshard of each shuffle stream (the source-partitioned sliding job has none); none an
    // UpdateShardCount on on-demand streams.
    const shuffleReshards = r.faults.shuffleReshards;
    expect(shuffleReshards.split + shuffleReshards.merge + shuffleReshards.update).toBe(shuffleStreamsOf(path.join(ROOT, `tests/chaos/jobs/${kind}.ts`)).length);
    expect(r.plan.streamMode).toBe(kind === ON_DEMAND_KIND ? 'on-demand' : 'provisioned');
    if (r.plan.streamMode === 'on-demand') expect(shuffleReshards.update).toBe(0);
    // No zombie's append won a slot another writer had taken (it would count as a mismatch too).
    expect(r.faults.zombieAppends.won).toBe(0);
  });

  test('the container faults happened: caches lost, caches stale, zombies whose late append lost its slot', () => {
    // Over the subset: a short run has a few dozen keyed batches, so one run alone may miss a kind.
    const sum = (f: (r: ChaosRunReport) => number): number => [...reports.values()].reduce((n, r) => n + f(r), 0);
    expect({
      cacheLost: sum((r) => r.faults.cacheLost) > 0,
      cacheStale: sum((r) => r.faults.cacheStale) > 0,
      zombieAppendsLost: sum((r) => r.faults.zombieAppends.lost) > 0,
    }).toEqual({ cacheLost: true, cacheStale: true, zombieAppendsLost: true });
  });

  test('lateness: records for fired windows within the allowed lateness fired them again; records past it went to the late output', () => {
    const r = reports.get('lateness')!;
    // The reference counted each record within the lateness as a late firing, and every window's firing count
    // matched (the comparison above); each record past it reached the late output.
    expect(r.lateness.withinSent).toBeGreaterThan(0);
    expect(r.lateness.pastSent).toBeGreaterThan(0);
    expect(r.lateness).toEqual({ withinSent: r.lateness.withinSent, lateFirings: r.lateness.withinSent, pastSent: r.lateness.pastSent, pastOnLateOutput: r.lateness.pastSent });
  });
});

describe('fault points', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-faults-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Calls one fault point in a fresh process, as a function worker would. */
  const callPoint = (config: object | undefined, point: string, salt: string) =>
    spawnSync(process.execPath, ['-e', `require('./bin/register'); require('./lib/io/fault-points.ts').faultPoint(${JSON.stringify(point)}, ${JSON.stringify(salt)}); console.log('survived')`], {
      cwd: ROOT,
      env: { ...process.env, ...(config && { [FAULTS_ENV]: JSON.stringify(config) }) },
      encoding: 'utf8',
    });

  test('without SHARDFLOW_FAULTS a point does nothing', () => {
    const r = callPoint(undefined, 'after-state', 'x');
    expect(r.stdout.trim()).toBe('survived');
  });

  test('a point set to kill dies by SIGKILL and logs the fault first', () => {
    const r = callPoint({ seed: 1, dir, kill: { 'after-state': 1 } }, 'after-state', 'batch-1');
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).not.toContain('survived');
    expect(readInjectedFaults(dir).map((f) => [f.kind, f.point, f.salt])).toEqual([['kill', 'after-state', 'batch-1']]);
  });

  test('the draw is seeded, and a retry (one more fault in the log) draws afresh', () => {
    const draws = (seed: number, faultsBefore: number) => Array.from({ length: 40 }, (_, i) => drawFault(seed, 'after-state', `batch-${i}`, faultsBefore, 0.3));
    expect(draws(1, 0)).toEqual(draws(1, 0));
    expect(draws(1, 0)).not.toEqual(draws(2, 0));
    expect(draws(1, 0)).not.toEqual(draws(1, 1));
    const killed = draws(1, 0).filter((d) => d === 'kill').length;
    expect(killed).toBeGreaterThan(4);
    expect(killed).toBeLessThan(24);
  });

  test('a batch split into key groups dies as often as one invocation, not once per group (chained 4007: 4 groups, 4 times the hangs)', () => {
    const [pKill, pHang] = [0.12, 0.04];
    const invocations = 4000;
    const faultedShare = (groups: number, probabilities: [number, number]): number => {
      let faulted = 0;
      for (let i = 0; i < invocations; i++) {
        if (Array.from({ length: groups }, (_, g) => drawFault(7, 'after-state', `batch-${i}.g${g}`, 0, ...probabilities)).some((d) => d !== undefined)) faulted++;
      }
      return faulted / invocations;
    };
    expect(shared([pKill, pHang], 1)).toEqual([pKill, pHang]);
    const [kill, hang] = shared([pKill, pHang], 1 / 4);
    expect(kill / hang).toBeCloseTo(pKill / pHang, 9);
    expect(1 - (1 - (kill + hang)) ** 4).toBeCloseTo(pKill + pHang, 9);
    // Drawn at the full rate in each of 4 groups, an invocation faults about three times as often as the run says (1 - 0.84^4 ≈ 0.5).
    expect(faultedShare(4, [pKill, pHang])).toBeGreaterThan(0.4);
    expect(Math.abs(faultedShare(4, [kill, hang]) - (pKill + pHang))).toBeLessThan(0.03);
    expect(Math.abs(faultedShare(1, [pKill, pHang]) - (pKill + pHang))).toBeLessThan(0.03);
  });

  test("with firstZombie the run's first keyed batch turns zombie whatever the draw, then the draw decides; a pending zombie spares its process", () => {
    const script = `require('./bin/register');
      const f = require('./lib/io/fault-points.ts');
      const first = f.containerFault('batch-1');
      const again = f.containerFault('batch-2');
      f.recordFault('zombie', 'batch-1', 'ran on slot 0');
      const after = f.containerFault('batch-3');
      const done = f.holdKillsForZombie();
      f.faultPoint('after-state', 'batch-4');
      console.log(JSON.stringify({ first, again, after: after ?? null, survivedWhileHeld: true }));
      done();
      f.faultPoint('after-state', 'batch-5');
      console.log('survived after');`;
    const r = spawnSync(process.execPath, ['-e', script], {
      cwd: ROOT,
      env: { ...process.env, [FAULTS_ENV]: JSON.stringify({ seed: 1, dir, kill: { 'after-state': 1 }, container: { lostCache: 0, staleCache: 0, zombie: 0, firstZombie: true } }) },
      encoding: 'utf8',
    });
    // Until a zombie is in the log every batch draws one (the first may not qualify: one without records);
    // after it, a zero probability draws none.
    expect(JSON.parse(r.stdout.split('\n')[0]!)).toEqual({ first: 'zombie', again: 'zombie', after: null, survivedWhileHeld: true });
    // Once the zombie has appended, the point kills again.
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).not.toContain('survived after');
  });

  test('a point set to hang blocks until killed, as a timed-out function would', async () => {
    const child = spawn(process.execPath, ['-e', `require('./bin/register'); require('./lib/io/fault-points.ts').faultPoint('after-envelopes', 's'); console.log('survived')`], {
      cwd: ROOT,
      env: { ...process.env, [FAULTS_ENV]: JSON.stringify({ seed: 1, dir, hang: { 'after-envelopes': 1 } }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      // The fault is logged before the hang: once it is there, the process is inside the point.
      const deadline = Date.now() + 30_000;
      while (readInjectedFaults(dir).length === 0 && child.exitCode === null) {
        if (Date.now() > deadline) throw new Error(`the hang was not logged within 30 s; output: ${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(readInjectedFaults(dir).map((f) => f.kind)).toEqual(['hang']);
    } finally {
      child.kill('SIGKILL');
    }
    // Only the kill ended it: had the point returned, the process would have said so and exited by itself.
    expect(await exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(output).not.toContain('survived');
  });
});
