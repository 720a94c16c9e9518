/**
 * The select list's aggregates as one Flink AggregateFunction over the group: the accumulator holds the
 * group's key values and one state per aggregate, as JSON data (any state store can keep it). COUNT,
 * SUM, MIN, MAX and AVG ignore NULLs as SQL does; DISTINCT keeps the set of values seen and its size, so it is
 * not additive — the store reads, modifies and writes it under a version condition. A row is added in place
 * (`change`, which returns what undoes it): copying a DISTINCT set per row made a row's cost grow with it. A DECIMAL argument
 * arrives and is kept as its text ('1904.984') and summed exactly; FILTER (WHERE …) has already decided,
 * before the shuffle, which rows an aggregate skips.
 */
import type { AggregateFunction } from '../api/functions';
import { avgType, decimalArithmetic, decimalText, fit, parseDecimal, sumType, type DecimalType } from './decimal';
import type { SqlValue } from './types';
import { compareValues, type Typed } from './values';

export type AggregateName = 'COUNT' | 'SUM' | 'MIN' | 'MAX' | 'AVG';

/** One aggregate call of the query, its argument evaluated before the shuffle (see `GroupedRow`). */
export interface AggregateCall {
  readonly fn: AggregateName;
  /** COUNT(*): counts rows, NULL or not. */
  readonly star: boolean;
  readonly distinct: boolean;
  /** The argument's decimal type when it is a DECIMAL: values are its text, added exactly. */
  readonly decimal?: DecimalType | undefined;
}

/** What crosses the shuffle for a grouped query: the group key values, each aggregate's argument, and the aggregates whose FILTER left the row out. */
export interface GroupedRow {
  readonly g: SqlValue[];
  readonly v: SqlValue[];
  readonly skip?: number[];
  /** A retraction (-U or -D) of an updating input: the row takes back what it added. */
  readonly r?: true;
}

/** A DISTINCT aggregate's values, by their JSON text, and how many there are (kept, so COUNT never counts them). */
interface DistinctValues {
  n: number;
  v: Record<string, SqlValue>;
}
/** Values with how often each is in the group (by their JSON text), and how many differ: what MIN, MAX and DISTINCT take values back from. */
interface Multiset {
  n: number;
  v: Record<string, [SqlValue, number]>;
}
type AggregateState = SqlValue | [SqlValue, number] | DistinctValues | Multiset;

/** A group's window state: JSON data, so any state store can keep it. */
export interface GroupAccumulator {
  /** The group's key values (from its first row: every row of a key has the same ones). */
  g: SqlValue[] | null;
  a: AggregateState[];
  /** The group's rows, for an updating input (retractingGroupAggregate): at 0 the group is gone. */
  n?: number;
}

/** The grouped aggregates as an AggregateFunction whose `add` changes the accumulator in place. */
export interface GroupAggregate extends AggregateFunction<GroupedRow, GroupAccumulator, GroupResult> {
  /** Adds the row to the accumulator in place (nothing changes if it throws); returns what takes it back out exactly. */
  change(acc: GroupAccumulator, row: GroupedRow): () => void;
}

/** The fired window's values: key columns and final aggregate values, in call order. */
export interface GroupResult {
  readonly $g: SqlValue[];
  readonly $a: SqlValue[];
  /** The group's rows, over an updating input: 0 when every row it had was taken back. */
  readonly $rows?: number;
}

/** An aggregate's result type: COUNT is BIGINT; SUM and AVG of a DECIMAL follow Flink (DECIMAL(38, s), DECIMAL(38, max(6, s))); AVG of other numbers is a DOUBLE. */
export function aggregateResultType(call: AggregateCall, arg: Typed): Typed {
  switch (call.fn) {
    case 'COUNT':
      return { type: 'INT', decimal: { precision: 19, scale: 0 } };
    case 'AVG':
      return call.decimal ? { type: 'DECIMAL', decimal: avgType(call.decimal) } : { type: 'DOUBLE' };
    case 'SUM':
      if (call.decimal) return { type: 'DECIMAL', decimal: sumType(call.decimal) };
      return arg.type === 'NULL' ? { type: 'DOUBLE' } : arg;
    default:
      return arg.type === 'NULL' ? { type: 'DOUBLE' } : arg;
  }
}

/** Adds and compares values: numbers as numbers, decimals exactly through their text. */
interface Arithmetic {
  add(a: SqlValue, b: SqlValue): SqlValue;
  subtract(a: SqlValue, b: SqlValue): SqlValue;
  compare(a: SqlValue, b: SqlValue): number;
  /** The mean of a sum over a count (as the result type's value). */
  mean(sum: SqlValue, count: number): SqlValue;
}

const numbers: Arithmetic = {
  add: (a, b) => (a as number) + (b as number),
  subtract: (a, b) => (a as number) - (b as number),
  compare: compareValues,
  mean: (sum, count) => (sum as number) / count,
};

