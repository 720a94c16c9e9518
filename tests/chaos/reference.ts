/**
 * The independent reference: the records Kinesis accepted (read back from the source stream) go into
 * sqlite3 — an SQL engine that is not ours — which decides each record's fate (counted, late,
 * dead-lettered, flush) from the jobs' documented rules and computes the windows the final watermark
 * closes: GROUP BY for tumbling windows, one row per (record, window) for sliding windows, gaps and
 * islands with LAG for sessions, a self-join of the two streams for the interval join. The comparison then sets
 * the job's tables against it.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  JOIN_LOWER_MS,
  JOIN_UPPER_MS,
  joinsTwoStreams,
  LATENESS_MS,
  namesOf,
  OUT_OF_ORDERNESS_MS,
  SESSION_GAP_MS,
  SLIDING_SIZE_MS,
  SLIDING_SLIDE_MS,
  TUMBLING_SIZE_MS,
  type JobKind,
} from './jobs/settings';
import type { ShardInfo, StreamRecord } from './stream';

const run = promisify(execFile);

export type Fate = 'counted' | 'late' | 'dead' | 'flush';

/** One window result: key, window and the aggregate's fields. */
export interface WindowRow {
  readonly key: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly values: Readonly<Record<string, number>>;
  /**
   * How many times the window fired (the `v<n>` of its result's id): once when the watermark passed its end
   * (if it had records by then), and once more for each record that came within the allowed lateness after
   * that. Set by the reference for jobs with allowed lateness; read from every result found.
   */
  readonly firings?: number;
}

export interface Reference {
  /** Fate per record, by `shardId/sequenceNumber`. */
  readonly fates: ReadonlyMap<string, Fate>;
  readonly windows: readonly WindowRow[];
  readonly finalWatermarkMs: number;
  /** Records counted after their window had fired (within the allowed lateness): each fired it again. */
  readonly lateFirings: ReadonlySet<string>;
  /** The interval join's pairs (the join kind), in no particular order. */
  readonly pairs: readonly PairRow[];
  /** Whether the job has a late output (its late records must be there); the joins drop late records. */
  readonly lateOutput: boolean;
  /** The SQL text sqlite3 ran (kept for a failing run). */
  readonly sql: string;
}

/** One result of the join kind's interval join: a click and an impression of one user, and the pair's event time. */
export interface PairRow {
  readonly userId: string;
  readonly clickId: string;
  readonly impressionId: string;
  readonly clickTs: number;
  readonly impressionTs: number;
  readonly clicks: number;
  readonly at: number;
}
const PAIR_FIELDS = ['userId', 'clickId', 'impressionId', 'clickTs', 'impressionTs', 'clicks', 'at'] as const;

export const recordId = (shardId: string, sequenceNumber: string): string => `${shardId}/${sequenceNumber}`;

/** The aggregate fields each job's results carry. */
export const VALUE_FIELDS: Record<JobKind, readonly string[]> = {
  tumbling: ['clicks'],
  sliding: ['count'],
  session: ['events', 'clicks'],
  chained: ['users', 'clicks'],
  lateness: ['clicks'],
  // The join kind's windows are its coGroup's: per user and window, the click records, their clicks, the impressions.
  join: ['clickEvents', 'clicks', 'impressions'],
  // The SQL join writes pairs only.
  'sql-join': [],
};

const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/**
 * The last millisecond of a record's last window, as SQL over `ts`: the window is due (fires) once the
 * watermark reaches it, and dropped once the watermark reaches it plus the allowed lateness. For sessions
 * it is the record's own gap window, which holds for the probes: they lie before every other event of the
 * run, so they merge with nothing that is open.
 */
