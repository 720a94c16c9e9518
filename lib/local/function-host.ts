import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as readline from 'node:readline';
import type { Readable } from 'node:stream';
import type { LambdaConcurrency } from './concurrency';

// Runs a Lambda bundle the way Lambda does, but on a laptop: each execution environment is a worker
// process (function-host-child.js) that loads the bundle once and then serves one invocation at a time.
// Processes rather than worker threads or vm contexts, so that a crash, an OOM or a SIGKILL inside a
// handler is a real process death — the failure the event-source-mapping runner must survive.
//
// Lambda behaviour relied on:
// - execution environments are reused between invocations, so module state persists (warm start), and a
//   new one runs the bundle's init code first (cold start):
//   https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
// - one environment serves one invocation at a time; concurrent invocations get more environments
//   (on-demand scaling), same page;
// - a timeout or a runtime crash resets the environment (it is not reused); a handled error does not;
// - the context object's fields: https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html
// - Init is capped at 10 s, separately from the function timeout (same lifecycle page).

/** How a {@link FunctionHost} runs one function. */
export interface FunctionHostOptions {
  /** The function's name: in the context, the ARN, `AWS_LAMBDA_FUNCTION_NAME` and the log prefix. */
  readonly functionName: string;
  /** Absolute path of a CommonJS bundle exporting the handler (e.g. `bundleFunctions(...).operator`). */
  readonly bundlePath: string;
  /** The export to call. Default `'handler'`. */
  readonly handlerExport?: string;
  /** Added to the worker's environment, over the parent's, like a Lambda function's environment variables. */
  readonly env: Readonly<Record<string, string>>;
  /** Lambda's timeout: past it the worker is SIGKILLed and the invocation fails with kind `'timeout'`. */
  readonly timeoutMs: number;
  /** Caps the worker's V8 heap (`--max-old-space-size`) and is reported as `context.memoryLimitInMB`. */
  readonly memoryMb?: number;
  /** Receives every stdout/stderr line of every worker (Lambda's CloudWatch Logs), as `[functionName] line`. */
  readonly log?: (line: string) => void;
  /**
   * The account's concurrency limits: an invoke past them is refused with TooManyRequestsError before
   * any worker is taken, as Lambda refuses it. Default: no limit.
   */
  readonly concurrency?: LambdaConcurrency;
}

/**
 * Why an invocation failed:
 * - `'handler-error'` — the handler threw or rejected; the worker stays warm and is reused;
 * - `'crash'` — the worker died (exit, signal, OOM, uncaught exception) or could not load the bundle;
 * - `'timeout'` — no answer within `timeoutMs` (or the 10 s init limit); the worker was SIGKILLed.
 */
export type FunctionErrorKind = 'crash' | 'timeout' | 'handler-error';

/**
 * A failed invocation, with what the event-source-mapping runner needs to decide on a retry and what a
 * person needs to debug it: the function, the request id, the worker's exit and its last log lines.
 *
 * @example
 * ```ts
 * try { await host.invoke(event); }
 * catch (e) { if (e instanceof FunctionError && e.kind === 'timeout') bisect(event); else throw e; }
 * ```
 */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
  readonly kind: FunctionErrorKind;
  readonly functionName: string;
  /** The `awsRequestId` the handler saw. */
  readonly requestId: string;
  /** `'init'` when the bundle failed to load (or took too long); `'invoke'` otherwise. */
  readonly phase: 'init' | 'invoke';
  /**
   * Lambda's error type: the thrown error's name for a handler error (`'TypeError'`), else
   * `'Runtime.ExitError'`, `'Sandbox.Timedout'`, `'Runtime.ImportModuleError'`, `'Runtime.HandlerNotFound'`
   * or `'Runtime.MarshalError'` (the result is not JSON).
   */
  readonly errorType: string;
  /** The worker's exit code, when it exited by itself. */
  readonly exitCode: number | null;
  /** The signal that ended the worker (`'SIGKILL'` after a timeout). */
  readonly signal: NodeJS.Signals | null;
  /** The worker's pid. */
  readonly pid: number | undefined;
  /** The handler's stack, for a handler error. */
  readonly trace: readonly string[];
  /** The worker's last log lines — for a crash, usually where the reason is. */
  readonly logTail: readonly string[];

  constructor(fields: {
    kind: FunctionErrorKind;
    functionName: string;
    requestId: string;
    phase: 'init' | 'invoke';
    errorType: string;
    problem: string;
    exitCode?: number | null;
    signal?: NodeJS.Signals | null;
    pid?: number | undefined;
    trace?: readonly string[];
    logTail?: readonly string[];
  }) {
    const detail = fields.logTail && fields.logTail.length > 0 && fields.kind !== 'handler-error'
      ? `\nlast log lines:\n  ${fields.logTail.join('\n  ')}`
      : '';
    super(`${fields.functionName}: ${fields.problem} (${fields.errorType}, request ${fields.requestId})${detail}`);
    this.kind = fields.kind;
    this.functionName = fields.functionName;
    this.requestId = fields.requestId;
    this.phase = fields.phase;
    this.errorType = fields.errorType;
    this.exitCode = fields.exitCode ?? null;
    this.signal = fields.signal ?? null;
    this.pid = fields.pid;
    this.trace = fields.trace ?? [];
    this.logTail = fields.logTail ?? [];
  }
}