function decimals(t: DecimalType): Arithmetic {
  const sum = sumType(t);
  const mean = avgType(t);
  const value = (v: SqlValue): bigint => parseDecimal(v as string, t.scale)!;
  return {
    add: (a, b) => {
      const total = fit(value(a) + value(b), sum);
      // Past 38 digits the sum is NULL, as Flink's SUM of a DECIMAL overflows.
      return total === null ? null : decimalText(total, t.scale);
    },
    subtract: (a, b) => {
      const total = fit(value(a) - value(b), sum);
      return total === null ? null : decimalText(total, t.scale);
    },
    compare: (a, b) => compareValues(value(a), value(b)),
    mean: (s, count) => {
      const m = decimalArithmetic('/', value(s), sum, BigInt(count), { precision: 20, scale: 0 }, mean);
      return m === null ? null : decimalText(m, mean.scale);
    },
  };
}

const initial = (call: AggregateCall): AggregateState => (call.distinct ? { n: 0, v: {} } : call.fn === 'COUNT' ? 0 : call.fn === 'AVG' ? [null, 0] : null);

const better = (fn: 'MIN' | 'MAX', math: Arithmetic, a: SqlValue, b: SqlValue): SqlValue => {
  if (a === null) return b;
  if (b === null) return a;
  const c = math.compare(a, b);
  return fn === 'MIN' ? (c <= 0 ? a : b) : c >= 0 ? a : b;
};

const plus = (math: Arithmetic, a: SqlValue, b: SqlValue): SqlValue => (a === null ? b : b === null ? a : math.add(a, b));

function step(call: AggregateCall, math: Arithmetic, state: AggregateState, value: SqlValue): AggregateState {
  if (call.fn === 'COUNT' && call.star) return (state as number) + 1;
  if (value === null || call.distinct) return state;
  switch (call.fn) {
    case 'COUNT':
      return (state as number) + 1;
    case 'SUM':
      return plus(math, state as SqlValue, value);
    case 'MIN':
    case 'MAX':
      return better(call.fn, math, state as SqlValue, value);
    case 'AVG': {
      const [sum, count] = state as [SqlValue, number];
      return [plus(math, sum, value), count + 1];
    }
  }
}

function combine(call: AggregateCall, math: Arithmetic, a: AggregateState, b: AggregateState): AggregateState {
  if (call.distinct) {
    const v = { ...(a as DistinctValues).v, ...(b as DistinctValues).v };
    return { n: Object.keys(v).length, v };
  }
  switch (call.fn) {
    case 'COUNT':
      return (a as number) + (b as number);
    case 'SUM':
      return plus(math, a as SqlValue, b as SqlValue);
    case 'MIN':
    case 'MAX':
      return better(call.fn, math, a as SqlValue, b as SqlValue);
    case 'AVG': {
      const [s1, n1] = a as [SqlValue, number];
      const [s2, n2] = b as [SqlValue, number];
      return [plus(math, s1, s2), n1 + n2];
    }
  }
}

function final(call: AggregateCall, math: Arithmetic, state: AggregateState): SqlValue {
  if (call.distinct) {
    if (call.fn === 'COUNT') return (state as DistinctValues).n;
    const values = Object.values((state as DistinctValues).v);
    switch (call.fn) {
      case 'SUM':
        return values.reduce<SqlValue>((s, v) => plus(math, s, v), null);
      case 'AVG':
        return values.length === 0 ? null : math.mean(values.reduce<SqlValue>((s, v) => plus(math, s, v), null), values.length);
      case 'MIN':
      case 'MAX':
        return values.reduce<SqlValue>((best, v) => better(call.fn as 'MIN' | 'MAX', math, best, v), null);
    }
  }
  if (call.fn === 'AVG') {
    const [sum, count] = state as [SqlValue, number];
    return count === 0 || sum === null ? null : math.mean(sum, count);
  }
  return state as SqlValue;
}

/** The AggregateFunction the window operator runs for a grouped query. */
export function groupAggregate(calls: readonly AggregateCall[]): GroupAggregate {
  const maths = calls.map((call) => (call.decimal ? decimals(call.decimal) : numbers));
  const change = (acc: GroupAccumulator, row: GroupedRow): (() => void) => {
    const { g, a } = acc;
    // Every new value first (an addition may throw), then the DISTINCT sets, which cannot.
    const next = calls.map((call, i) => (row.skip?.includes(i) ? a[i]! : step(call, maths[i]!, a[i]!, row.v[i] ?? null)));
    const undos = calls.flatMap((call, i) => (call.distinct && !row.skip?.includes(i) && (row.v[i] ?? null) !== null ? [addDistinct(a[i] as DistinctValues, row.v[i]!)] : []));
    acc.g = g ?? row.g;
    acc.a = next;
    return () => {
      for (const undo of undos.reverse()) undo();
      acc.g = g;
      acc.a = a;
    };
  };
  return {
    create: () => ({ g: null, a: calls.map(initial) }),
    change,
    add: (acc, row) => {
      change(acc, row);
      return acc;
    },
    merge: (x, y) => ({ g: x.g ?? y.g, a: calls.map((call, i) => combine(call, maths[i]!, x.a[i]!, y.a[i]!)) }),
    result: (acc) => ({ $g: acc.g ?? [], $a: calls.map((call, i) => final(call, maths[i]!, acc.a[i]!)) }),
  };
}

