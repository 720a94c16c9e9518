/**
 * The select list's aggregates as one Flink AggregateFunction over the group: the accumulator holds the
 * group's key values and one state per aggregate, as JSON data (any state store can keep it). COUNT,
 * SUM, MIN, MAX and AVG ignore NULLs as SQL does; DISTINCT keeps the set of values seen, so it is not
 * additive — the store reads, modifies and writes it under a version condition.
 */
import type { AggregateFunction } from '../api/functions';
import { compareValues } from './expressions';
import type { SqlValue } from './types';

export type AggregateName = 'COUNT' | 'SUM' | 'MIN' | 'MAX' | 'AVG';

/** One aggregate call of the query, its argument evaluated before the shuffle (see `GroupedRow`). */
export interface AggregateCall {
  readonly fn: AggregateName;
  /** COUNT(*): counts rows, NULL or not. */
  readonly star: boolean;
  readonly distinct: boolean;
}

/** What crosses the shuffle for a grouped query: the group key values and each aggregate's argument. */
export interface GroupedRow {
  readonly g: SqlValue[];
  readonly v: SqlValue[];
}

type DistinctValues = Record<string, SqlValue>;
type AggregateState = SqlValue | [number, number] | DistinctValues;

/** A group's window state: JSON data, so any state store can keep it. */
export interface GroupAccumulator {
  /** The group's key values (from its first row: every row of a key has the same ones). */
  readonly g: SqlValue[] | null;
  readonly a: AggregateState[];
}

/** The fired window's values: key columns and final aggregate values, in call order. */
export interface GroupResult {
  readonly $g: SqlValue[];
  readonly $a: SqlValue[];
}

const initial = (call: AggregateCall): AggregateState => (call.distinct ? {} : call.fn === 'COUNT' ? 0 : call.fn === 'AVG' ? [0, 0] : null);

const better = (fn: 'MIN' | 'MAX', a: SqlValue, b: SqlValue): SqlValue => {
  if (a === null) return b;
  if (b === null) return a;
  const c = compareValues(a, b);
  return fn === 'MIN' ? (c <= 0 ? a : b) : c >= 0 ? a : b;
};

function step(call: AggregateCall, state: AggregateState, value: SqlValue): AggregateState {
  if (call.fn === 'COUNT' && call.star) return (state as number) + 1;
  if (value === null) return state;
  if (call.distinct) return { ...(state as DistinctValues), [JSON.stringify(value)]: value };
  switch (call.fn) {
    case 'COUNT':
      return (state as number) + 1;
    case 'SUM':
      return state === null ? value : (state as number) + (value as number);
    case 'MIN':
    case 'MAX':
      return better(call.fn, state as SqlValue, value);
    case 'AVG': {
      const [sum, count] = state as [number, number];
      return [sum + (value as number), count + 1];
    }
  }
}

function combine(call: AggregateCall, a: AggregateState, b: AggregateState): AggregateState {
  if (call.distinct) return { ...(a as DistinctValues), ...(b as DistinctValues) };
  switch (call.fn) {
    case 'COUNT':
      return (a as number) + (b as number);
    case 'SUM':
      return a === null ? b : b === null ? a : (a as number) + (b as number);
    case 'MIN':
    case 'MAX':
      return better(call.fn, a as SqlValue, b as SqlValue);
    case 'AVG': {
      const [s1, n1] = a as [number, number];
      const [s2, n2] = b as [number, number];
      return [s1 + s2, n1 + n2];
    }
  }
}

function final(call: AggregateCall, state: AggregateState): SqlValue {
  if (call.distinct) {
    const values = Object.values(state as DistinctValues);
    switch (call.fn) {
      case 'COUNT':
        return values.length;
      case 'SUM':
        return values.length === 0 ? null : values.reduce<number>((s, v) => s + (v as number), 0);
      case 'AVG':
        return values.length === 0 ? null : values.reduce<number>((s, v) => s + (v as number), 0) / values.length;
      case 'MIN':
      case 'MAX':
        return values.reduce<SqlValue>((best, v) => better(call.fn as 'MIN' | 'MAX', best, v), null);
    }
  }
  if (call.fn === 'AVG') {
    const [sum, count] = state as [number, number];
    return count === 0 ? null : sum / count;
  }
  return state as SqlValue;
}

/** The AggregateFunction the window operator runs for a grouped query. */
export function groupAggregate(calls: readonly AggregateCall[]): AggregateFunction<GroupedRow, GroupAccumulator, GroupResult> {
  return {
    create: () => ({ g: null, a: calls.map(initial) }),
    add: (acc, row) => ({ g: acc.g ?? row.g, a: calls.map((call, i) => step(call, acc.a[i]!, row.v[i] ?? null)) }),
    merge: (x, y) => ({ g: x.g ?? y.g, a: calls.map((call, i) => combine(call, x.a[i]!, y.a[i]!)) }),
    result: (acc) => ({ $g: acc.g ?? [], $a: calls.map((call, i) => final(call, acc.a[i]!)) }),
  };
}