const LAST_WINDOW_MAX_SQL: Record<JobKind, string> = {
  tumbling: `ts - (ts % ${TUMBLING_SIZE_MS}) + ${TUMBLING_SIZE_MS} - 1`,
  sliding: `ts - (ts % ${SLIDING_SLIDE_MS}) + ${SLIDING_SIZE_MS} - 1`,
  session: `ts + ${SESSION_GAP_MS} - 1`,
  // Late at the first keyed stage (a tumbling window); its results are never late at the second.
  chained: `ts - (ts % ${TUMBLING_SIZE_MS}) + ${TUMBLING_SIZE_MS} - 1`,
  lateness: `ts - (ts % ${TUMBLING_SIZE_MS}) + ${TUMBLING_SIZE_MS} - 1`,
  // The interval join drops a record behind the watermark (ts < watermark, Flink's isLate): as a window whose
  // last millisecond is ts + 1. Its coGroup branch judges by its windows: JOIN_WINDOW_LATE_SQL.
  join: `ts + 1`,
  'sql-join': `ts + 1`,
};
/** Late for the join kind's coGroup: every (tumbling) window of the record has fired. */
const JOIN_WINDOW_LATE_SQL = `ts - (ts % ${TUMBLING_SIZE_MS}) + ${TUMBLING_SIZE_MS} - 1 <= wm_before`;

/**
 * A record is late when its last window had been dropped at the watermark observed before it was put:
 * windowEnd − 1 + allowed lateness ≤ watermark. It fires its window late (a late firing) when the window
 * was due but not dropped.
 */
const lateRule = (kind: JobKind): string => `${LAST_WINDOW_MAX_SQL[kind]} + ${LATENESS_MS[kind]} <= wm_before`;
const dueRule = (kind: JobKind): string => `${LAST_WINDOW_MAX_SQL[kind]} <= wm_before`;

/** {@link LAST_WINDOW_MAX_SQL} in TypeScript, for an event time `ts`. */
export function lastWindowMaxTimestampMs(kind: JobKind, ts: number): number {
  const floor = (size: number): number => ts - (((ts % size) + size) % size);
  switch (kind) {
    case 'tumbling':
    case 'chained':
    case 'lateness':
      return floor(TUMBLING_SIZE_MS) + TUMBLING_SIZE_MS - 1;
    case 'sliding':
      return floor(SLIDING_SLIDE_MS) + SLIDING_SIZE_MS - 1;
    case 'session':
      return ts + SESSION_GAP_MS - 1;
    case 'join':
    case 'sql-join':
      return ts + 1;
  }
}

/**
 * Where the job refuses a record whose `clicks` is not a number: in its window function (after the key and the
 * lateness), in a map before the key (the join kind), or nowhere (count()).
 */
const REFUSES_BAD_CLICKS: Record<JobKind, 'window' | 'before-key' | 'never'> = {
  tumbling: 'window',
  sliding: 'never',
  session: 'window',
  chained: 'window',
  lateness: 'window',
  join: 'before-key',
  // The SQL join's tables declare clicks INT NOT NULL, read on both sides before the shuffle.
  'sql-join': 'before-key',
};

