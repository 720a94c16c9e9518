/**
 * The chaos jobs' settings, read by the job files and by the reference (sqlite3) alike, so the two
 * cannot drift apart.
 */

/**
 * What a chaos producer sends: clicks, plus one flush event per shard at the end (filtered out by the jobs).
 * The join kind's events carry an `id` (a producer duplicate keeps it), so that a pair names its two events.
 */
export type ChaosEvent = { userId: string; clicks: number; ts: number; id?: string; flush?: true };

export type JobKind = 'tumbling' | 'sliding' | 'session' | 'chained' | 'lateness' | 'join' | 'sql-join';
export const JOB_KINDS: readonly JobKind[] = ['tumbling', 'sliding', 'session', 'chained', 'lateness', 'join', 'sql-join'];

/**
 * The kinds that join two source streams (clicks, then impressions) by user, with an interval join:
 * `join` in the DataStream API (with a coGroup beside it), `sql-join` in SQL (compileSql).
 */
export const joinsTwoStreams = (kind: JobKind): boolean => kind === 'join' || kind === 'sql-join';

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
export const LATENESS_MS: Record<JobKind, number> = { tumbling: 0, sliding: 0, session: 0, chained: 0, lateness: ALLOWED_LATENESS_MS, join: 0, 'sql-join': 0 };

/** The join jobs' interval: a click at t joins the impressions of its user at [t − 2 s, t + 1 s]. */
export const JOIN_LOWER_MS = -2000;
export const JOIN_UPPER_MS = 1000;

/**
 * Streams and tables of a chaos job. The join jobs read two source streams (clicks, then impressions) and
 * write their pairs to `results`; the DataStream one writes its per-window coGroup to `windows`. Neither has
 * a late output.
 */
export const namesOf = (kind: JobKind) => ({
  job: `chaos-${kind}`,
  source: `chaos-${kind}-in`,
  sources: joinsTwoStreams(kind) ? [`chaos-${kind}-clicks`, `chaos-${kind}-impressions`] : [`chaos-${kind}-in`],
  results: `chaos-${kind}-out`,
  windows: `chaos-${kind}-windows`,
  late: `chaos-${kind}-late`,
});

export const sourceOptions = {
  eventTime: (e: ChaosEvent) => e.ts,
  outOfOrderness: OUT_OF_ORDERNESS_MS,
  idleAfter: IDLE_AFTER_MS,
  shards: SOURCE_SHARDS,
};