/** Counters like Lambda's CloudWatch metrics, for the progress line and the dashboard. */
export interface FunctionHostStats {
  /** Invocations started (Lambda's `Invocations`). */
  readonly invocations: number;
  /** Failed invocations of any kind (Lambda's `Errors`). */
  readonly errors: number;
  readonly crashes: number;
  readonly timeouts: number;
  /** Workers started, each loading the bundle once. */
  readonly coldStarts: number;
  /** Invokes refused for concurrency (Lambda's `Throttles`); not counted in `invocations`. */
  readonly throttles: number;
  /** Handler durations of the last 100 finished invocations (init excluded, as in Lambda's `Duration`). */
  readonly durationsMs: readonly number[];
}

/** Lambda's cap on the Init phase, separate from the function timeout. */
const INIT_TIMEOUT_MS = 10_000;
/** How long {@link FunctionHost.stop} lets a worker handle SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 1_000;
/** After a worker exits, how long to wait for its last output before reporting the crash. */
const OUTPUT_DRAIN_MS = 200;
const LOG_TAIL_LINES = 20;
const DURATION_WINDOW = 100;
/** Lambda's default memory, reported when the option is not set (no heap cap is applied then). */
const DEFAULT_MEMORY_MB = 128;
/** LocalStack's account id, so local ARNs look like LocalStack's. */
const LOCAL_ACCOUNT = '000000000000';

const CHILD_SCRIPT = path.join(__dirname, 'function-host-child.js');

/** The error shape the child sends, like Lambda's error payload. */
interface ChildError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

/** Messages between the two sides; function-host-child.js mirrors these. */
type ToChild =
  | {
      readonly type: 'init';
      readonly bundlePath: string;
      readonly handlerExport: string;
      readonly functionName: string;
      readonly invokedFunctionArn: string;
      readonly memoryLimitInMB: string;
    }
  | { readonly type: 'invoke'; readonly requestId: string; readonly payload: string; readonly deadlineEpochMs: number };
type FromChild =
  | { readonly type: 'ready'; readonly initDurationMs: number }
  | { readonly type: 'init-error'; readonly error: ChildError }
  | { readonly type: 'result'; readonly requestId: string; readonly payload: string }
  | { readonly type: 'error'; readonly requestId: string; readonly error: ChildError };

// Workers must never outlive the parent. The child exits when its IPC channel closes, which covers a
// parent that dies; this covers a parent that exits normally (or by process.exit) while a worker is busy
// in a synchronous loop and would not notice the channel closing. One listener for all hosts.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnParentExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
  });
}

/** How one invocation ended, as a value: the worker never rejects, the host decides what to throw. */
type Settled = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: FunctionError };

/** One execution environment: a worker process, its state and the invocation it is running. */
class FunctionWorker {
  readonly child: ChildProcess;
  /** Resolves when the bundle is loaded; rejects with the init failure. */
  readonly ready: Promise<void>;
  /** Resolves once the process has exited and its output is drained. */
  readonly exited: Promise<void>;
  private readonly logTail: string[] = [];
  private current: { requestId: string; timer: NodeJS.Timeout; settle: (s: Settled) => void } | undefined;
  private initError: ChildError | undefined;
  private death: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private timedOut = false;
  private stopping = false;