/**
 * The same aggregates over an updating input — the results of a GROUP BY without a window, read by another
 * aggregation (Nexmark q4): each row adds to its group, and a retraction (`r`: a -U or -D of the input)
 * takes back what its row added, as Flink's retractable accumulators do. So every aggregate keeps what it
 * needs to take a value back: COUNT a count, SUM and AVG a sum and a count, MIN, MAX and DISTINCT the
 * multiset of their values. The group's row count comes out as `$rows`: at 0 the group is gone.
 */
export function retractingGroupAggregate(calls: readonly AggregateCall[]): GroupAggregate {
  const maths = calls.map((call) => (call.decimal ? decimals(call.decimal) : numbers));
  const kept = (call: AggregateCall): 'count' | 'sum' | 'values' => (call.distinct || call.fn === 'MIN' || call.fn === 'MAX' ? 'values' : call.fn === 'COUNT' ? 'count' : 'sum');
  const initialState = (call: AggregateCall): AggregateState => ({ count: 0, sum: [null, 0] as [SqlValue, number], values: { n: 0, v: {} } })[kept(call)];
  /** The new count or sum; a multiset is changed in place afterwards (`changeMultiset`). */
  const next = (call: AggregateCall, math: Arithmetic, state: AggregateState, value: SqlValue, sign: 1 | -1): AggregateState => {
    if (value === null && !(call.fn === 'COUNT' && call.star)) return state;
    switch (kept(call)) {
      case 'count':
        return (state as number) + sign;
      case 'sum': {
        const [sum, count] = state as [SqlValue, number];
        if (count + sign === 0) return [null, 0];
        return [sign === 1 ? plus(math, sum, value) : math.subtract(sum, value), count + sign];
      }
      case 'values':
        return state;
    }
  };
  const result = (call: AggregateCall, math: Arithmetic, state: AggregateState): SqlValue => {
    switch (kept(call)) {
      case 'count':
        return state as number;
      case 'sum': {
        const [sum, count] = state as [SqlValue, number];
        return count === 0 || sum === null ? null : call.fn === 'AVG' ? math.mean(sum, count) : sum;
      }
      case 'values': {
        const values = state as Multiset;
        if (call.distinct && call.fn === 'COUNT') return values.n;
        const entries = Object.values(values.v);
        if (!call.distinct) return entries.reduce<SqlValue>((best, [v]) => better(call.fn as 'MIN' | 'MAX', math, best, v), null);
        // DISTINCT: each value once, however often it is in the group.
        return final(call, math, { n: values.n, v: Object.fromEntries(entries.map(([v]) => [JSON.stringify(v), v])) });
      }
    }
  };
  const change = (acc: GroupAccumulator, row: GroupedRow): (() => void) => {
    const sign = row.r ? -1 : 1;
    const { g, a, n } = acc;
    const counted = calls.map((call, i) => (row.skip?.includes(i) ? a[i]! : next(call, maths[i]!, a[i]!, row.v[i] ?? null, sign)));
    const undos = calls.flatMap((call, i) => (kept(call) === 'values' && !row.skip?.includes(i) && (row.v[i] ?? null) !== null ? [changeMultiset(a[i] as Multiset, row.v[i]!, sign)] : []));
    acc.g = g ?? row.g;
    acc.a = counted;
    acc.n = (n ?? 0) + sign;
    return () => {
      for (const undo of undos.reverse()) undo();
      Object.assign(acc, { g, a, n });
    };
  };
  return {
    create: () => ({ g: null, a: calls.map(initialState), n: 0 }),
    change,
    add: (acc, row) => {
      change(acc, row);
      return acc;
    },
    merge: () => {
      throw new Error('unreachable: an aggregation over an updating input is continuous, never a merging window');
    },
    result: (acc) => ({ $g: acc.g ?? [], $a: calls.map((call, i) => result(call, maths[i]!, acc.a[i]!)), $rows: acc.n ?? 0 }),
  };
}

/** Adds a value to a DISTINCT set in place; returns what takes it out again (nothing, if it was there). */
function addDistinct(set: DistinctValues, value: SqlValue): () => void {
  const text = JSON.stringify(value);
  if (Object.hasOwn(set.v, text)) return () => undefined;
  set.v[text] = value;
  set.n += 1;
  return () => {
    delete set.v[text];
    set.n -= 1;
  };
}

/** Adds (sign 1) or takes back (-1) one of a value in a multiset, in place; returns what puts it back as it was. */
function changeMultiset(set: Multiset, value: SqlValue, sign: 1 | -1): () => void {
  const text = JSON.stringify(value);
  const old = set.v[text];
  const count = (old?.[1] ?? 0) + sign;
  const put = (entry: [SqlValue, number] | undefined): void => {
    const had = Object.hasOwn(set.v, text);
    if (entry) set.v[text] = entry;
    else delete set.v[text];
    set.n += (entry ? 1 : 0) - (had ? 1 : 0);
  };
  put(count > 0 ? [value, count] : undefined);
  return () => put(old);
}
