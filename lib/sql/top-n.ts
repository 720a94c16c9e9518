/**
 * Flink's Top-N and deduplication as keyed process functions, one state per partition: the partition's
 * rows sorted by the ORDER BY of `ROW_NUMBER() OVER (…)`, ties by arrival (Flink's TopNBuffer keeps equal
 * rows in arrival order); RANK() and DENSE_RANK() number tied rows alike, and keep every row ranked within
 * the limit. Three shapes:
 *
 * - **continuous, on an append-only input** (Flink's AppendOnlyTopNFunction): only the first N rows are
 *   kept, as a row past N can never come back; every change of the first N is emitted (updating).
 * - **continuous, on an updating input** (a GROUP BY without a window; Flink's RetractableTopNFunction):
 *   rows are replaced and deleted by the input's unique key, so every row is kept; an outer join's rows,
 *   which have no key, come and go as a multiset (a -D takes one equal row out).
 * - **per window** (Flink's WindowRankOperator, on a windowed aggregation's results partitioned by
 *   window_start and window_end): the window's first N rows are kept and emitted once, as inserts, when
 *   the watermark passes the window's end (append-only).
 *
 * Deduplication is the Top-1 ordered by the event-time column: ASC keeps the first row, DESC the last, and
 * a later row with the same time replaces the kept one in DESC, as Flink's RowTimeDeduplicateFunction.
 */
import type { KeyedProcessFunction } from '../api/functions';
import { mapState, valueState, type StateDescriptor } from '../api/state';
import type { RowKind } from './changelog';
import type { SqlValue } from './types';
import { compareValues } from './values';

/** A row of the ranked query on its way to the Top-N stage (JSON data: it crosses the shuffle). */
export interface RankInput {
  /** The partition's key (the stage's key), and its values (a row's unique key is made of them). */
  readonly k: string;
  readonly p: SqlValue[];
  /** The ORDER BY values: numbers (DECIMAL too), strings, booleans or NULL. */
  readonly o: SqlValue[];
  /** The ranked query's columns, as written to the sink. */
  readonly r: Record<string, unknown>;
  /** From an updating input: the row's unique key, and whether this deletes it. */
  readonly u?: string;
  readonly d?: true;
  /** From an input of rows that come and go without a key (an outer join's +I and -D): the row itself; a delete takes one such row out. */
  readonly m?: string;
  /** Per window: the window's start and end. */
  readonly w?: [number, number];
}

/** A kept row: its order values, columns, arrival number and (updating input) unique key. */
interface Entry {
  readonly o: SqlValue[];
  readonly r: Record<string, unknown>;
  readonly s: number;
  readonly u?: string;
  /** A row of a multiset input (RankInput.m). */
  readonly m?: string;
}

/** A partition's state: its values, its rows in rank order, the next arrival number, and (per window) the window. */
interface Ranked {
  readonly p: SqlValue[];
  readonly rows: Entry[];
  readonly next: number;
  readonly w?: [number, number];
}

/** A change of the Top-N's output: the partition's values, the row, its rank, its change kind. */
export interface RankChange {
  readonly op: RowKind;
  readonly p: SqlValue[];
  readonly row: Record<string, unknown>;
  readonly rank: number;
  /** Per window: the window's start and end. */
  readonly window?: [number, number];
}

/** How rows are numbered: one by one (ties by arrival), or ties sharing a rank — with gaps after them (RANK), or none (DENSE_RANK). */
export type RankFunction = 'ROW_NUMBER' | 'RANK' | 'DENSE_RANK';

export interface RankOrder {
  readonly rankFunction: RankFunction;
  readonly descending: readonly boolean[];
  readonly nullsFirst: readonly boolean[];
  /** Deduplication keeping the last row: a row ties with the kept one ahead of it. */
  readonly newestFirstOnTies: boolean;
}

