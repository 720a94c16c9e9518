import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Named crash points for fault-injection runs (`npm run chaos`): a stage or watermark function calls
 * `faultPoint('after-state', salt)` between two of its effects, and a chaos run makes some of those
 * calls kill the worker process (a real crash: Lambda retries the batch) or hang it until the function
 * timeout kills it. A keyed stage's batch also draws a container fault here (a cache lost or stale, a
 * zombie invocation), which lib/io/container-faults.ts injects.
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
  /**
   * Faults of a keyed stage's container, per batch (lib/io/container-faults.ts): its cached shard state
   * dropped before the batch (`lostCache`); the batch run in another warm container whose cached state is
   * older (`staleCache`); the invocation turned zombie — it reports a failure, Lambda retries the batch, and
   * it delivers and appends after the retry took its slot (`zombie`).
   */
  readonly container?: {
    readonly lostCache: number;
    readonly staleCache: number;
    readonly zombie: number;
    /**
     * The run's first keyed batch with records turns zombie whatever the draw (none in `faults.log` yet): a
     * short run has few keyed batches, and its proof that a zombie's late append loses must not hang on luck.
     */
    readonly firstZombie?: boolean;
  };
}

/**
 * The points a stage function calls, in the order a batch reaches them: decoded; state computed (not yet
 * in its log); sinks written; envelopes and markers sent; log entry appended; about to return.
 */
export const FAULT_POINTS = ['after-decode', 'after-state', 'after-sinks', 'after-envelopes', 'after-commit', 'before-return'] as const;
export type FaultPointName = (typeof FAULT_POINTS)[number];

/** A fault of a keyed stage's container, drawn per batch (see {@link FaultConfig.container}). */
export type ContainerFault = 'cache-lost' | 'cache-stale' | 'zombie';

/**
 * One line of `faults.log`. `point` is a {@link FaultPointName} or `mid-invocation` for kills and hangs,
 * `container` for a {@link ContainerFault} drawn, `zombie-append` for how a zombie's late append went.
 */
export interface InjectedFault {
  readonly kind: 'kill' | 'hang' | ContainerFault | 'zombie-append';
  readonly point: string;
  readonly salt: string;
  readonly pid: number;
  readonly atMs: number;
  /** What a container fault did: how far behind the cache was, how a zombie's append went. */
  readonly effect?: string;
}

export const FAULTS_ENV = 'SHARDFLOW_FAULTS';
export const FAULTS_LOG = 'faults.log';

let config: FaultConfig | null | undefined;
let history: Map<string, number> | undefined;
let armed: NodeJS.Timeout | undefined;
/** Zombies of this process whose late append is still to come: no kill or hang here until they are done. */
let zombiesPending = 0;
/** Whether the run's log holds a zombie already (see {@link FaultConfig.container}'s `firstZombie`). */
let zombieSeen = false;

function loaded(): FaultConfig | null {
  if (config === undefined) config = parseConfig(process.env[FAULTS_ENV]);
  return config;
}

/** Whether this process runs with faults (`SHARDFLOW_FAULTS` set): never in production. */
export const faultsEnabled = (): boolean => loaded() !== null;

/**
 * Crashes or hangs the process here when a chaos run says so; otherwise returns at once. `share`: the part
 * of one invocation this call stands for — a batch split into n key groups passes each group's points 1/n,
 * so an invocation still dies as often as the run's probabilities say, not n times as often.
 */
export function faultPoint(name: FaultPointName, salt = '', share = 1): void {
  const c = loaded();
  if (!c || zombiesPending > 0) return;
  if (name === 'after-decode') armMidInvocationKill(c, salt, share);
  if (name === 'before-return' && armed) {
    clearTimeout(armed);
    armed = undefined;
  }
  const pKill = c.kill?.[name] ?? 0;
  const pHang = c.hang?.[name] ?? 0;
  const kind = pKill > 0 || pHang > 0 ? decide(c, name, salt, killOrHang(...shared([pKill, pHang], share))) : undefined;
  if (!kind) return;
  record(c, kind, name, salt);
  if (kind === 'kill') process.kill(process.pid, 'SIGKILL');
  // A synchronous hang, as a stuck call would be: only the host's timeout (SIGKILL) ends it.
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 60_000);
}

/**
 * The container fault a keyed batch meets, if any: one seeded draw per batch (salted like the points), so
 * a retry, with one more fault of the batch in the log, draws afresh. The caller records what it did
 * with {@link recordFault} (a zombie before it reports its failure, so its retry sees it).
 */
