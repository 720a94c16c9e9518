/**
 * The chaos harness: one seeded run of a chaos job on the embedded runtime, with faults injected
 * while a producer sends clicks — workers killed at named points (lib/io/fault-points.ts) and at
 * random moments, handlers timed out, containers' caches lost and stale and zombie invocations
 * (lib/io/container-faults.ts), producer duplicates, disorder within the bound, malformed records,
 * records within and past the allowed lateness (the lateness job), throttling at the edge (Kinesis and
 * DynamoDB), shard splits and merges on the source stream, reshards of the keyed stages' shuffle streams
 * (split, merge, UpdateShardCount: tests/chaos/shuffle-reshards.ts), a share of runs in on-demand mode, and a restart of the whole runtime on the
 * same data (graceful, or SIGKILL of `shardflow dev`'s process group). Afterwards the records Kinesis
 * accepted are read back and handed to the sqlite3 reference, and the job's tables are compared with it.
 */
import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { StreamMode } from '../../lib/api/settings';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { FAULTS_ENV, readInjectedFaults, type FaultConfig, type FaultPointName, type InjectedFault } from '../../lib/io/fault-points';
import { DevRuntime } from '../../lib/local/dev-runtime';
import type { EdgeCall } from '../../lib/local/edge';
import { freePort } from '../../lib/local/free-port';
import { DynamoLogStore } from '../../lib/state/dynamodb/dynamo-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import type { KinesisFailureRecord } from '../../lib/local/event-source-mapping';
import { NO_WATERMARK } from '../../lib/time/watermark';
import { logicalShardsOf } from '../../lib/runtime/keyed/key-groups';
import { takesKeyGroups, withKeyGroupsFile } from './jobs/parallelization';
import { IDLE_AFTER_MS, joinsTwoStreams, LATENESS_MS, namesOf, OUT_OF_ORDERNESS_MS, TUMBLING_SIZE_MS, type JobKind } from './jobs/settings';
import { ROOT, startDevSubprocess, workerPids, type DevSubprocess } from './processes';
import { Random } from './random';
import { boundViolations, compare, computeReference, lastWindowMaxTimestampMs, pairRow, recordId, VALUE_FIELDS, type Comparison, type Fate, type Found, type WindowRow } from './reference';
import { reshardShuffle, shuffleReshardSchedule, shuffleStreamsOf, type ShuffleReshard, type ShuffleReshardKind } from './shuffle-reshards';
import { listShards, mergeShards, putRecords, readBack, splitShard, type PutReceipt, type ShardInfo, type StreamRecord } from './stream';
import { takesOnDemand, writeOnDemandJobFile } from './jobs/stream-mode';
import { flushRecord, FLUSH_AHEAD_MS, keepAliveRecord, latenessRecords, partnerProbes, workload, type PlannedRecord, type Workload } from './workload';

/** Which faults a run injects, and how hard. Drawn from the seed by {@link faultPlan}. */
export interface FaultPlan {
  /** Probability of SIGKILL per call of each named point. */
  readonly kill: Partial<Record<FaultPointName, number>>;
  /** Probability of hanging until the function timeout, per call of each named point. */
  readonly hang: Partial<Record<FaultPointName, number>>;
  /** Stage invocations killed at a random moment of their work (a seeded delay after decoding). */
  readonly midInvocation: { readonly probability: number; readonly maxDelayMs: number };
  /** Workers SIGKILLed at random moments by the harness. */
  readonly randomKills: number;
  /** Per keyed batch: its container's cache dropped, the batch run in another container with an older cache, the invocation turned zombie. */
  readonly container: NonNullable<FaultConfig['container']>;
  /** Probability that the edge answers a Kinesis call with a throttling error (half of it for DynamoDB calls). */
  readonly throttle: number;
  readonly split: boolean;
  readonly merge: boolean;
  /** Reshards of each shuffle stream (the keyed stages' inputs), mid-run. */
  readonly shuffleReshards: number;
  /** The job's streams: provisioned, or on-demand (then the shuffle reshards are splits and merges only). */
  readonly streamMode: StreamMode;
  readonly restart: 'none' | 'graceful' | 'hard';
  readonly duplicates: number;
  readonly disorder: number;
  readonly malformed: number;
  /** Key groups per shard of the keyed stages after a shuffle (1 for the sliding job, which keys its source). */
  readonly keyGroups: number;
  /** Their ParallelizationFactor before and after the restart (the same without one), each at most keyGroups. */
  readonly parallelization: { readonly before: number; readonly after: number };
}

export interface ChaosRunOptions {
  readonly kind: JobKind;
  readonly seed: number;
  /** A short run (for `npm test`): fewer events. */
  readonly quick?: boolean;
  /** Overrides of the seeded plan. */
  readonly plan?: Partial<FaultPlan>;
  /** Progress lines. */
  readonly progress?: (line: string) => void;
  /** Where a failing run leaves its log, reference SQL and tables. Default tests/chaos/results. */
  readonly resultsDir?: string;
  /** Lambda's timeout for the stage functions in the run. */
  readonly functionTimeoutMs?: number;
  /** Keep the run's log in the results directory even when it passes. */
  readonly keepLog?: boolean;
}

