/**
 * The chaos jobs' settings, read by the job files and by the reference (sqlite3) alike, so the two
 * cannot drift apart.
 */

/** What a chaos producer sends: clicks, plus one flush event per shard at the end (filtered out by the jobs). */
export type ChaosEvent = { userId: string; clicks: number; ts: number; flush?: true };

export type JobKind = 'tumbling' | 'sliding' | 'session' | 'chained' | 'lateness';
export const JOB_KINDS: readonly JobKind[] = ['tumbling', 'sliding', 'session', 'chained', 'lateness'];

export const OUT_OF_ORDERNESS_MS = 1000;
/**
 * Longer than any stall the injected faults cause (a timeout plus retries, a runtime restart): an input
 * silent for this long stops holding the watermark back, and its records may then be late. 15 s was
 * enough while the local event source mapping polled every 200 ms; with AWS's 1 s polling and whole-second
 * batching windows a source shard whose first batches die and whose runtime is then killed took ~18 s
 * (session seeds 3003 and 3005).
 */
export const IDLE_AFTER_MS = 30_000;
export const SOURCE_SHARDS = 2;

export const TUMBLING_SIZE_MS = 2000;
export const SLIDING_SIZE_MS = 4000;
export const SLIDING_SLIDE_MS = 1000;
export const SESSION_GAP_MS = 1500;
/**
 * The lateness job's windows (tumbling, TUMBLING_SIZE_MS) stay open this long after they fire: a record for a
 * fired window within it fires the window again (a late firing), one past it goes to the late output.
 */
export const ALLOWED_LATENESS_MS = 5000;
/** Allowed lateness per job kind (0: a window is dropped as it fires). */
export const LATENESS_MS: Record<JobKind, number> = { tumbling: 0, sliding: 0, session: 0, chained: 0, lateness: ALLOWED_LATENESS_MS };

/** Streams and tables of a chaos job. */
export const namesOf = (kind: JobKind) => ({
  job: `chaos-${kind}`,
  source: `chaos-${kind}-in`,
  results: `chaos-${kind}-out`,
  late: `chaos-${kind}-late`,
});

export const sourceOptions = {
  eventTime: (e: ChaosEvent) => e.ts,
  outOfOrderness: OUT_OF_ORDERNESS_MS,
  idleAfter: IDLE_AFTER_MS,
  shards: SOURCE_SHARDS,
};