export function containerFault(salt: string, share = 1): ContainerFault | undefined {
  const c = loaded();
  if (!c?.container) return undefined;
  const { firstZombie } = c.container;
  const [lostCache, staleCache, zombie] = shared([c.container.lostCache, c.container.staleCache, c.container.zombie], share);
  zombieSeen ||= firstZombie === true && readInjectedFaults(c.dir).some((f) => f.kind === 'zombie');
  const fault = firstZombie && !zombieSeen ? 'zombie' : decide(c, 'container', salt, (r): ContainerFault | undefined =>
    r < lostCache ? 'cache-lost' : r < lostCache + staleCache ? 'cache-stale' : r < lostCache + staleCache + zombie ? 'zombie' : undefined,
  );
  // A zombie leaves its batch running: a mid-invocation kill armed for it would kill the zombie instead.
  if (fault === 'zombie' && armed) {
    clearTimeout(armed);
    armed = undefined;
  }
  return fault;
}

/**
 * A zombie of this process is running to its late append: until `done` is called, its process is not killed
 * at a point or at a random moment of an invocation — a zombie killed before it appends proves nothing.
 */
export function holdKillsForZombie(): () => void {
  zombiesPending += 1;
  if (armed) {
    clearTimeout(armed);
    armed = undefined;
  }
  let released = false;
  return () => {
    if (!released) zombiesPending -= 1;
    released = true;
  };
}

/** Logs a container fault (point `container`) or a zombie's late append (point `zombie-append`) in `faults.log`. */
export function recordFault(kind: ContainerFault | 'zombie-append', salt: string, effect?: string): void {
  const c = loaded();
  if (c) record(c, kind, kind === 'zombie-append' ? 'zombie-append' : 'container', salt, effect);
}

function armMidInvocationKill(c: FaultConfig, salt: string, share: number): void {
  if (armed) clearTimeout(armed);
  armed = undefined;
  const mid = c.midInvocation;
  if (!mid || !decide(c, 'mid-invocation', salt, killOrHang(...shared([mid.probability, 0], share)))) return;
  const delayMs = Math.floor(unitHash(`${c.seed}|delay|${salt}|${history?.get(`mid-invocation|${salt}`) ?? 0}`) * mid.maxDelayMs);
  armed = setTimeout(() => {
    record(c, 'kill', 'mid-invocation', salt);
    process.kill(process.pid, 'SIGKILL');
  }, delayMs);
  armed.unref();
}

/**
 * Whether this call of a point faults, and how: `pick` of a hash of the seed, the point, the salt and how
 * many faults the point and salt already had. The log is read again before saying yes: another worker may
 * have faulted here since this one read it (a retry lands on any warm worker).
 */
function decide<T>(c: FaultConfig, name: string, salt: string, pick: (r: number) => T | undefined): T | undefined {
  const id = `${name}|${salt}`;
  const draw = (): T | undefined => pick(unitHash(`${c.seed}|${name}|${salt}|${history!.get(id) ?? 0}`));
  history ??= readHistory(c.dir);
  if (draw() === undefined) return undefined;
  history = readHistory(c.dir);
  return draw();
}

/**
 * Exclusive outcomes' probabilities for a `share` of an invocation: their total p becomes 1 - (1 - p)^share
 * (n draws at that rate fault as often as one at p), split as before.
 */
export function shared<T extends number[]>(probabilities: [...T], share: number): T {
  const total = probabilities.reduce((a, b) => a + b, 0);
  if (share >= 1 || total <= 0) return probabilities as T;
  const scale = (1 - (1 - Math.min(total, 1)) ** share) / total;
  return probabilities.map((p) => p * scale) as T;
}

const killOrHang =
  (pKill: number, pHang: number) =>
  (r: number): 'kill' | 'hang' | undefined =>
    r < pKill ? 'kill' : r < pKill + pHang ? 'hang' : undefined;

/** The seeded draw behind every fault point: the same arguments always give the same answer. */
export function drawFault(seed: number, name: string, salt: string, faultsBefore: number, pKill: number, pHang = 0): 'kill' | 'hang' | undefined {
  return killOrHang(pKill, pHang)(unitHash(`${seed}|${name}|${salt}|${faultsBefore}`));
}

/** Written before dying: the page cache keeps it through a SIGKILL. */
function record(c: FaultConfig, kind: InjectedFault['kind'], name: string, salt: string, effect?: string): void {
  const id = `${name}|${salt}`;
  history?.set(id, (history.get(id) ?? 0) + 1);
  const line: InjectedFault = { kind, point: name, salt, pid: process.pid, atMs: Date.now(), ...(effect !== undefined && { effect }) };
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