/** What one run injected, by kind. */
export interface FaultCounts {
  /** Workers SIGKILLed at named points, by point. */
  readonly killedAt: Record<string, number>;
  readonly timeouts: number;
  readonly randomKills: number;
  readonly duplicates: number;
  readonly disordered: number;
  readonly malformed: number;
  readonly throttled: { kinesis: number; dynamodb: number };
  readonly splits: number;
  readonly merges: number;
  /** Reshards of the shuffle streams, by kind. */
  readonly shuffleReshards: Record<ShuffleReshardKind, number>;
  readonly restarts: { graceful: number; hard: number };
  /** Keyed batches whose container had its cached shard state dropped first (and had it cached). */
  readonly cacheLost: number;
  /** Keyed batches run in a container whose cache was behind the log (it caught up first). */
  readonly cacheStale: number;
  /** Invocations turned zombie, and how their late appends went (`won` after the slot was taken: a broken protocol). */
  readonly zombies: number;
  readonly zombieAppends: { readonly lost: number; readonly won: number; readonly other: number };
}

export interface ChaosRunReport {
  readonly kind: JobKind;
  readonly seed: number;
  readonly plan: FaultPlan;
  readonly durationMs: number;
  /** Records Kinesis accepted on the source stream (read back). */
  readonly events: number;
  /** The reference's fate of every accepted record. */
  readonly fates: Record<Fate, number>;
  readonly faults: FaultCounts;
  readonly windowsExpected: number;
  readonly windowsFound: number;
  readonly comparison: Comparison;
  /** Records on the job's late output and in its dead-letter table. */
  readonly late: number;
  readonly deadLettered: number;
  /** Records the event source mapping gave up on (on-failure destination): must be 0. */
  readonly discarded: number;
  /** Records that broke the out-of-orderness bound in the stream (a harness problem if not 0). */
  readonly boundViolations: number;
  /** Mismatches of every kind, plus discarded records: 0 is a pass. */
  readonly mismatches: number;
  /** The late probes put (after the keyed stage had fired past their windows), and how many reached the late output. */
  readonly lateProbes: { readonly sent: number; readonly onLateOutput: number };
  /**
   * Jobs with allowed lateness: records put for fired windows within the lateness, how many of those the
   * reference counts as late firings (all of them, by construction); records put for dropped windows, and how
   * many reached the late output (all of them).
   */
  readonly lateness: { readonly withinSent: number; readonly lateFirings: number; readonly pastSent: number; readonly pastOnLateOutput: number };
  /** The join kind's interval-join pairs: expected by the reference, found in the results table. */
  readonly pairs: { readonly expected: number; readonly found: number };
  /** Set when the run could not finish (the job never reached its final watermark, or the harness failed). */
  readonly error?: string;
}

/** What one source stream of the job gets: the join kind has two, each with its own workload, reshards and late probes. */
interface Feed {
  readonly stream: string;
  readonly work: Workload;
}

/**
 * Kill probabilities per call of each point. Together about one stage invocation in six dies, which keeps
 * a shard's longest failure streak well under the jobs' idleAfter (a stall longer than that holds the
 * watermark — a silent shard goes idle only when nothing is left to read — and makes the run slower).
 */
const FAULT_POINT_KILLS: Partial<Record<FaultPointName, number>> = {
  'after-decode': 0.02,
  'after-state': 0.03,
  'after-sinks': 0.02,
  'after-envelopes': 0.03,
  'after-commit': 0.02,
  'before-return': 0.02,
};

/**
 * Container faults per keyed batch (lib/io/container-faults.ts). A lost or stale cache costs reads only; a
 * zombie fails its invocation like a kill (its retry runs at once), so it counts toward the failure streaks
 * above.
 */
const CONTAINER_FAULTS: FaultPlan['container'] = { lostCache: 0.05, staleCache: 0.08, zombie: 0.03, firstZombie: true };

/** The faults of a run, from its seed. */
export function faultPlan(seed: number, quick = false): FaultPlan {
  const r = new Random(seed).fork('plan');
  const restartDraw = r.next();
  const restart = quick ? 'none' : restartDraw < 0.35 ? 'graceful' : restartDraw < 0.7 ? 'hard' : 'none';
  // Their own forks: the draws above stay what they were for every seed.
  const keyGroups = ((p) => (p.chance(0.5) ? p.int(2, 4) : 1))(new Random(seed).fork('parallelization'));
  return {
    kill: FAULT_POINT_KILLS,
    hang: { 'after-state': 0.003, 'after-envelopes': 0.003 },
    midInvocation: { probability: 0.04, maxDelayMs: 500 },
    randomKills: r.int(1, quick ? 1 : 3),
    container: CONTAINER_FAULTS,
    throttle: 0.02 + r.next() * 0.03,
    split: true,
    merge: r.chance(0.6),
    ...shuffleFaults(seed, quick),
    restart,
    duplicates: 0.04,
    disorder: 0.3,
    malformed: 0.02,
    keyGroups,
    parallelization: parallelizationChange(seed, keyGroups, restart !== 'none'),
  };
}

/**
 * With key groups and a restart, the factor changes at the restart, within the groups, as an upgrade
 * changes it with the state kept: up from below K to K, or down from K; otherwise it is K throughout.
 */
function parallelizationChange(seed: number, keyGroups: number, restarts: boolean): FaultPlan['parallelization'] {
  if (keyGroups <= 1 || !restarts) return { before: keyGroups, after: keyGroups };
  const r = new Random(seed).fork('parallelization-change');
  const other = r.int(1, keyGroups - 1);
  return r.chance(0.5) ? { before: other, after: keyGroups } : { before: keyGroups, after: other };
}