  /** @param firstRequestId the invocation this worker is started for, named in an init failure. */
  constructor(
    private readonly options: FunctionHostOptions,
    memoryLimitInMB: string,
    firstRequestId: string,
  ) {
    // Source maps so handler errors and crash logs name lib/*.ts lines, not the minified bundle (measured:
    // no visible cost on the operator bundle's ~150 ms cold start).
    const execArgv = ['--enable-source-maps'];
    if (options.memoryMb !== undefined) execArgv.push(`--max-old-space-size=${options.memoryMb}`);
    this.child = fork(CHILD_SCRIPT, [], {
      // Explicit, so the parent's own flags (a TypeScript loader, --inspect) do not leak into the worker.
      execArgv,
      env: {
        ...process.env,
        // Lambda's reserved variables that code commonly reads; the function's own env comes last.
        AWS_LAMBDA_FUNCTION_NAME: options.functionName,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: memoryLimitInMB,
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${options.functionName}`,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    killOnParentExit(this.child);
    for (const stream of [this.child.stdout, this.child.stderr]) if (stream) this.readLines(stream);

    let initDone: (error?: FunctionError) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      initDone = (error) => (error ? reject(error) : resolve());
    });
    // A worker that never gets invoked must not leave an unhandled rejection behind.
    this.ready.catch(() => undefined);
    const initTimer = setTimeout(() => {
      this.timedOut = true;
      this.child.kill('SIGKILL');
    }, INIT_TIMEOUT_MS);

    this.child.on('message', (message: FromChild) => {
      switch (message.type) {
        case 'ready':
          clearTimeout(initTimer);
          initDone();
          break;
        case 'init-error':
          // The child exits after sending this; the failure is reported from the exit handler.
          this.initError = message.error;
          break;
        case 'result':
        case 'error':
          this.answer(message);
          break;
      }
    });

    this.exited = new Promise<void>((resolve) => {
      this.child.once('exit', (code, signal) => {
        clearTimeout(initTimer);
        // Lines written just before death may still be in the pipes; wait for them (bounded, since a
        // grandchild could hold the pipes open) so the error carries them.
        const drained = new Promise<void>((r) => {
          const cap = setTimeout(r, OUTPUT_DRAIN_MS);
          this.child.once('close', () => {
            clearTimeout(cap);
            r();
          });
        });
        void drained.then(() => {
          this.death = { code, signal };
          initDone(this.deathError(firstRequestId, 'init', code, signal));
          const current = this.current;
          this.current = undefined;
          if (current) {
            clearTimeout(current.timer);
            current.settle({ ok: false, error: this.deathError(current.requestId, 'invoke', code, signal) });
          }
          resolve();
        });
      });
    });
    this.child.send(
      {
        type: 'init',
        bundlePath: options.bundlePath,
        handlerExport: options.handlerExport ?? 'handler',
        functionName: options.functionName,
        invokedFunctionArn: `arn:aws:lambda:${options.env.AWS_REGION ?? process.env.AWS_REGION ?? 'us-east-1'}:${LOCAL_ACCOUNT}:function:${options.functionName}`,
        memoryLimitInMB,
      } satisfies ToChild,
      (err) => err && this.child.kill('SIGKILL'),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Runs one invocation; settles with the result or a FunctionError, never rejects. */
  run(requestId: string, payload: string): Promise<Settled> {
    return new Promise<Settled>((settle) => {
      if (this.death) {
        // Stopped or died between getting ready and this call.
        settle({ ok: false, error: this.deathError(requestId, 'invoke', this.death.code, this.death.signal) });
        return;
      }
      this.setKeepsParentAlive(true);
      const timer = setTimeout(() => {
        // Lambda stops a timed-out environment hard; the rejection comes from the exit handler, once the
        // process is really gone, so a caller checking the pid never sees it alive.
        this.timedOut = true;
        this.child.kill('SIGKILL');
      }, this.options.timeoutMs);
      this.current = { requestId, timer, settle };
      const message: ToChild = { type: 'invoke', requestId, payload, deadlineEpochMs: Date.now() + this.options.timeoutMs };
      this.child.send(message, (err) => err && this.child.kill('SIGKILL'));
    });
  }

  /** Ends the worker: `SIGTERM`, then `SIGKILL` if it is still there after a grace period. */
  async stop(): Promise<void> {
    if (this.alive) {
      this.stopping = true;
      this.child.kill('SIGTERM');
      const force = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(force);
    }
    await this.exited;
  }

  /** Idle workers do not hold the parent's event loop open (a script that forgets stop() still ends). */
  setKeepsParentAlive(on: boolean): void {
    const handles: Array<{ ref(): unknown; unref(): unknown } | null | undefined> = [
      this.child,
      this.child.channel,
      ...[this.child.stdout, this.child.stderr].map(asRefHandle),
    ];
    for (const h of handles) {
      if (!h) continue;
      if (on) h.ref();
      else h.unref();
    }
  }

  private answer(message: Extract<FromChild, { type: 'result' | 'error' }>): void {
    const current = this.current;
    // A late answer from a worker already being killed for its timeout is not an answer.
    if (!current || current.requestId !== message.requestId || this.timedOut) return;
    clearTimeout(current.timer);
    this.current = undefined;
    this.setKeepsParentAlive(false);
    if (message.type === 'result') {
      current.settle({ ok: true, value: JSON.parse(message.payload) as unknown });
      return;
    }
    current.settle({
      ok: false,
      error: new FunctionError({
        kind: 'handler-error',
        functionName: this.options.functionName,
        requestId: current.requestId,
        phase: 'invoke',
        errorType: message.error.errorType,
        problem: message.error.errorMessage,
        pid: this.pid,
        trace: message.error.trace,
        logTail: [...this.logTail],
      }),
    });
  }

  private deathError(requestId: string, phase: 'init' | 'invoke', code: number | null, signal: NodeJS.Signals | null): FunctionError {
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    const common = { functionName: this.options.functionName, requestId, phase, exitCode: code, signal, pid: this.pid, logTail: [...this.logTail] };
    if (this.timedOut) {
      const limit = phase === 'init' ? `init did not finish within ${INIT_TIMEOUT_MS} ms` : `timed out after ${this.options.timeoutMs} ms`;
      return new FunctionError({ ...common, kind: 'timeout', errorType: 'Sandbox.Timedout', problem: `${limit}; worker ${how}` });
    }
    if (this.initError) {
      const e = this.initError;
      return new FunctionError({ ...common, kind: 'crash', phase: 'init', errorType: e.errorType, problem: `could not load ${this.options.bundlePath}: ${e.errorMessage}`, trace: e.trace });
    }
    const problem = this.stopping ? `worker stopped (${how}) during the ${phase}` : `worker ${how} during the ${phase}`;
    return new FunctionError({ ...common, kind: 'crash', errorType: 'Runtime.ExitError', problem });
  }

  private readLines(stream: Readable): void {
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      this.logTail.push(line);
      if (this.logTail.length > LOG_TAIL_LINES) this.logTail.shift();
      this.options.log?.(`[${this.options.functionName}] ${line}`);
    });
  }
}

/** The child's stdout/stderr are pipe sockets at runtime, which can be unref'd like any handle. */
function asRefHandle(stream: Readable | null): { ref(): unknown; unref(): unknown } | undefined {
  const s = stream as (Readable & { ref?: () => unknown; unref?: () => unknown }) | null;
  return s && typeof s.ref === 'function' && typeof s.unref === 'function' ? (s as { ref(): unknown; unref(): unknown }) : undefined;
}

/**
 * Runs one Lambda function locally from its bundle, in worker processes: a pool of warm execution
 * environments grown on demand, one invocation per worker at a time, with Lambda's timeout, crash and
 * context semantics. The local event-source-mapping runner and the watermark scheduler call
 * {@link FunctionHost.invoke} where AWS would invoke the function.
 *
 * @example
 * ```ts
 * const bundles = await bundleFunctions('examples/click-counts.ts', '.build/click-counts');
 * const operator = new FunctionHost({
 *   functionName: 'click-counts-s0',
 *   bundlePath: bundles.operator,
 *   env: { SHARDFLOW_STAGE: 's0', SHARDFLOW_ENDPOINT_URL: 'http://localhost:4566' },
 *   timeoutMs: 30_000,
 *   log: console.log,
 * });
 * const response = await operator.invoke(kinesisEvent); // { batchItemFailures: [...] }
 * await operator.stop();
 * ```
 */
export class FunctionHost {
  /** Pids of the workers that are alive right now (tests check none survive). */
  readonly pids: () => number[];
  private readonly workers = new Set<FunctionWorker>();
  private readonly idle: FunctionWorker[] = [];
  private readonly memoryLimitInMB: string;
  private stopped = false;
  private readonly counters = { invocations: 0, errors: 0, crashes: 0, timeouts: 0, coldStarts: 0, throttles: 0 };
  private readonly durationsMs: number[] = [];

  constructor(private readonly options: FunctionHostOptions) {
    if (!path.isAbsolute(options.bundlePath)) throw new Error(`${options.functionName}: bundlePath must be absolute, got '${options.bundlePath}'`);
    if (!(options.timeoutMs > 0)) throw new Error(`${options.functionName}: timeoutMs must be positive, got ${options.timeoutMs}`);
    if (options.memoryMb !== undefined && !(options.memoryMb > 0)) throw new Error(`${options.functionName}: memoryMb must be positive, got ${options.memoryMb}`);
    this.memoryLimitInMB = String(options.memoryMb ?? DEFAULT_MEMORY_MB);
    this.pids = () => [...this.workers].filter((w) => w.alive && w.pid !== undefined).map((w) => w.pid as number);
  }

  /** The function's name, as Lambda would know it. */
  get functionName(): string {
    return this.options.functionName;
  }

  /**
   * Runs one invocation on an idle warm worker, or on a new one (a cold start) when all are busy.
   * The event and the result cross the process boundary as JSON, as they do in Lambda.
   *
   * @returns the handler's return value (`undefined` becomes `null`, as in Lambda).
   * @throws {@link FunctionError} when the handler throws, the worker crashes or the invocation times out;
   *   TooManyRequestsError when the concurrency limits refuse it (the handler never runs).
   */
  async invoke(event: unknown): Promise<unknown> {
    if (this.stopped) throw new Error(`${this.options.functionName}: invoke() after stop()`);
    // Serialize before taking a worker: an event that is not JSON is the caller's bug, not a function error.
    const payload = JSON.stringify(event) ?? 'null';
    const limits = this.options.concurrency;
    try {
      limits?.acquire(this.options.functionName);
    } catch (e) {
      this.counters.throttles++;
      throw e;
    }
    try {
      return await this.run(payload);
    } finally {
      limits?.release(this.options.functionName);
    }
  }

  private async run(payload: string): Promise<unknown> {
    const requestId = randomUUID();
    this.counters.invocations++;
    const worker = this.takeWorker(requestId);
    try {
      await worker.ready;
    } catch (e) {
      this.forget(worker);
      this.countFailure(e as FunctionError);
      throw e;
    }
    const started = performance.now();
    const settled = await worker.run(requestId, payload);
    this.recordDuration(performance.now() - started);
    if (settled.ok) {
      this.release(worker);
      return settled.value;
    }
    const { error } = settled;
    this.countFailure(error);
    if (error.kind === 'handler-error') this.release(worker);
    else this.forget(worker);
    throw error;
  }

  /** Kills every worker (in-flight invocations fail with kind `'crash'`); resolves when all have exited. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.idle.length = 0;
    await Promise.all([...this.workers].map((w) => w.stop()));
    this.workers.clear();
  }

  /** Counters since construction. */
  stats(): FunctionHostStats {
    return { ...this.counters, durationsMs: [...this.durationsMs] };
  }

  private takeWorker(requestId: string): FunctionWorker {
    // Reuse the most recently used worker (LIFO), so a lightly loaded function keeps a few hot workers
    // rather than spreading invocations, and module caches, over many.
    while (this.idle.length > 0) {
      const w = this.idle.pop() as FunctionWorker;
      if (w.alive) {
        w.setKeepsParentAlive(true);
        return w;
      }
      this.forget(w);
    }
    const worker = new FunctionWorker(this.options, this.memoryLimitInMB, requestId);
    this.counters.coldStarts++;
    this.workers.add(worker);
    // A worker that dies while idle (a timer in module scope calling process.exit) leaves the pool.
    void worker.exited.then(() => this.forget(worker));
    return worker;
  }

  private release(worker: FunctionWorker): void {
    if (this.stopped || !worker.alive) return;
    worker.setKeepsParentAlive(false);
    this.idle.push(worker);
  }

  private forget(worker: FunctionWorker): void {
    this.workers.delete(worker);
    const i = this.idle.indexOf(worker);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private countFailure(error: FunctionError): void {
    this.counters.errors++;
    if (error.kind === 'crash') this.counters.crashes++;
    if (error.kind === 'timeout') this.counters.timeouts++;
  }

  private recordDuration(ms: number): void {
    this.durationsMs.push(Math.round(ms * 1000) / 1000);
    if (this.durationsMs.length > DURATION_WINDOW) this.durationsMs.shift();
  }
}