const tumblingStart = `ts - (ts % ${TUMBLING_SIZE_MS})`;
const WINDOWS_SQL: Record<JobKind, string> = {
  tumbling: `
SELECT k AS key, ts - (ts % ${TUMBLING_SIZE_MS}) AS windowStart, ts - (ts % ${TUMBLING_SIZE_MS}) + ${TUMBLING_SIZE_MS} AS windowEnd, SUM(clicks) AS clicks
FROM fate WHERE fate = 'counted'
GROUP BY k, windowStart HAVING windowEnd - 1 <= (SELECT wm FROM final) ORDER BY key, windowStart;`,
  sliding: `
WITH RECURSIVE back(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM back WHERE n + 1 < ${SLIDING_SIZE_MS / SLIDING_SLIDE_MS}),
windowed AS (SELECT k, ts - (ts % ${SLIDING_SLIDE_MS}) - n * ${SLIDING_SLIDE_MS} AS windowStart FROM fate, back WHERE fate = 'counted')
SELECT k AS key, windowStart, windowStart + ${SLIDING_SIZE_MS} AS windowEnd, COUNT(*) AS count
FROM windowed GROUP BY k, windowStart HAVING windowEnd - 1 <= (SELECT wm FROM final) ORDER BY key, windowStart;`,
  // Flink merges session windows [ts, ts + gap) that overlap or touch: in event-time order a new session
  // starts where the distance to the previous event of the key is more than the gap.
  session: `
WITH ordered AS (
  SELECT k, ts, clicks, ts - LAG(ts) OVER (PARTITION BY k ORDER BY ts) AS since_previous FROM fate WHERE fate = 'counted'
), islands AS (
  SELECT k, ts, clicks, SUM(CASE WHEN since_previous IS NULL OR since_previous > ${SESSION_GAP_MS} THEN 1 ELSE 0 END)
    OVER (PARTITION BY k ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session FROM ordered
)
SELECT k AS key, MIN(ts) AS windowStart, MAX(ts) + ${SESSION_GAP_MS} AS windowEnd, COUNT(*) AS events, SUM(clicks) AS clicks
FROM islands GROUP BY k, session HAVING windowEnd - 1 <= (SELECT wm FROM final) ORDER BY key, windowStart;`,
  // Per user and window the clicks (the first keyed stage), then per window the users and their clicks
  // (the second, keyed by the window's start).
  chained: `
WITH per_user AS (
  SELECT k, ts - (ts % ${TUMBLING_SIZE_MS}) AS windowStart, SUM(clicks) AS clicks FROM fate WHERE fate = 'counted' GROUP BY k, windowStart
)
SELECT CAST(windowStart AS TEXT) AS key, windowStart, windowStart + ${TUMBLING_SIZE_MS} AS windowEnd, COUNT(*) AS users, SUM(clicks) AS clicks
FROM per_user GROUP BY windowStart HAVING windowEnd - 1 <= (SELECT wm FROM final) ORDER BY windowStart;`,
  // Each record counted after its window was due fired it once more (Flink's EventTimeTrigger.onElement);
  // the first firing is the watermark's, when the window had records by then.
  // The coGroup: per user and window, both streams' records that were not late for it (the interval join's
  // late records may not be: it drops what is behind the watermark, the coGroup what is behind a window's end).
  join: `
WITH grouped AS (
  SELECT k, ${tumblingStart} AS windowStart, CASE WHEN shard LIKE ${q(`${namesOf('join').sources[0]}:%`)} THEN 1 ELSE 0 END AS is_click, clicks
  FROM fate WHERE fate IN ('counted', 'late') AND NOT (${JOIN_WINDOW_LATE_SQL})
)
SELECT k AS key, windowStart, windowStart + ${TUMBLING_SIZE_MS} AS windowEnd,
  SUM(is_click) AS clickEvents, SUM(CASE WHEN is_click = 1 THEN clicks ELSE 0 END) AS clicks, SUM(1 - is_click) AS impressions
FROM grouped GROUP BY k, windowStart HAVING windowEnd - 1 <= (SELECT wm FROM final) ORDER BY key, windowStart;`,
  lateness: `
SELECT k AS key, ${tumblingStart} AS windowStart, ${tumblingStart} + ${TUMBLING_SIZE_MS} AS windowEnd, SUM(clicks) AS clicks,
  SUM(late_firing) + MAX(1 - late_firing) AS firings
FROM fate WHERE fate = 'counted'
GROUP BY k, windowStart HAVING windowEnd - 1 <= (SELECT wm FROM final) ORDER BY key, windowStart;`,
  'sql-join': 'SELECT 1 WHERE 0;',
};

/**
 * The join kind's interval join: every click with every impression of its user at [t + lower, t + upper], both
 * counted (emitted as the second of the two arrives, so the final watermark limits nothing).
 */
const PAIRS_SQL = (kind: JobKind): string => {
  if (!joinsTwoStreams(kind)) return 'SELECT 1 WHERE 0;';
  const [clicks, impressions] = namesOf(kind).sources.map((s) => q(`${s}:%`));
  return `
SELECT c.k AS userId, c.eid AS clickId, i.eid AS impressionId, c.ts AS clickTs, i.ts AS impressionTs, c.clicks AS clicks, MAX(c.ts, i.ts) AS at
FROM fate c JOIN fate i ON i.k = c.k AND i.ts BETWEEN c.ts + (${JOIN_LOWER_MS}) AND c.ts + ${JOIN_UPPER_MS}
WHERE c.fate = 'counted' AND i.fate = 'counted' AND c.shard LIKE ${clicks} AND i.shard LIKE ${impressions};`;
};