/** Throttling errors at the edge, as Kinesis and DynamoDB send them when a shard or partition is hot. */
class ThrottleInjector {
  enabled = false;
  readonly counts = { kinesis: 0, dynamodb: 0 };
  private static readonly KINESIS = new Set(['PutRecords', 'PutRecord', 'GetRecords', 'GetShardIterator']);
  private static readonly DYNAMODB = new Set(['GetItem', 'PutItem', 'UpdateItem', 'Query', 'BatchWriteItem', 'Scan']);

  constructor(
    private readonly probability: number,
    private readonly random: Random,
  ) {}

  readonly intercept = (call: EdgeCall): { status: number; body: object } | undefined => {
    if (!this.enabled || this.probability <= 0) return undefined;
    if (call.service === 'kinesis' && ThrottleInjector.KINESIS.has(call.operation) && this.random.chance(this.probability)) {
      this.counts.kinesis += 1;
      return { status: 400, body: { __type: 'ProvisionedThroughputExceededException', message: 'Rate exceeded for shard (injected by the chaos harness)' } };
    }
    // Half as often for DynamoDB: the watermark function fires windows one by one, and each throttled call
    // costs it a backoff of about half a second.
    if (call.service === 'dynamodb' && ThrottleInjector.DYNAMODB.has(call.operation) && this.random.chance(this.probability / 2)) {
      this.counts.dynamodb += 1;
      const type = this.random.chance(0.5) ? 'ProvisionedThroughputExceededException' : 'ThrottlingException';
      return { status: 400, body: { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: 'Throughput exceeds the current capacity (injected by the chaos harness)' } };
    }
    return undefined;
  };
}

/**
 * The shuffle reshards and the stream mode of a run, from forks of their own (the other draws of a seed stay
 * as they were): one reshard per shuffle stream in a quick run, one or two otherwise; one run in four on-demand.
 */
