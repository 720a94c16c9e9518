/**
 * The select list's aggregates as one Flink AggregateFunction over the group: the accumulator holds the
 * group's key values and one state per aggregate, as JSON data (any state store can keep it). COUNT,
 * SUM, MIN, MAX and AVG ignore NULLs as SQL does; DISTINCT keeps the set of values seen, so it is not
 * additive — the store reads, modifies and writes it under a version condition. A DECIMAL argument
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

type DistinctValues = Record<string, SqlValue>;
/** Values with how often each is in the group (by their JSON text): what MIN, MAX and DISTINCT take values back from. */
type Multiset = Record<string, [SqlValue, number]>;
type AggregateState = SqlValue | [SqlValue, number] | DistinctValues | Multiset;

/** A group's window state: JSON data, so any state store can keep it. */
export interface GroupAccumulator {
  /** The group's key values (from its first row: every row of a key has the same ones). */
  readonly g: SqlValue[] | null;
  readonly a: AggregateState[];
  /** The group's rows, for an updating input (retractingGroupAggregate): at 0 the group is gone. */
  readonly n?: number;
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

const initial = (call: AggregateCall): AggregateState => (call.distinct ? {} : call.fn === 'COUNT' ? 0 : call.fn === 'AVG' ? [null, 0] : null);

const better = (fn: 'MIN' | 'MAX', math: Arithmetic, a: SqlValue, b: SqlValue): SqlValue => {
  if (a === null) return b;
  if (b === null) return a;
  const c = math.compare(a, b);
  return fn === 'MIN' ? (c <= 0 ? a : b) : c >= 0 ? a : b;
};

const plus = (math: Arithmetic, a: SqlValue, b: SqlValue): SqlValue => (a === null ? b : b === null ? a : math.add(a, b));

function step(call: AggregateCall, math: Arithmetic, state: AggregateState, value: SqlValue): AggregateState {
  if (call.fn === 'COUNT' && call.star) return (state as number) + 1;
  if (value === null) return state;
  if (call.distinct) return { ...(state as DistinctValues), [JSON.stringify(value)]: value };
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
  if (call.distinct) return { ...(a as DistinctValues), ...(b as DistinctValues) };
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
    const values = Object.values(state as DistinctValues);
    switch (call.fn) {
      case 'COUNT':
        return values.length;
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
export function groupAggregate(calls: readonly AggregateCall[]): AggregateFunction<GroupedRow, GroupAccumulator, GroupResult> {
  const maths = calls.map((call) => (call.decimal ? decimals(call.decimal) : numbers));
  return {
    create: () => ({ g: null, a: calls.map(initial) }),
    add: (acc, row) => ({
      g: acc.g ?? row.g,
      a: calls.map((call, i) => (row.skip?.includes(i) ? acc.a[i]! : step(call, maths[i]!, acc.a[i]!, row.v[i] ?? null))),
    }),
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
export function retractingGroupAggregate(calls: readonly AggregateCall[]): AggregateFunction<GroupedRow, GroupAccumulator, GroupResult> {
  const maths = calls.map((call) => (call.decimal ? decimals(call.decimal) : numbers));
  const kept = (call: AggregateCall): 'count' | 'sum' | 'values' => (call.distinct || call.fn === 'MIN' || call.fn === 'MAX' ? 'values' : call.fn === 'COUNT' ? 'count' : 'sum');
  const initialState = (call: AggregateCall): AggregateState => ({ count: 0, sum: [null, 0] as [SqlValue, number], values: {} })[kept(call)];
  const change = (call: AggregateCall, math: Arithmetic, state: AggregateState, value: SqlValue, sign: 1 | -1): AggregateState => {
    if (value === null && !(call.fn === 'COUNT' && call.star)) return state;
    switch (kept(call)) {
      case 'count':
        return (state as number) + sign;
      case 'sum': {
        const [sum, count] = state as [SqlValue, number];
        if (count + sign === 0) return [null, 0];
        return [sign === 1 ? plus(math, sum, value) : math.subtract(sum, value), count + sign];
      }
      case 'values': {
        const values = { ...(state as Multiset) };
        const text = JSON.stringify(value);
        const count = (values[text]?.[1] ?? 0) + sign;
        if (count <= 0) delete values[text];
        else values[text] = [value, count];
        return values;
      }
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
        const entries = Object.values(state as Multiset);
        if (!call.distinct) return entries.reduce<SqlValue>((best, [v]) => better(call.fn as 'MIN' | 'MAX', math, best, v), null);
        // DISTINCT: each value once, however often it is in the group.
        const distinct: DistinctValues = Object.fromEntries(entries.map(([v]) => [JSON.stringify(v), v]));
        return final(call, math, distinct);
      }
    }
  };
  return {
    create: () => ({ g: null, a: calls.map(initialState), n: 0 }),
    add: (acc, row) => {
      const sign = row.r ? -1 : 1;
      return {
        g: acc.g ?? row.g,
        a: calls.map((call, i) => (row.skip?.includes(i) ? acc.a[i]! : change(call, maths[i]!, acc.a[i]!, row.v[i] ?? null, sign))),
        n: (acc.n ?? 0) + sign,
      };
    },
    merge: () => {
      throw new Error('unreachable: an aggregation over an updating input is continuous, never a merging window');
    },
    result: (acc) => ({ $g: acc.g ?? [], $a: calls.map((call, i) => result(call, maths[i]!, acc.a[i]!)), $rows: acc.n ?? 0 }),
  };
}
