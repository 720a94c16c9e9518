import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Named crash points for fault-injection runs (`npm run chaos`): a stage or watermark function calls
 * `faultPoint('after-state', salt)` between two of its effects, and a chaos run makes some of those
 * calls kill the worker process (a real crash: Lambda retries the batch) or hang it until the function
 * timeout kills it.
 *
 * Inert unless `SHARDFLOW_FAULTS` holds a {@link FaultConfig} as JSON — never set it in production. The
 * decision is seeded and reproducible "enough": a hash of the run's seed, the point, the caller's salt
 * (what the invocation works on, e.g. stage, shard and sequence numbers) and how many faults that
 * point and salt already had (read from `faults.log`, which outlives the killed process). So a retry
 * decides afresh instead of crashing forever, and the same batch in the same run decides the same.
 */
export interface FaultConfig {
  /** The run's seed. */
  readonly seed: number;
  /** Where `faults.log` is kept: one JSON line per injected fault (the chaos run counts them). */
  readonly dir: string;
  /** Probability, per call of a point, of SIGKILL (by point name). */
  readonly kill?: Readonly<Record<string, number>>;
  /** Probability, per call of a point, of hanging until the function's timeout kills the worker. */
  readonly hang?: Readonly<Record<string, number>>;
  /**
   * Kills at a random moment of an invocation, wherever its awaits happen to be (inside a DynamoDB
   * write, between two Kinesis calls): armed at `after-decode` (a stage batch) with this probability, to
   * go off after a seeded delay up to `maxDelayMs`; `before-return` disarms it.
   */
  readonly midInvocation?: {
    readonly probability: number;
    readonly maxDelayMs: number;
  };
}

/**
 * The points a stage function calls, in the order a batch reaches them: decoded; state computed (not yet
 * in its log); sinks written; envelopes and markers sent; log entry appended; about to return.
 */
export const FAULT_POINTS = ['after-decode', 'after-state', 'after-sinks', 'after-envelopes', 'after-commit', 'before-return'] as const;
export type FaultPointName = (typeof FAULT_POINTS)[number];

/** One line of `faults.log`. `point` is a {@link FaultPointName}, or `mid-invocation`. */
export interface InjectedFault {
  readonly kind: 'kill' | 'hang';
  readonly point: string;
  readonly salt: string;
  readonly pid: number;
  readonly atMs: number;
}

export const FAULTS_ENV = 'SHARDFLOW_FAULTS';
export const FAULTS_LOG = 'faults.log';

let config: FaultConfig | null | undefined;
let history: Map<string, number> | undefined;
let armed: NodeJS.Timeout | undefined;

/** Crashes or hangs the process here when a chaos run says so; otherwise returns at once. */
export function faultPoint(name: FaultPointName, salt = ''): void {
  if (config === undefined) config = parseConfig(process.env[FAULTS_ENV]);
  if (config === null) return;
  if (name === 'after-decode') armMidInvocationKill(config, salt);
  if (name === 'before-return' && armed) {
    clearTimeout(armed);
    armed = undefined;
  }
  const kind = decide(config, name, salt, config.kill?.[name] ?? 0, config.hang?.[name] ?? 0);
  if (!kind) return;
  record(config, kind, name, salt);
  if (kind === 'kill') process.kill(process.pid, 'SIGKILL');
  // A synchronous hang, as a stuck call would be: only the host's timeout (SIGKILL) ends it.
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 60_000);
}

function armMidInvocationKill(c: FaultConfig, salt: string): void {
  if (armed) clearTimeout(armed);
  armed = undefined;
  const mid = c.midInvocation;
  if (!mid || !decide(c, 'mid-invocation', salt, mid.probability, 0)) return;
  const delayMs = Math.floor(unitHash(`${c.seed}|delay|${salt}|${history?.get(`mid-invocation|${salt}`) ?? 0}`) * mid.maxDelayMs);
  armed = setTimeout(() => {
    record(c, 'kill', 'mid-invocation', salt);
    process.kill(process.pid, 'SIGKILL');
  }, delayMs);
  armed.unref();
}

/**
 * Whether this call of a point faults: a hash of the seed, the point, the salt and how many faults the
 * point and salt already had. The log is read again before saying yes: another worker may have faulted
 * here since this one read it (a retry lands on any warm worker).
 */
function decide(c: FaultConfig, name: string, salt: string, pKill: number, pHang: number): 'kill' | 'hang' | undefined {
  if (pKill <= 0 && pHang <= 0) return undefined;
  const id = `${name}|${salt}`;
  history ??= readHistory(c.dir);
  if (!drawFault(c.seed, name, salt, history.get(id) ?? 0, pKill, pHang)) return undefined;
  history = readHistory(c.dir);
  return drawFault(c.seed, name, salt, history.get(id) ?? 0, pKill, pHang);
}

/** The seeded draw behind every fault point: the same arguments always give the same answer. */
export function drawFault(seed: number, name: string, salt: string, faultsBefore: number, pKill: number, pHang = 0): 'kill' | 'hang' | undefined {
  const r = unitHash(`${seed}|${name}|${salt}|${faultsBefore}`);
  return r < pKill ? 'kill' : r < pKill + pHang ? 'hang' : undefined;
}

/** Written before dying: the page cache keeps it through a SIGKILL. */
function record(c: FaultConfig, kind: 'kill' | 'hang', name: string, salt: string): void {
  const id = `${name}|${salt}`;
  history?.set(id, (history.get(id) ?? 0) + 1);
  const line: InjectedFault = { kind, point: name, salt, pid: process.pid, atMs: Date.now() };
  appendFileSync(join(c.dir, FAULTS_LOG), `${JSON.stringify(line)}\n`);
}

/** Every fault injected so far in a run, from its `faults.log`. */
export function readInjectedFaults(dir: string): InjectedFault[] {
  let text: string;
  try {
    text = readFileSync(join(dir, FAULTS_LOG), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as InjectedFault];
      } catch {
        return []; // a line cut short by a crash
      }
    });
}

function parseConfig(raw: string | undefined): FaultConfig | null {
  if (!raw) return null;
  const parsed = JSON.parse(raw) as FaultConfig;
  if (typeof parsed.seed !== 'number' || typeof parsed.dir !== 'string') throw new Error(`${FAULTS_ENV} needs { seed: number, dir: string }, got ${raw}`);
  return parsed;
}

function readHistory(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of readInjectedFaults(dir)) counts.set(`${f.point}|${f.salt}`, (counts.get(`${f.point}|${f.salt}`) ?? 0) + 1);
  return counts;
}

/** FNV-1a then a murmur finalizer: a well-spread number in [0, 1) from a string. */
function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