function shuffleFaults(seed: number, quick: boolean): Pick<FaultPlan, 'shuffleReshards' | 'streamMode'> {
  const r = new Random(seed);
  return { shuffleReshards: quick ? 1 : r.fork('shuffle reshards').int(1, 2), streamMode: r.fork('stream mode').chance(0.25) ? 'on-demand' : 'provisioned' };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A runtime the run is talking to: in this process (with every hook), or `shardflow dev` in a subprocess. */
type Running = { readonly kind: 'in-process'; readonly runtime: DevRuntime } | { readonly kind: 'subprocess'; readonly dev: DevSubprocess };

/** One seeded chaos run. Never throws for a job fault: the report says what went wrong. */
export async function runChaos(options: ChaosRunOptions): Promise<ChaosRunReport> {
  const { kind, seed } = options;
  const started = Date.now();
  const drawn: FaultPlan = { ...faultPlan(seed, options.quick), ...options.plan };
  const plan: FaultPlan = takesOnDemand(kind) ? drawn : { ...drawn, streamMode: 'provisioned' };
  const names = namesOf(kind);
  const random = new Random(seed);
  const workloadOptions = {
    // With two source streams, as many events in all, half on each.
    events: Math.round((options.quick ? 140 : random.fork('size').int(240, 360)) / names.sources.length),
    users: 8,
    spanMs: options.quick ? 14_000 : 30_000,
    disorder: plan.disorder,
    duplicates: plan.duplicates,
    malformed: plan.malformed,
    lateProbes: 4,
  };
  const feeds: Feed[] =
    joinsTwoStreams(kind)
      ? joinFeeds(random, workloadOptions, names.sources)
      : [{ stream: names.source, work: workload(random.fork('workload'), workloadOptions) }];
  /** With several source streams, a record's shard is named `<stream>:<shard>`, as the runtime names its origin. */
  const shardPrefix = (stream: string): string => (feeds.length > 1 ? `${stream}:` : '');
  const maxTs = Math.max(...feeds.map((f) => f.work.maxTs));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sf-chaos-${kind}-${seed}-`));
  const dataDir = path.join(dir, 'data');
  const faultDir = path.join(dir, 'faults');
  fs.mkdirSync(faultDir, { recursive: true });
  const kindJobFile = path.join(ROOT, `tests/chaos/jobs/${kind}.ts`);
  const keyGroups = takesKeyGroups(kind) ? plan.keyGroups : 1;
  const modeJobFile = plan.streamMode === 'on-demand' ? writeOnDemandJobFile(kindJobFile, dir) : kindJobFile;
  // The job before the restart, and after it: another parallelizationFactor within the same key groups.
  const jobFileOf = (p: number): string => withKeyGroupsFile(ROOT, modeJobFile, { keyGroups, parallelizationFactor: keyGroups > 1 ? p : 1 }, dir);
  const [jobFile, restartedJobFile] = [jobFileOf(plan.parallelization.before), jobFileOf(plan.parallelization.after)];
  const logLines: string[] = [];
  const log = (line: string): void => {
    logLines.push(`${new Date().toISOString()} ${line}`);
    if (logLines.length > 50_000) logLines.splice(0, 10_000);
  };
  const say = (line: string): void => {
    const text = `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s ${line}`;
    log(`[chaos] ${text}`);
    options.progress?.(text);
  };
  // Long enough for the watermark function to fire a few hundred windows under throttling; short enough
  // that a hung stage function (plus its retry) stalls its shard for less than the jobs' idleAfter.
  const timeoutMs = options.functionTimeoutMs ?? 10_000;
  const faultConfig = (withHangs: boolean): FaultConfig => ({
    seed,
    dir: faultDir,
    kill: plan.kill,
    hang: withHangs ? plan.hang : {},
    midInvocation: plan.midInvocation,
    container: plan.container,
  });
  const throttle = new ThrottleInjector(plan.throttle, random.fork('throttle'));
  const actions = random.fork('actions');
  const lateRandom = random.fork('lateness');
  // The edge's port stays the run's across restarts. Two runs side by side may be handed the same free port
  // between its probe and its use: the first start takes another (see the start below).
  let port = await freePort();
  let edgeUrl = `http://localhost:${port}`;
  let kinesis: KinesisClient = kinesisClient({ endpoint: edgeUrl, maxAttempts: 8 });
  let ddb: DynamoDBClient = dynamoClient({ endpoint: edgeUrl, maxAttempts: 8 });
  const reconnect = (): void => {
    kinesis.destroy();
    ddb.destroy();
    kinesis = kinesisClient({ endpoint: edgeUrl, maxAttempts: 8 });
    ddb = dynamoClient({ endpoint: edgeUrl, maxAttempts: 8 });
  };
  const counts = { randomKills: 0, splits: 0, merges: 0, graceful: 0, hard: 0 };
  const shuffleCounts: Record<ShuffleReshardKind, number> = { split: 0, merge: 0, update: 0 };
  const shuffleRandom = random.fork('shuffle reshards');
  const receipts: PutReceipt[] = [];
  /** The highest event time put so far: no watermark passes it minus the bound until more is put. */
  let highestPutMs = Number.MIN_SAFE_INTEGER;
  let running: Running | undefined;
  let error: string | undefined;

  const startInProcess = async (file = jobFile): Promise<Running> => {
    const runtime = await DevRuntime.start({
      jobFile: file,
      port,
      dataDir,
      log,
      workerEnv: { [FAULTS_ENV]: JSON.stringify(faultConfig(true)) },
      functionTimeoutMs: timeoutMs,
      edge: { intercept: throttle.intercept },
    });
    throttle.enabled = true;
    return { kind: 'in-process', runtime };
  };
  const startSubprocess = async (): Promise<Running> => {
    // No hangs here: `shardflow dev` runs its functions with the default 60 s timeout.
    const env = { ...process.env, [FAULTS_ENV]: JSON.stringify(faultConfig(false)) };
    const dev = await startDevSubprocess([path.relative(ROOT, jobFile), '--no-demo', '--port', String(port), '--data', dataDir], env);
    return { kind: 'subprocess', dev };
  };
  /**
   * The keyed stages the source records reach (where records are late or not: the join kind's interval join
   * and coGroup, each fed by both sources), and those whose results the run waits for (a chained job's last).
   */
  const keyedStages: readonly string[] = kind === 'sliding' ? ['s0'] : kind === 'join' ? ['s2', 's3'] : kind === 'sql-join' ? ['s2'] : ['s1'];
  const resultStages: readonly string[] = kind === 'chained' ? ['s2'] : keyedStages;
  /**
   * The watermark up to which keyed stages have fired: the lowest of their open shards' (each keyed shard
   * fires by its own), read from their logs. For the source-partitioned job the keyed shards are the
   * source's, whose closed parents keep the watermark they stopped at.
   */
  let shardStates: ShardStates | undefined;
  const firedWatermark = async (stageIds = keyedStages): Promise<number> => {
    try {
      shardStates ??= new ShardStates(new DynamoLogStore(ddb, `${names.job}-state`));
      let min = Number.POSITIVE_INFINITY;
      for (const stageId of stageIds) {
        const stream = stageId === 's0' ? names.source : `${names.job}-${stageId}`;
        const open = (await listShards(kinesis, stream)).filter((s) => s.open);
        if (open.length === 0) return NO_WATERMARK;
        const groups = stageId === 's0' ? 1 : keyGroups;
        for (const { shardId } of open) for (const logical of logicalShardsOf(shardId, groups)) min = Math.min(min, (await shardStates.current({ stageId, shardId: logical })).watermarkMs);
      }
      return min;
    } catch {
      shardStates = undefined;
      return NO_WATERMARK;
    }
  };
  /** Puts records with the fired watermark read before (or one read earlier, which the watermark can only have passed since). */
  const put = async (stream: string, records: readonly (PlannedRecord & { explicitHashKey?: string })[], firedBeforeMs?: number): Promise<void> => {
    const wm = firedBeforeMs ?? (running?.kind === 'in-process' ? await firedWatermark() : NO_WATERMARK);
    const accepted = await putRecords(kinesis, stream, records, wm);
    receipts.push(...accepted.map((r) => ({ ...r, shardId: shardPrefix(stream) + r.shardId })));
    for (const r of records) if (r.ts !== undefined) highestPutMs = Math.max(highestPutMs, r.ts);
  };
  /** A record on every open shard of every source stream (one that carries its own hash key). */
  const putOnEveryShard = async (record: PlannedRecord, firedBeforeMs?: number): Promise<number> => {
    let shards = 0;
    for (const { stream } of feeds) {
      const open = (await listShards(kinesis, stream)).filter((s) => s.open);
      await put(stream, open.map((s) => ({ ...record, explicitHashKey: s.startingHashKey.toString() })), firedBeforeMs);
      shards += open.length;
    }
    return shards;
  };
  const killRandomWorker = (): void => {
    // Only this run's workers (another run may share the process).
    const r = running;
    const candidates = !r ? [] : r.kind === 'subprocess' ? workerPids(r.dev.child.pid!) : workerPids().filter((pid) => r.runtime.pids().includes(pid));
    // Not a worker whose zombie has yet to append (fault-points.ts spares it too): a zombie killed proves nothing.
    const zombies = zombiesPending(readInjectedFaults(faultDir));
    const pids = candidates.filter((pid) => !zombies.has(pid));
    if (pids.length === 0) return;
    const pid = actions.pick(pids);
    try {
      process.kill(pid, 'SIGKILL');
      counts.randomKills += 1;
      say(`killed worker ${pid} at a random moment`);
    } catch {
      // it exited by itself meanwhile
    }
  };
  const stopRunning = async (): Promise<void> => {
    const r = running;
    running = undefined;
    if (!r) return;
    throttle.enabled = false;
    if (r.kind === 'in-process') await r.runtime.stop();
    else {
      await r.dev.hardKill();
      // The killed runtime's own output: the evidence of what ran before the kill.
      for (const line of r.dev.output().split('\n')) if (line.trim() !== '') log(`[killed shardflow dev] ${line}`);
    }
  };

  try {
    for (let attempt = 1; !running; attempt++) {
      try {
        running = plan.restart === 'hard' ? await startSubprocess() : await startInProcess();
      } catch (e) {
        if (attempt >= 3 || !/is in use/.test(String(e))) throw e;
        port = await freePort();
        edgeUrl = `http://localhost:${port}`;
        reconnect();
      }
    }
    say(`${kind} seed ${seed} (${plan.streamMode} streams): ${feeds.map((f) => `${f.work.records.length} records for ${f.stream}`).join(', ')}, ${running.kind} runtime on ${edgeUrl}, keyed stages in ${keyGroups} key group(s) per shard at parallelizationFactor ${jobFile === restartedJobFile ? plan.parallelization.before : `${plan.parallelization.before}, ${plan.parallelization.after} after the restart`}`);

    // The schedule, in chunks of each producer's puts (the producers take turns, chunk by chunk).
    const chunkSize = 15;
    const chunksOf = (records: readonly PlannedRecord[]): PlannedRecord[][] => Array.from({ length: Math.ceil(records.length / chunkSize) }, (_, i) => records.slice(i * chunkSize, (i + 1) * chunkSize));
    const feedChunks = feeds.map((f) => chunksOf(f.work.records));
    const chunkCount = Math.max(...feedChunks.map((c) => c.length));
    const at = (share: number): number => Math.min(chunkCount - 1, Math.floor(chunkCount * share) + actions.int(0, 2));
    type Action = { readonly kind: 'split' | 'merge'; readonly stream: string } | { readonly kind: 'kill' | 'restart' } | { readonly kind: 'shuffle-reshard'; readonly reshard: ShuffleReshard };
    const schedule = new Map<number, Action[]>();
    const scheduleAt = (chunk: number, action: Action): void => {
      schedule.set(chunk, [...(schedule.get(chunk) ?? []), action]);
    };
    // Each source stream is resharded on its own, the second a tenth of the run after the first.
    feeds.forEach(({ stream }, i) => {
      if (plan.split) scheduleAt(at(0.2 + 0.1 * i), { kind: 'split', stream });
      if (plan.merge) scheduleAt(at(0.55 + 0.1 * i), { kind: 'merge', stream });
    });
    for (const reshard of shuffleReshardSchedule(shuffleStreamsOf(jobFile), plan.shuffleReshards, plan.streamMode, shuffleRandom)) {
      // Without at()'s jitter: its draws would move the random kills of every seed.
      scheduleAt(Math.min(chunkCount - 1, Math.floor(chunkCount * reshard.at)), { kind: 'shuffle-reshard', reshard });
    }
    if (plan.restart !== 'none') scheduleAt(at(0.4), { kind: 'restart' });
    for (let i = 0; i < plan.randomKills; i++) scheduleAt(actions.int(1, chunkCount - 1), { kind: 'kill' });
    // Pauses for records for fired windows, each after a chunk is put: after the restart (they read the fired
    // watermark, from the in-process runtime), and never before a shard made by a split or merge has had records
    // (it holds the watermark until then, or until idleAfter).
    const pausesAfter = new Set(LATENESS_MS[kind] > 0 ? [0.6, 0.72, 0.85].map(at) : []);

    for (let c = 0; c < chunkCount; c++) {
      for (const action of schedule.get(c) ?? []) {
        if (action.kind === 'split') {
          const shard = await splitShard(kinesis, action.stream, (items) => actions.pick(items));
          counts.splits += 1;
          say(`split ${shardPrefix(action.stream)}${shard}`);
        } else if (action.kind === 'merge') {
          const pair = await mergeShards(kinesis, action.stream, (items) => actions.pick(items));
          if (pair) {
            counts.merges += 1;
            say(`merged ${shardPrefix(action.stream)}${pair.join(' + ')}`);
          }
        } else if (action.kind === 'shuffle-reshard') {
          const done = await reshardShuffle(kinesis, action.reshard, shuffleRandom);
          shuffleCounts[done.kind] += 1;
          say(done.what);
        } else if (action.kind === 'kill') {
          killRandomWorker();
        } else {
          const how = running!.kind === 'subprocess' ? 'hard' : 'graceful';
          say(how === 'hard' ? 'SIGKILL to the process group of shardflow dev' : 'stopping the runtime');
          await stopRunning();
          counts[how] += 1;
          reconnect();
          running = await startInProcess(restartedJobFile);
          say(`runtime started again on the same --data (${how} restart)${restartedJobFile === jobFile ? '' : `, with parallelizationFactor ${plan.parallelization.after}`}`);
        }
      }
      // One read of the fired watermark for every producer's chunk: it can only have passed it since.
      const firedBeforeMs = running?.kind === 'in-process' ? await firedWatermark() : NO_WATERMARK;
      for (const [i, { stream }] of feeds.entries()) {
        const chunk = feedChunks[i]![c];
        if (chunk) await put(stream, chunk, firedBeforeMs);
      }
      if (pausesAfter.has(c)) await putLatenessRecords();
      await sleep(150);
    }

    await putLateProbes();
    // One flush event per open shard of every source stream: every shard's watermark passes every window.
    const flushed = await putOnEveryShard(flushRecord(maxTs));
    const finalWatermark = maxTs + FLUSH_AHEAD_MS - OUT_OF_ORDERNESS_MS - 1;
    say(`flushed ${flushed} shard(s); waiting for the watermark to reach ${finalWatermark} and the streams to drain`);
    const current = running;
    if (current?.kind !== 'in-process') throw new Error('the run must end on the in-process runtime');
    const runtime = current.runtime;
    // The runtime is idle once the watermark function stops ticking: idleAfter after the flush, when the first
    // keyed stage finds its sources idle and says so down the line; a second stage's batches behind it may
    // lag under load: give it twice that.
    const deadline = Date.now() + (options.quick ? 60_000 : 120_000) + (resultStages === keyedStages ? 0 : 2 * IDLE_AFTER_MS);
    let idleSince: number | undefined;
    for (;;) {
      const done = (await firedWatermark(resultStages)) >= finalWatermark && runtime.idle();
      idleSince = done ? (idleSince ?? Date.now()) : undefined;
      if (idleSince !== undefined && Date.now() - idleSince >= 1500) break;
      if (Date.now() > deadline) {
        error = `did not finish: watermark ${await firedWatermark(resultStages)} of ${finalWatermark}, idle ${runtime.idle()}`;
        say(error);
        break;
      }
      await sleep(250);
    }
  } catch (e) {
    error = `harness: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    say(error);
  }

  /** Waits (bounded, failing the run) until the keyed stage has fired up to `targetMs`; returns where it is. */
  async function firedUpTo(targetMs: number, what: string): Promise<number> {
    const boundMs = options.quick ? 60_000 : 120_000;
    const until = Date.now() + boundMs;
    let firedMs = await firedWatermark();
    while (firedMs < targetMs) {
      if (Date.now() > until) throw new Error(`${what}: waited ${boundMs / 1000} s for ${keyedStages.join(' and ')}'s fired watermark to reach ${targetMs}; it is at ${firedMs}`);
      await sleep(200);
      firedMs = await firedWatermark();
    }
    return firedMs;
  }

  /**
   * The producer pauses; once the keyed stage has fired close enough to what was put, records for fired
   * windows within the allowed lateness and for dropped ones go out (workload.ts says why their fates do not
   * depend on timing).
   */
  async function putLatenessRecords(): Promise<void> {
    if (running?.kind !== 'in-process') throw new Error('lateness records: the run must be on the in-process runtime by now, to read the fired watermark');
    const ceilingMs = highestPutMs - OUT_OF_ORDERNESS_MS - 1;
    // While the producer waits, a record the job filters out, at the highest event time so far, goes to every open
    // shard now and then: no shard goes idle (an idle shard's next records could be late), the ceiling stays.
    const keepAlive = setInterval(() => {
      putOnEveryShard(keepAliveRecord(highestPutMs), NO_WATERMARK).catch(() => {});
    }, 3000);
    let firedMs: number;
    try {
      firedMs = await firedUpTo(ceilingMs - LATENESS_MS[kind] + TUMBLING_SIZE_MS, 'lateness records');
    } finally {
      clearInterval(keepAlive);
    }
    const records = latenessRecords(lateRandom, { firedMs, ceilingMs }, { sizeMs: TUMBLING_SIZE_MS, latenessMs: LATENESS_MS[kind], users: 8, within: 3, beyond: 2 });
    await put(feeds[0]!.stream, records, firedMs);
    say(`put ${records.length} records for fired windows (within and past the lateness) at fired watermark ${firedMs}, ceiling ${ceilingMs}`);
  }

  async function putLateProbes(): Promise<void> {
    // Late by construction: put once the keyed stage has fired past every probe's window (they lie ten minutes
    // and more before T0), after the clicks and before the flush events (so before the final watermark, on every
    // shard). The wait is bounded, and a watermark that does not get there fails the run, saying so.
    if (running?.kind !== 'in-process') throw new Error('late probes: the run must be on the in-process runtime by now, to read the fired watermark before the put');
    const probes = feeds.flatMap((f) => f.work.lateProbes);
    // The join kind's probes must be late for its coGroup too: past their tumbling windows.
    const droppedAt = (ts: number): number => Math.max(lastWindowMaxTimestampMs(kind, ts), kind === 'join' ? lastWindowMaxTimestampMs('tumbling', ts) : ts);
    const droppedAtMs = Math.max(...probes.map((p) => droppedAt(p.ts!) + LATENESS_MS[kind]));
    const firedMs = await firedUpTo(droppedAtMs, "late probes (the end of the probes' last window, plus the allowed lateness)");
    for (const f of feeds) await put(f.stream, f.work.lateProbes, firedMs);
    say(`put ${probes.length} late probes at fired watermark ${firedMs}`);
  }

  // Read everything back with throttling off, then compare with the reference.
  throttle.enabled = false;
  let report: Omit<ChaosRunReport, 'durationMs'>;
  try {
    if (!running) running = await startInProcess(counts.graceful + counts.hard > 0 ? restartedJobFile : jobFile).then((r) => ((throttle.enabled = false), r));
    const shards: ShardInfo[] = [];
    const records: StreamRecord[] = [];
    for (const { stream } of feeds) {
      const read = await readBack(kinesis, stream);
      const prefix = shardPrefix(stream);
      shards.push(...read.shards.map((s) => ({ ...s, shardId: prefix + s.shardId, parents: s.parents.map((p) => prefix + p) })));
      records.push(...read.records.map((r) => ({ ...r, shardId: prefix + r.shardId })));
    }
    const before = new Map(receipts.map((r) => [recordId(r.shardId, r.sequenceNumber), r.watermarkBeforeMs]));
    const reference = await computeReference(kind, records, (id) => before.get(id) ?? NO_WATERMARK, dir);
    const found = await readFound(ddb, kind, names);
    const comparison = compare(reference, found);
    const idsOf = (recordKind: PlannedRecord['kind']): string[] => receipts.filter((r) => r.record.kind === recordKind).map((r) => recordId(r.shardId, r.sequenceNumber));
    const probeIds = idsOf('late-probe');
    const fates: Record<Fate, number> = { counted: 0, late: 0, dead: 0, flush: 0 };
    for (const f of reference.fates.values()) fates[f] += 1;
    const discarded = countDiscarded(dataDir);
    const violations = boundViolations(shards, records, reference);
    const injected = readInjectedFaults(faultDir);
    const killedAt: Record<string, number> = {};
    for (const f of injected) if (f.kind === 'kill') killedAt[f.point] = (killedAt[f.point] ?? 0) + 1;
    const container = containerFaultCounts(injected);
    for (const f of injected.filter((f) => f.kind === 'zombie-append')) say(`zombie ${f.salt}: its append ${f.effect?.startsWith('won') ? 'WON a slot another writer had taken' : 'went'}: ${f.effect}`);
    report = {
      kind,
      seed,
      plan,
      events: records.length,
      fates,
      faults: {
        killedAt,
        timeouts: injected.filter((f) => f.kind === 'hang').length,
        randomKills: counts.randomKills,
        duplicates: sumOver(feeds, (f) => f.work.counts.duplicates),
        disordered: sumOver(feeds, (f) => f.work.counts.disordered),
        malformed: sumOver(feeds, (f) => f.work.counts.malformed),
        throttled: { ...throttle.counts },
        splits: counts.splits,
        merges: counts.merges,
        shuffleReshards: { ...shuffleCounts },
        restarts: { graceful: counts.graceful, hard: counts.hard },
        ...container,
      },
      windowsExpected: reference.windows.length,
      windowsFound: found.windows.length,
      comparison,
      late: found.late.size,
      deadLettered: found.deadLetters.size,
      discarded,
      boundViolations: violations,
      lateProbes: { sent: probeIds.length, onLateOutput: probeIds.filter((id) => found.late.has(id)).length },
      pairs: { expected: reference.pairs.length, found: found.pairs.length },
      lateness: {
        withinSent: idsOf('late-firing').length,
        lateFirings: idsOf('late-firing').filter((id) => reference.lateFirings.has(id)).length,
        pastSent: idsOf('past-lateness').length,
        pastOnLateOutput: idsOf('past-lateness').filter((id) => found.late.has(id)).length,
      },
      mismatches: comparison.total + discarded + container.zombieAppends.won + (error ? 1 : 0),
      ...(error && { error }),
    };
    for (const line of comparison.examples) say(`  ${line}`);
    if (report.mismatches > 0 || violations > 0 || options.keepLog) {
      const state = await scanAll(ddb, `${names.job}-state`).catch(() => []);
      keepEvidence(options.resultsDir, kind, seed, logLines, reference.sql, found, state);
    }
  } catch (e) {
    const message = `harness: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    say(message);
    keepEvidence(options.resultsDir, kind, seed, logLines, '', undefined);
    report = {
      kind,
      seed,
      plan,
      events: 0,
      fates: { counted: 0, late: 0, dead: 0, flush: 0 },
      faults: {
        killedAt: {},
        timeouts: 0,
        randomKills: counts.randomKills,
        duplicates: 0,
        disordered: 0,
        malformed: 0,
        throttled: { ...throttle.counts },
        splits: counts.splits,
        merges: counts.merges,
        shuffleReshards: { ...shuffleCounts },
        restarts: { graceful: counts.graceful, hard: counts.hard },
        ...containerFaultCounts([]),
      },
      windowsExpected: 0,
      windowsFound: 0,
      comparison: { missingWindows: 0, extraWindows: 0, wrongWindows: 0, deadMissing: 0, deadUnexpected: 0, lateMissing: 0, lateUnexpected: 0, missingPairs: 0, extraPairs: 0, total: 0, examples: [] },
      late: 0,
      deadLettered: 0,
      discarded: 0,
      boundViolations: 0,
      lateProbes: { sent: 0, onLateOutput: 0 },
      pairs: { expected: 0, found: 0 },
      lateness: { withinSent: 0, lateFirings: 0, pastSent: 0, pastOnLateOutput: 0 },
      mismatches: 1,
      error: error ?? message,
    };
  } finally {
    await stopRunning().catch(() => {});
    kinesis.destroy();
    ddb.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { ...report, durationMs: Date.now() - started };
}

const sumOver = <T>(items: readonly T[], f: (item: T) => number): number => items.reduce((n, item) => n + f(item), 0);

/**
 * The join kind's two producers: clicks and impressions, each its own seeded workload with ids on its events.
 * The impressions' late probes partner the clicks' (same user, half a second later): were the join to take late
 * records, they would pair.
 */
function joinFeeds(random: Random, options: Parameters<typeof workload>[1], streams: readonly string[]): Feed[] {
  const [clicks, impressions] = streams as [string, string];
  const clickWork = workload(random.fork(`workload ${clicks}`), { ...options, idPrefix: 'c' });
  const impressionWork = workload(random.fork(`workload ${impressions}`), { ...options, idPrefix: 'i' });
  return [
    { stream: clicks, work: clickWork },
    { stream: impressions, work: { ...impressionWork, lateProbes: partnerProbes(clickWork.lateProbes, 'i') } },
  ];
}

/** The processes holding a zombie whose late append has not happened yet. */
function zombiesPending(injected: readonly InjectedFault[]): Set<number> {
  const appended = new Set(injected.filter((f) => f.kind === 'zombie-append').map((f) => f.salt));
  return new Set(injected.filter((f) => f.kind === 'zombie' && !appended.has(f.salt)).map((f) => f.pid));
}

/** The container faults of a run, from its `faults.log`: only those that did something (a cache that was there, or behind). */
function containerFaultCounts(injected: readonly InjectedFault[]): Pick<FaultCounts, 'cacheLost' | 'cacheStale' | 'zombies' | 'zombieAppends'> {
  const zombieAppends = { lost: 0, won: 0, other: 0 };
  for (const f of injected) {
    if (f.kind !== 'zombie-append') continue;
    if (f.effect?.startsWith('lost')) zombieAppends.lost += 1;
    else if (f.effect?.startsWith('won')) zombieAppends.won += 1;
    else zombieAppends.other += 1;
  }
  return {
    cacheLost: injected.filter((f) => f.kind === 'cache-lost' && f.effect === 'dropped').length,
    cacheStale: injected.filter((f) => f.kind === 'cache-stale' && f.effect?.startsWith('behind')).length,
    zombies: injected.filter((f) => f.kind === 'zombie').length,
    zombieAppends,
  };
}

async function scanAll(ddb: DynamoDBClient, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await ddb.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start && { ExclusiveStartKey: start }) }));
    items.push(...(page.Items ?? []).map((i) => unmarshall(i)));
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  return items;
}

async function readFound(ddb: DynamoDBClient, kind: JobKind, names: ReturnType<typeof namesOf>): Promise<Found> {
  // The join kinds: pairs in the results table, no late output; the DataStream one's coGroup windows in another table.
  const join = joinsTwoStreams(kind);
  const [results, windowResults, late, dead] = await Promise.all([
    scanAll(ddb, names.results),
    kind === 'join' ? scanAll(ddb, names.windows) : [],
    join ? [] : scanAll(ddb, names.late),
    scanAll(ddb, `${names.job}-dead-letters`),
  ]);
  const windows = (join ? windowResults : results).map((r): WindowRow => {
    // A window result's id ends in the firing that wrote it: <key>/<start>/<end>/v<n>.
    const firing = /\/v(\d+)$/.exec(String(r.id));
    return {
      key: String(r.key),
      windowStart: Number(r.windowStart),
      windowEnd: Number(r.windowEnd),
      values: Object.fromEntries(VALUE_FIELDS[kind].map((f) => [f, Number(r[f])])),
      ...(firing && { firings: Number(firing[1]) }),
    };
  });
  const deadLetters = new Map<string, string>();
  for (const d of dead) deadLetters.set(recordId(String(d.shardId), String(d.sequenceNumber)), String(d.reason ?? ''));
  const lateIds = new Set<string>();
  for (const l of late) {
    const m = /^late\/(.+)@(\d+)\.\d+$/.exec(String(l.key));
    lateIds.add(m ? recordId(m[1]!, m[2]!) : `unparsed:${String(l.key)}`);
  }
  return { windows, pairs: join ? results.map(pairRow) : [], deadLetters, late: lateIds };
}

/** Records the event source mapping discarded to its on-failure queue (kept in `failures.jsonl` under --data). */
function countDiscarded(dataDir: string): number {
  try {
    return fs
      .readFileSync(path.join(dataDir, 'failures.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      // Each line is a queued SQS message whose body is Lambda's on-failure record.
      .reduce((n, l) => n + Number((JSON.parse((JSON.parse(l) as { body: string }).body) as KinesisFailureRecord).KinesisBatchInfo.batchSize), 0);
  } catch {
    return 0;
  }
}

function keepEvidence(dir: string | undefined, kind: JobKind, seed: number, log: readonly string[], sql: string, found: Found | undefined, state: readonly Record<string, unknown>[] = []): void {
  const out = dir ?? path.join(ROOT, 'tests/chaos/results');
  fs.mkdirSync(out, { recursive: true });
  const base = path.join(out, `${kind}-${seed}`);
  fs.writeFileSync(`${base}.log`, `${log.join('\n')}\n`);
  if (sql) fs.writeFileSync(`${base}.sql`, sql);
  if (found) fs.writeFileSync(`${base}.found.json`, JSON.stringify({ windows: found.windows, deadLetters: [...found.deadLetters], late: [...found.late] }, null, 1));
  if (state.length > 0) fs.writeFileSync(`${base}.state.json`, JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Set ? [...(v as Set<unknown>)] : v), 1));
}
