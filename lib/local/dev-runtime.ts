import { logicalShardsOf } from '../runtime/keyed/key-groups';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoClient, kinesisClient } from '../io/aws-clients';
import { RESUME_EVENT } from '../io/watermark-handler';
import { loadJob } from '../cli/load-job';
import { batchingWindowSeconds, failureQueueName, type BatchSettings, type Plan } from '../plan/plan';
import { planJob } from '../plan/planner';
import { DEFAULT_FUNCTION } from '../plan/stage-settings';
import { DynamoLogStore } from '../state/dynamodb/dynamo-log-store';
import { ShardStates } from '../state/shard-states';
import { NO_WATERMARK } from '../time/watermark';
import { bundleFunctions } from '../../infra/bundle';
import { startEdge, type Edge, type EdgeOptions } from './edge';
import { startDynamo, startKinesis, type Emulator } from './emulators';
import { EventSourceMapping } from './event-source-mapping';
import { fileCheckpointStore, memoryCheckpointStore } from './esm/checkpoint-store';
import { FunctionHost } from './function-host';
import { LambdaConcurrency, type ConcurrencySettings } from './concurrency';
import { LocalQueues } from './failure-queues';
import { createResources } from './resources';
import { FunctionFigures, type LoggedDeadLetter, type LoggedLate, type MetricFigure } from './dashboard/function-figures';
import { StateReader, type StateSnapshot } from './dashboard/state-reader';

/** Options of {@link DevRuntime.start}. */
export interface DevRuntimeOptions {
  readonly jobFile: string;
  /** The edge port (LocalStack's is 4566). */
  readonly port: number;
  /** Keep streams, tables and checkpoints here across restarts; default: in memory. */
  readonly dataDir?: string;
  /** Function logs, emulator output, retries: detail, not the terminal's main story. */
  readonly log?: (line: string) => void;
  /** How often the watermark function runs (EventBridge's is a minute on AWS; locally a second). */
  readonly watermarkTickMs?: number;
  /**
   * The watermark function as deployed instead of a tick a second: it loops this long per invocation
   * (ticking every second), starts its successor at the end of a loop while events flow, and returns
   * early once every input is idle; a stage function wakes it when data comes back. Default 0: one tick
   * per invocation, never asleep.
   */
  readonly watermarkLoopMs?: number;
  /** Extra environment for every function worker (fault injection, tuning). */
  readonly workerEnv?: Readonly<Record<string, string>>;
  /** Lambda's timeout for every function, over the plan's (each stage's `.settings({ timeout })`, default 60 s). */
  readonly functionTimeoutMs?: number;
  /**
   * Lambda's concurrency limits for the job's functions (reserved by stage id, `s1`, or function name, `click-counts-s1`):
   * an invoke past them is throttled, and the event source mapping retries it, as on AWS. Default: the
   * account's 1,000, and the plan's reservations (`.settings({ reservedConcurrency })`, what a deployment
   * gets); these reservations go over the plan's.
   */
  readonly concurrency?: ConcurrencySettings;
  /** Over every stage's event source mapping settings (e.g. fewer retries, so a test's poison record is discarded soon). */
  readonly batch?: Partial<BatchSettings>;
  /** Hooks on the edge: API-call counting, injected errors. */
  readonly edge?: Pick<EdgeOptions, 'onCall' | 'intercept'>;
  /**
   * Runs once the streams and tables exist, before any function does; a throw stops the start. `shardflow
   * dev` checks here that the state a previous run left fits the job, and records the job's state layout.
   */
  readonly beforeFunctions?: (ddb: DynamoDBClient, plan: Plan) => Promise<void>;
}

/** Live figures for the progress line and the dashboard. */
export interface DevStatus {
  readonly stages: readonly {
    readonly id: string;
    readonly recordsIn: number;
    readonly iteratorAgeMs: number;
    readonly errors: number;
    /** Invokes refused for the function's concurrency limit and retried by the event source mapping (Lambda's `Throttles`). */
    readonly throttles: number;
    readonly watermarkMs: number | undefined;
    /** The stage's EMF metrics since the start, by name (what CloudWatch would chart), from its functions' logs. */
    readonly metrics: Readonly<Record<string, MetricFigure>>;
    /** Per shard of the stage's input stream, as the event source mapping sees it. */
    /** `maxConcurrentBatches`: the most batches of the shard in flight at once (ParallelizationFactor lanes). */
    readonly shards: readonly { readonly shardId: string; readonly recordsDelivered: number; readonly iteratorAgeMs: number; readonly state: string; readonly maxConcurrentBatches: number }[];
  }[];
}