export interface TopNOptions extends RankOrder {
  readonly limit: number;
  /**
   * What names a row of the output: its rank (the rank is selected, or N is 1: the sink keeps one row per
   * rank) — a rank whose row changed is `-U`/`+U`; or the row itself — a row that left is `-D`, one that came `+I`.
   */
  readonly identity: 'rank' | 'row';
  /** The rank is written: a row whose rank changes (RANK, DENSE_RANK: a row ranked ahead of it) is an update. */
  readonly rankSelected: boolean;
  /** Leave `-U` out: the sink upserts. */
  readonly upsert: boolean;
  /** State TTL in ms (event time), from `table.exec.state.ttl`. */
  readonly ttlMs?: number | undefined;
}

const stateOf = (ttlMs: number | undefined): { ranked: StateDescriptor<Ranked | null> & { kind: 'value' } } => ({
  ranked: valueState<Ranked | null>(null, ttlMs ? { ttl: ttlMs } : {}),
});

/** Orders entries by the ORDER BY values, NULL lowest unless NULLS FIRST / LAST says; ties by arrival. */
function comparator(order: RankOrder): (a: Entry, b: Entry) => number {
  const byValues = valueComparator(order);
  return (a, b) => byValues(a, b) || (order.newestFirstOnTies ? b.s - a.s : a.s - b.s);
}

/** Orders entries by the ORDER BY values alone: 0 for a tie. */
function valueComparator(order: RankOrder): (a: Entry, b: Entry) => number {
  return (a, b) => {
    for (let i = 0; i < order.descending.length; i++) {
      const x = a.o[i] ?? null;
      const y = b.o[i] ?? null;
      if (x === null || y === null) {
        if (x !== y) return (x === null) === order.nullsFirst[i] ? -1 : 1;
        continue;
      }
      const c = compareValues(x, y);
      if (c !== 0) return order.descending[i] ? -c : c;
    }
    return 0;
  };
}

/**
 * The rows (in rank order) that rank within the limit, with their ranks: the first N by ROW_NUMBER; every
 * row ranked N or better by RANK (1, 1, 3) or DENSE_RANK (1, 1, 2), ties and all — so perhaps more than N.
 */
function ranked(rows: readonly Entry[], order: RankOrder & { readonly limit: number }): { e: Entry; rank: number }[] {
  if (order.rankFunction === 'ROW_NUMBER') return rows.slice(0, order.limit).map((e, i) => ({ e, rank: i + 1 }));
  const tie = valueComparator(order);
  const out: { e: Entry; rank: number }[] = [];
  let rank = 0;
  for (const [i, e] of rows.entries()) {
    if (i === 0 || tie(rows[i - 1]!, e) !== 0) rank = order.rankFunction === 'RANK' ? i + 1 : rank + 1;
    if (rank > order.limit) break;
    out.push({ e, rank });
  }
  return out;
}

/** The rows with one more, in rank order (a binary search: the rows are sorted). */
function inserted(rows: readonly Entry[], entry: Entry, compare: (a: Entry, b: Entry) => number): Entry[] {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compare(rows[mid]!, entry) <= 0) low = mid + 1;
    else high = mid;
  }
  return [...rows.slice(0, low), entry, ...rows.slice(low)];
}

/** The rows without the first one equal to `m` (a multiset's delete). */
function withoutOne(rows: readonly Entry[], m: string): Entry[] {
  const at = rows.findIndex((e) => e.m === m);
  return at === -1 ? [...rows] : [...rows.slice(0, at), ...rows.slice(at + 1)];
}