/**
 * Runs the reference for one job kind over the accepted records. With several source streams (the join kind),
 * each record's shard id is prefixed with its stream and a colon, as the runtime names a record's origin.
 */
export async function computeReference(kind: JobKind, records: readonly StreamRecord[], watermarkBefore: (id: string) => number, workDir: string): Promise<Reference> {
  const numeric = `('integer', 'real')`;
  const rows = records.map((r) => `(${q(r.shardId)}, ${q(r.sequenceNumber)}, ${q(r.data)}, ${watermarkBefore(recordId(r.shardId, r.sequenceNumber))})`);
  const sql = `
CREATE TABLE accepted (shard TEXT, seq TEXT, data TEXT, wm_before INTEGER);
${rows.length > 0 ? `INSERT INTO accepted VALUES\n${rows.join(',\n')};` : ''}
CREATE TABLE parsed AS SELECT shard, seq, wm_before,
  json_valid(data) AS valid,
  CASE WHEN json_valid(data) THEN json_type(data) END AS type,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_type(data, '$.ts') END AS ts_type,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_extract(data, '$.ts') END AS ts,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_type(data, '$.flush') END AS flush_type,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_type(data, '$.userId') END AS key_type,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_extract(data, '$.userId') END AS k,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_type(data, '$.clicks') END AS clicks_type,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_extract(data, '$.clicks') END AS clicks,
  CASE WHEN json_valid(data) AND json_type(data) = 'object' THEN json_extract(data, '$.id') END AS eid
FROM accepted;
-- The order of the job's steps: parse, event time, filter (flush), a check of clicks (the join), key, window (late), window function.
CREATE TABLE fate AS SELECT *, CASE
  WHEN NOT valid OR type IS NOT 'object' THEN 'dead'
  WHEN ts_type IS NULL OR ts_type NOT IN ${numeric} THEN 'dead'
  WHEN flush_type IS 'true' THEN 'flush'
  WHEN ${REFUSES_BAD_CLICKS[kind] === 'before-key' ? 1 : 0} AND (clicks_type IS NULL OR clicks_type NOT IN ${numeric}) THEN 'dead'
  WHEN key_type IS NULL OR key_type NOT IN ('text', 'integer', 'real') THEN 'dead'
  WHEN ${lateRule(kind)} THEN 'late'
  WHEN ${REFUSES_BAD_CLICKS[kind] === 'window' ? 1 : 0} AND (clicks_type IS NULL OR clicks_type NOT IN ${numeric}) THEN 'dead'
  ELSE 'counted' END AS fate
FROM parsed;
ALTER TABLE fate ADD COLUMN late_firing INTEGER NOT NULL DEFAULT 0;
UPDATE fate SET late_firing = 1 WHERE fate = 'counted' AND ${dueRule(kind)};
-- Every shard ends with a flush event, so the final watermark is the highest event time minus the bound, minus 1 ms.
CREATE TABLE final AS SELECT MAX(ts) - ${OUT_OF_ORDERNESS_MS} - 1 AS wm FROM fate WHERE ts_type IN ${numeric};
.mode json
.print @@final
SELECT wm FROM final;
.print @@fates
SELECT shard, seq, fate, late_firing FROM fate;
.print @@windows
${WINDOWS_SQL[kind]}
.print @@pairs
${PAIRS_SQL(kind)}
`;
  const file = path.join(workDir, `reference-${kind}.sql`);
  fs.writeFileSync(file, sql);
  const { stdout } = await run('sqlite3', [':memory:', `.read ${file}`], { maxBuffer: 256 * 1024 * 1024 });
  const sections = new Map<string, unknown[]>();
  let current: string | undefined;
  let text = '';
  const close = (): void => {
    if (current) sections.set(current, text.trim() ? (JSON.parse(text) as unknown[]) : []);
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith('@@')) {
      close();
      current = line.slice(2).trim();
      text = '';
    } else text += `${line}\n`;
  }
  close();
  const final = (sections.get('final')?.[0] as { wm: number | null } | undefined)?.wm ?? Number.MIN_SAFE_INTEGER;
  const fates = new Map<string, Fate>();
  const lateFirings = new Set<string>();
  for (const f of (sections.get('fates') ?? []) as { shard: string; seq: string; fate: Fate; late_firing: number }[]) {
    fates.set(recordId(f.shard, f.seq), f.fate);
    if (f.late_firing) lateFirings.add(recordId(f.shard, f.seq));
  }
  const windows = ((sections.get('windows') ?? []) as Record<string, unknown>[]).map(
    (w): WindowRow => ({
      key: String(w.key),
      windowStart: Number(w.windowStart),
      windowEnd: Number(w.windowEnd),
      values: Object.fromEntries(VALUE_FIELDS[kind].map((f) => [f, Number(w[f])])),
      ...(w.firings !== undefined && { firings: Number(w.firings) }),
    }),
  );
  const pairs = ((sections.get('pairs') ?? []) as Record<string, unknown>[]).map(pairRow);
  return { fates, windows, finalWatermarkMs: final, lateFirings, pairs, lateOutput: !joinsTwoStreams(kind), sql };
}