/** Everything the dashboard shows: live figures, what the tables hold, and what the functions logged by name. */
export interface DevSnapshot {
  readonly atMs: number;
  readonly status: DevStatus;
  readonly state: StateSnapshot;
  readonly logged: { readonly late: readonly LoggedLate[]; readonly deadLetters: readonly LoggedDeadLetter[] };
}

/** The edge port is taken: say so before starting anything. */
export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} is in use — stop what is using it, or pass --port <another>`);
    this.name = 'PortInUseError';
  }
}

/**
 * A whole job on loopback: Kinesis and DynamoDB emulators as child processes, one edge endpoint that
 * routes like LocalStack's, the plan's streams and tables (from infra's definitions), each stage's
 * bundle in Lambda-like worker processes fed by a local event source mapping, and the watermark
 * function on a one-second schedule.
 */
export class DevRuntime {
  private readonly mappings: EventSourceMapping[] = [];
  private readonly hosts: FunctionHost[] = [];
  private emulators: Emulator[] = [];
  private edge: Edge | undefined;
  private ticking: Promise<void> | undefined;
  /** Ends the wait between two scheduled runs of the watermark function (on stop). */
  private cutWait: (() => void) | undefined;
  private stopping = false;
  private bundleDir: string | undefined;
  private readonly watermarks = new Map<string, number>();
  private readonly functionFigures = new FunctionFigures();
  private stateReader: StateReader | undefined;
  /** The keyed shards' states, read from their logs for the progress line. */
  private shardStates: ShardStates | undefined;
  /** The stages' on-failure queues (SQS on AWS), served on the edge. */
  queues: LocalQueues | undefined;
  readonly kinesis;
  readonly ddb;

  private constructor(
    readonly plan: Plan,
    readonly jobFile: string,
    private readonly options: DevRuntimeOptions,
    readonly edgeUrl: string,
  ) {
    this.kinesis = kinesisClient({ endpoint: edgeUrl });
    this.ddb = dynamoClient({ endpoint: edgeUrl });
  }

  /** Starts everything; on failure stops what it started and rethrows. */
  static async start(options: DevRuntimeOptions): Promise<DevRuntime> {
    const plan = planJob(loadJob(options.jobFile));
    await assertPortFree(options.port);
    const log = options.log ?? (() => {});
    const dataDir = options.dataDir && path.resolve(options.dataDir);
    // A data directory that holds an earlier run's streams and state: the job resumes after a downtime.
    const resuming = dataDir !== undefined && fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0;
    if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
    // Both started, or neither left running: an emulator that did start would otherwise outlive the
    // failure and keep the data directory locked (dynalite's LevelDB) for the next attempt.
    const starting = await Promise.allSettled([startKinesis({ ...(dataDir && { dataDir }), log }), startDynamo({ ...(dataDir && { dataDir }), log })]);
    const emulators = starting.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = starting.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(emulators.map((em) => em.stop()));
      throw failed.reason;
    }
    let runtime: DevRuntime | undefined;
    try {
      const [kinesis, dynamo] = emulators as [Emulator, Emulator];
      const edge = await startEdge({
        port: options.port,
        kinesis: kinesis.endpoint,
        dynamodb: dynamo.endpoint,
        log,
        // Lambda's Invoke, for the stage functions' wake of the watermark function (and for `aws lambda invoke`).
        invoke: (name, payload) => runtime?.hosts.find((h) => h.functionName === name)?.invoke(payload),
        // The stages' on-failure queues, as SQS: `shardflow failures` reads them here as it does on AWS.
        sqs: (operation, input) => runtime?.queues?.answer(operation, input) ?? { status: 503, body: { __type: 'ServiceUnavailable', message: 'the local runtime is starting' } },
        ...options.edge,
      });
      runtime = new DevRuntime(plan, options.jobFile, options, `http://localhost:${options.port}`);
      runtime.emulators = emulators;
      runtime.edge = edge;
      await runtime.boot(dataDir, resuming);
      return runtime;
    } catch (e) {
      if (runtime) await runtime.stop();
      else await Promise.all(emulators.map((em) => em.stop()));
      throw e;
    }
  }

  private get watermarkFunction(): string {
    return `${this.plan.job}-watermark`;
  }

  private async boot(dataDir: string | undefined, resuming: boolean): Promise<void> {
    const log = this.options.log ?? (() => {});
    // The workers' output is the local CloudWatch Logs: their EMF metrics feed status() and the dashboard.
    const functionLog = (line: string): void => {
      this.functionFigures.ingest(line);
      log(line);
    };
    const [, bundles] = await Promise.all([
      createResources(this.plan, this.kinesis, this.ddb),
      bundleFunctions(this.jobFile, (this.bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), `shardflow-${this.plan.job}-`))), { minify: false }),
    ]);
    await this.options.beforeFunctions?.(this.ddb, this.plan);
    const env = {
      SHARDFLOW_ENDPOINT_URL: this.edgeUrl,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      // The AWS SDK's Node-version notice is noise in a local run.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...this.options.workerEnv,
    };
    const timeoutMs = this.options.functionTimeoutMs ?? DEFAULT_FUNCTION.timeoutSeconds * 1000;
    // One account: every function of the job draws on the same limits, the watermark function too.
    // Reservations may name a stage (`s1`) or a function (`click-counts-s1`); the options' go over the plan's.
    const planned = this.plan.stages.flatMap((s) => (s.function.reservedConcurrency === undefined ? [] : [[s.id, s.function.reservedConcurrency] as const]));
    const reserved = [...planned, ...Object.entries(this.options.concurrency?.reserved ?? {})].map(([name, n]) => [this.plan.stages.some((s) => s.id === name) ? `${this.plan.job}-${name}` : name, n]);
    const concurrency = new LambdaConcurrency({ ...this.options.concurrency, reserved: Object.fromEntries(reserved) });
    const checkpoints = dataDir ? fileCheckpointStore(path.join(dataDir, 'checkpoints')) : memoryCheckpointStore();
    const queues = (this.queues = new LocalQueues(
      this.plan.stages.map((s) => failureQueueName(this.plan.job, s.id)),
      this.edgeUrl,
      dataDir,
    ));
    for (const stage of this.plan.stages) {
      const host = new FunctionHost({
        functionName: `${this.plan.job}-${stage.id}`,
        bundlePath: bundles.operator,
        env: { ...env, SHARDFLOW_STAGE: stage.id, SHARDFLOW_WATERMARK_FUNCTION: this.watermarkFunction },
        timeoutMs: this.options.functionTimeoutMs ?? stage.function.timeoutSeconds * 1000,
        // Lambda's MemorySize: the worker's heap, and what its shards' state may take (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
        memoryMb: stage.function.memoryMb,
        log: functionLog,
        concurrency,
      });
      this.hosts.push(host);
      const b = { ...stage.batch, ...this.options.batch };
      const mapping = new EventSourceMapping(
        this.kinesis,
        {
          streamName: stage.input.stream,
          functionName: `${this.plan.job}-${stage.id}`,
          batchSize: b.batchSize,
          maxBatchingWindowSeconds: batchingWindowSeconds(b),
          startingPosition: 'TRIM_HORIZON',
          parallelizationFactor: b.parallelizationFactor,
          bisectOnError: b.bisectOnError,
          maxRetryAttempts: b.maxRetryAttempts,
          maxRecordAgeSeconds: b.maxRecordAgeSeconds,
          reportBatchItemFailures: true,
        },
        (event) => host.invoke(event) as ReturnType<import('./esm/types').Invoke>,
        {
          checkpoints,
          log,
          // Lambda's on-failure destination: the message AWS would send the stage's SQS queue.
          onFailure: async (failure) => {
            const body = JSON.stringify(failure);
            queues.send(failureQueueName(this.plan.job, stage.id), body);
            log(`on-failure destination ${failureQueueName(this.plan.job, stage.id)}: ${body}`);
          },
        },
      );
      this.mappings.push(mapping);
    }
    const loopMs = this.options.watermarkLoopMs ?? 0;
    const watermarkTimeoutMs = Math.max(timeoutMs, loopMs + 15_000);
    // As deployed (infra/cloudformation.ts): sleeps when idle, hands over to a successor while events flow.
    const deployed: Record<string, string> = loopMs > 0 ? { SHARDFLOW_WATERMARK_STOP_WHEN_IDLE: '1', SHARDFLOW_WATERMARK_HAND_OVER_MS: String(watermarkTimeoutMs) } : {};
    const watermark = new FunctionHost({
      functionName: this.watermarkFunction,
      bundlePath: bundles.watermark,
      env: { ...env, SHARDFLOW_WATERMARK_LOOP_MS: String(loopMs), ...deployed },
      timeoutMs: watermarkTimeoutMs,
      memoryMb: DEFAULT_FUNCTION.memoryMb,
      log: functionLog,
      concurrency,
    });
    this.hosts.push(watermark);
    if (resuming) await this.resume(watermark);
    for (const m of this.mappings) m.start();
    this.ticking = this.tick(watermark);
  }

  /**
   * On an earlier run's data, before any event source mapping starts: the watermark function ticks every keyed
   * shard once to say the runtime resumed (RESUME_EVENT), so the downtime is no input's idleness.
   */
  private async resume(watermark: FunctionHost): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await watermark.invoke(RESUME_EVENT);
        return;
      } catch (e) {
        if (attempt >= 3) throw new Error(`the watermark function failed to tick the keyed shards after the restart (${(e as Error).message}): records delayed by the downtime could be taken for late. Start again`);
        this.options.log?.(`watermark function failed on resume (${(e as Error).message}); again`);
      }
    }
  }

  /** The watermark function on its schedule (one invocation at a time, as a rate rule with one target). */
  private async tick(watermark: FunctionHost): Promise<void> {
    const every = this.options.watermarkTickMs ?? 1000;
    while (!this.stopping) {
      const started = Date.now();
      try {
        await watermark.invoke({ source: 'aws.events', 'detail-type': 'Scheduled Event', time: new Date().toISOString() });
        await this.readWatermarks();
      } catch (e) {
        if (!this.stopping) this.options.log?.(`watermark function failed: ${(e as Error).message}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(0, every - (Date.now() - started)));
        this.cutWait = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /** A keyed stage's watermark: the lowest of its shards', as their logs have them (a reshard's finished parents no longer count). */
  private async readWatermarks(): Promise<void> {
    this.shardStates ??= new ShardStates(new DynamoLogStore(this.ddb, this.plan.stateTable));
    for (const [i, stage] of this.plan.stages.entries()) {
      if (!stage.keyed) continue;
      let min = Number.POSITIVE_INFINITY;
      for (const { shardId, state } of this.mappings[i]?.stats().shards ?? []) {
        if (state === 'finished') continue;
        for (const logical of logicalShardsOf(shardId, stage.keyGroups)) min = Math.min(min, (await this.shardStates.current({ stageId: stage.stateId, shardId: logical })).watermarkMs);
      }
      if (Number.isFinite(min) && min !== NO_WATERMARK) this.watermarks.set(stage.id, min);
    }
  }

  status(): DevStatus {
    return {
      stages: this.plan.stages.map((stage, i) => {
        const shards = this.mappings[i]?.stats().shards ?? [];
        return {
          id: stage.id,
          recordsIn: shards.reduce((n, s) => n + s.recordsDelivered, 0),
          iteratorAgeMs: Math.max(0, ...shards.map((s) => s.iteratorAgeMs)),
          errors: shards.reduce((n, s) => n + s.functionErrors, 0),
          throttles: shards.reduce((n, s) => n + s.throttles, 0),
          watermarkMs: this.watermarks.get(stage.id),
          metrics: this.functionFigures.stage(stage.id),
          shards: shards.map((s) => ({ shardId: s.shardId, recordsDelivered: s.recordsDelivered, iteratorAgeMs: s.iteratorAgeMs, state: s.state, maxConcurrentBatches: s.maxConcurrentBatches })),
        };
      }),
    };
  }

  /** The latest late records and dead letters the functions logged, newest first (no table reads). */
  logged(): DevSnapshot['logged'] {
    return this.functionFigures.logged();
  }

  /** status() plus what the job's tables hold (watermarks per shard, open windows, results, dead letters, late records). */
  async snapshot(): Promise<DevSnapshot> {
    this.stateReader ??= new StateReader(this.plan, this.ddb);
    const state = await this.stateReader.read();
    return { atMs: Date.now(), status: this.status(), state, logged: this.logged() };
  }

  /** True when every stage has caught up with its stream. */
  idle(): boolean {
    return this.mappings.every((m) => m.idle());
  }

  /** Every worker and emulator process id (tests check none survive). */
  pids(): number[] {
    return [...this.hosts.flatMap((h) => h.pids()), ...this.emulators.map((e) => e.pid)];
  }

  /** Stops polling, lets in-flight batches finish, then stops workers, the edge and the emulators. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.allSettled(this.mappings.map((m) => m.stop()));
    this.cutWait?.();
    // A watermark function looping as deployed is not waited for: stopping its worker is a timeout,
    // which it is made to survive. One tick at a time (the default) ends on its own.
    if (!this.options.watermarkLoopMs) await this.ticking?.catch(() => {});
    await Promise.allSettled(this.hosts.map((h) => h.stop()));
    await this.ticking?.catch(() => {});
    this.kinesis.destroy();
    this.ddb.destroy();
    await this.edge?.close().catch(() => {});
    await Promise.allSettled(this.emulators.map((e) => e.stop()));
    if (this.bundleDir) fs.rmSync(this.bundleDir, { recursive: true, force: true });
  }
}

/** Fails fast, before the emulators start, when the edge port is taken. */
async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' ? new PortInUseError(port) : e));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}