/** What changed in the rows within the limit, by the output's identity. */
function changes(before: readonly { e: Entry; rank: number }[], after: readonly { e: Entry; rank: number }[], options: TopNOptions): Omit<RankChange, 'p'>[] {
  const out: Omit<RankChange, 'p'>[] = [];
  if (options.identity === 'rank') {
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const b = before[i]?.e;
      const a = after[i]?.e;
      if (b && a && b.s === a.s) continue;
      if (!b) out.push({ op: '+I', row: a!.r, rank: i + 1 });
      else if (!a) out.push({ op: '-D', row: b.r, rank: i + 1 });
      else {
        if (!options.upsert) out.push({ op: '-U', row: b.r, rank: i + 1 });
        out.push({ op: '+U', row: a.r, rank: i + 1 });
      }
    }
    return out;
  }
  const id = (e: Entry): string | number => e.u ?? e.s;
  const byId = (rows: readonly { e: Entry; rank: number }[]): Map<string | number, { e: Entry; rank: number }> => new Map(rows.map((r) => [id(r.e), r]));
  const kept = byId(after);
  const had = byId(before);
  for (const [key, { e, rank }] of had) {
    const now = kept.get(key);
    if (!now) out.push({ op: '-D', row: e.r, rank });
    else if (now.e.s !== e.s || (options.rankSelected && now.rank !== rank)) {
      if (!options.upsert) out.push({ op: '-U', row: e.r, rank });
      out.push({ op: '+U', row: now.e.r, rank: now.rank });
    }
  }
  for (const [key, { e, rank }] of kept) if (!had.has(key)) out.push({ op: '+I', row: e.r, rank });
  return out;
}

/** The continuous Top-N (and deduplication) of a partition: every change of its first N rows, as it happens. */
export function continuousTopN(options: TopNOptions): KeyedProcessFunction<RankInput, ReturnType<typeof stateOf>, RankChange> {
  const compare = comparator(options);
  return {
    state: stateOf(options.ttlMs),
    onEvent(input, ctx) {
      const state = ctx.state.ranked.value() ?? { p: input.p, rows: [], next: 0 };
      const before = ranked(state.rows, options);
      // From an updating input a row replaces (or deletes) the one with its unique key; every row is kept, as
      // one in the first N may be updated out of them. From an append-only one, a row past N never comes back.
      let rows = input.u !== undefined ? state.rows.filter((e) => e.u !== input.u) : input.m !== undefined && input.d ? withoutOne(state.rows, input.m) : state.rows;
      if (!input.d) rows = inserted(rows, { o: input.o, r: input.r, s: state.next, ...(input.u !== undefined && { u: input.u }), ...(input.m !== undefined && { m: input.m }) }, compare);
      const after = ranked(rows, options);
      if (input.u === undefined && input.m === undefined) rows = after.map((r) => r.e);
      ctx.state.ranked.update({ p: input.p, rows, next: state.next + 1 });
      for (const change of changes(before, after, options)) ctx.emit({ ...change, p: input.p });
    },
  };
}

/**
 * The Top-N of each window of a partition: its first N rows, emitted as inserts once the watermark passes
 * the window's end. The stage is keyed by the partition (not the window), so that a key's state is its
 * open windows, and the keys stay as many as the partitions.
 */
export function windowTopN(options: RankOrder & { readonly limit: number }): KeyedProcessFunction<RankInput, { windows: StateDescriptor<Ranked> & { kind: 'map' } }, RankChange> {
  const compare = comparator(options);
  return {
    state: { windows: mapState<Ranked>() },
    onEvent(input, ctx) {
      const w = input.w!;
      // By the window's end: the timer that fires it knows only that.
      const state = ctx.state.windows.get(String(w[1])) ?? { p: input.p, rows: [], next: 0, w };
      const rows = ranked(inserted(state.rows, { o: input.o, r: input.r, s: state.next }, compare), options).map((r) => r.e);
      ctx.state.windows.put(String(w[1]), { p: input.p, rows, next: state.next + 1, w });
      // The window's results carry its last millisecond as their time: fire once the watermark is past it.
      ctx.timers.registerEventTime(w[1] - 1);
    },
    onTimer(timestampMs, ctx) {
      const end = String(timestampMs + 1);
      const state = ctx.state.windows.get(end);
      ctx.state.windows.remove(end);
      if (state) for (const { e, rank } of ranked(state.rows, options)) ctx.emit({ op: '+I', p: state.p, row: e.r, rank, window: state.w! });
    },
  };
}