/**
 * A check on the run itself rather than on the job: every record other than the late ones (probes, records past
 * the allowed lateness) and the late firings keeps the out-of-orderness bound in its shard's lineage (parents read before children). Violations would make
 * a late record the producer's doing, not the job's.
 */
export function boundViolations(shards: readonly ShardInfo[], records: readonly StreamRecord[], reference: Pick<Reference, 'fates' | 'lateFirings'>): number {
  const byShard = new Map<string, StreamRecord[]>();
  for (const r of records) byShard.set(r.shardId, [...(byShard.get(r.shardId) ?? []), r]);
  const parents = new Map(shards.map((s) => [s.shardId, s.parents]));
  const maxOf = new Map<string, number>();
  let violations = 0;
  const visit = (shardId: string): number => {
    const known = maxOf.get(shardId);
    if (known !== undefined) return known;
    let max = Math.max(Number.MIN_SAFE_INTEGER, ...(parents.get(shardId) ?? []).map(visit));
    for (const r of byShard.get(shardId) ?? []) {
      const ts = tsOf(r.data);
      if (ts === undefined) continue;
      const id = recordId(r.shardId, r.sequenceNumber);
      if (ts < max - OUT_OF_ORDERNESS_MS && reference.fates.get(id) !== 'late' && !reference.lateFirings.has(id)) violations += 1;
      max = Math.max(max, ts);
    }
    maxOf.set(shardId, max);
    return max;
  };
  for (const s of shards) visit(s.shardId);
  return violations;
}

function tsOf(data: string): number | undefined {
  try {
    const v = JSON.parse(data) as { ts?: unknown };
    return typeof v?.ts === 'number' ? v.ts : undefined;
  } catch {
    return undefined;
  }
}

/** A pair as sqlite3 or the results table has it (numbers may come as strings from either). */
export function pairRow(r: Record<string, unknown>): PairRow {
  return {
    userId: String(r.userId),
    clickId: String(r.clickId),
    impressionId: String(r.impressionId),
    clickTs: Number(r.clickTs),
    impressionTs: Number(r.impressionTs),
    clicks: Number(r.clicks),
    at: Number(r.at),
  };
}

/** What the job's tables hold, read back after the run. */
export interface Found {
  readonly windows: readonly WindowRow[];
  /** The interval join's results (the join kind). */
  readonly pairs: readonly PairRow[];
  /** Dead letters by `shardId/sequenceNumber`, with their reasons. */
  readonly deadLetters: ReadonlyMap<string, string>;
  /** Records on the late output, by `shardId/sequenceNumber`. */
  readonly late: ReadonlySet<string>;
}

export interface Comparison {
  readonly missingWindows: number;
  readonly extraWindows: number;
  readonly wrongWindows: number;
  readonly deadMissing: number;
  readonly deadUnexpected: number;
  readonly lateMissing: number;
  readonly lateUnexpected: number;
  /** Interval-join pairs expected and not found (as often as expected: a duplicate record makes a pair twice), and found beyond those. */
  readonly missingPairs: number;
  readonly extraPairs: number;
  readonly total: number;
  /** A few mismatches spelled out, for the log. */
  readonly examples: readonly string[];
}

export function compare(reference: Reference, found: Found): Comparison {
  const examples: string[] = [];
  const note = (line: string): void => {
    if (examples.length < 12) examples.push(line);
  };
  const id = (w: WindowRow): string => `${w.key} [${w.windowStart}, ${w.windowEnd})`;
  const expected = new Map(reference.windows.map((w) => [id(w), w]));
  const seen = new Map(found.windows.map((w) => [id(w), w]));
  let missingWindows = 0;
  let extraWindows = 0;
  let wrongWindows = 0;
  for (const [k, w] of expected) {
    const f = seen.get(k);
    if (!f) {
      missingWindows += 1;
      note(`missing window ${k} ${JSON.stringify(w.values)}`);
    } else if (JSON.stringify(f.values) !== JSON.stringify(w.values)) {
      wrongWindows += 1;
      note(`window ${k}: found ${JSON.stringify(f.values)}, expected ${JSON.stringify(w.values)}`);
    } else if (w.firings !== undefined && f.firings !== w.firings) {
      wrongWindows += 1;
      note(`window ${k}: found its firing ${f.firings ?? '(none)'}, expected ${w.firings} (late firings missing or extra)`);
    }
  }
  for (const [k, f] of seen) {
    if (!expected.has(k)) {
      extraWindows += 1;
      note(`unexpected window ${k} ${JSON.stringify(f.values)}`);
    }
  }
  const ofFate = (fate: Fate): Set<string> => new Set([...reference.fates].filter(([, f]) => f === fate).map(([r]) => r));
  const diff = (want: Set<string>, got: ReadonlySet<string>, what: string): [number, number] => {
    let missing = 0;
    let unexpected = 0;
    for (const r of want) {
      if (got.has(r)) continue;
      missing += 1;
      note(`${what} expected but not found: ${r}`);
    }
    for (const r of got) {
      if (want.has(r)) continue;
      unexpected += 1;
      note(`${what} found but not expected: ${r} (reference: ${reference.fates.get(r) ?? 'not in the stream'})`);
    }
    return [missing, unexpected];
  };
  const [deadMissing, deadUnexpected] = diff(ofFate('dead'), new Set(found.deadLetters.keys()), 'dead letter');
  for (const [r, reason] of found.deadLetters) if (!reason) note(`dead letter without a reason: ${r}`);
  const noReason = [...found.deadLetters.values()].filter((reason) => !reason).length;
  const [lateMissing, lateUnexpected] = reference.lateOutput ? diff(ofFate('late'), found.late, 'late record') : [0, 0];
  const [missingPairs, extraPairs] = comparePairs(reference.pairs, found.pairs, note);
  const total = missingWindows + extraWindows + wrongWindows + deadMissing + deadUnexpected + lateMissing + lateUnexpected + noReason + missingPairs + extraPairs;
  return { missingWindows, extraWindows, wrongWindows, deadMissing, deadUnexpected, lateMissing, lateUnexpected, missingPairs, extraPairs, total, examples };
}

/** Pairs as multisets: each expected pair found as often as expected, with the same values, and no other. */
function comparePairs(expected: readonly PairRow[], found: readonly PairRow[], note: (line: string) => void): [number, number] {
  const text = (p: PairRow): string => JSON.stringify(PAIR_FIELDS.map((f) => p[f]));
  const count = new Map<string, number>();
  for (const p of expected) count.set(text(p), (count.get(text(p)) ?? 0) + 1);
  for (const p of found) count.set(text(p), (count.get(text(p)) ?? 0) - 1);
  let missing = 0;
  let extra = 0;
  for (const [pair, n] of count) {
    if (n > 0) note(`pair ${pair} expected ${n} more time(s) than found`);
    if (n < 0) note(`pair ${pair} found ${-n} more time(s) than expected`);
    missing += Math.max(0, n);
    extra += Math.max(0, -n);
  }
  return [missing, extra];
}
