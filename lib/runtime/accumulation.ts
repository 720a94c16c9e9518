import type { WindowFunctionSpec } from '../api/functions';
import { asRecord, RecordError } from './records';

/**
 * A window function as an accumulator algebra (Flink's AggregateFunction): create, add, merge, result.
 * Accumulators are JSON data so any state store can keep them.
 */
export interface Accumulation {
  create(): unknown;
  add(accumulator: unknown, value: unknown): unknown;
  merge(a: unknown, b: unknown): unknown;
  /** The result's fields besides key and window, or several results (a process function may emit many). */
  result(accumulator: unknown, context: { key: string; start: number; end: number }): Record<string, unknown>[];
  /** Why a value cannot be added (the record goes to the dead-letter output), or undefined. */
  reject(value: unknown): string | undefined;
  /** True when the accumulator is a flat record of numbers merged by addition, so a store can use ADD. */
  readonly additive: boolean;
  /** For additive accumulators: `add`, mutating an accumulator the caller owns (the hot path allocates nothing). */
  readonly addInPlace?: (accumulator: Record<string, number>, value: unknown) => void;
}

type Numbers = Record<string, number>;

const fieldOf = (value: unknown, field: string): unknown => (value as Record<string, unknown> | null)?.[field];

function numericReject(fnName: string, field: string): (value: unknown) => string | undefined {
  return (value) => {
    const v = fieldOf(value, field);
    if (typeof v === 'number' && Number.isFinite(v)) return undefined;
    return `${fnName}('${field}'): field '${field}' is ${v === undefined ? 'missing' : `not a number (${JSON.stringify(v)})`}`;
  };
}

/** The accumulation for a window function spec. `operator` names the operator in errors. */
export function accumulationFor(fn: WindowFunctionSpec, operator: string): Accumulation {
  switch (fn.kind) {
    case 'count':
      return {
        additive: true,
        create: () => ({ count: 0 }),
        add: (a) => ({ count: (a as Numbers).count! + 1 }),
        addInPlace: (a) => {
          a.count! += 1;
        },
        merge: (a, b) => ({ count: (a as Numbers).count! + (b as Numbers).count! }),
        result: (a) => [{ count: (a as Numbers).count }],
        reject: () => undefined,
      };
    case 'sum': {
      const f = fn.field;
      return {
        additive: true,
        create: () => ({ sum: 0 }),
        add: (a, v) => ({ sum: (a as Numbers).sum! + (fieldOf(v, f) as number) }),
        addInPlace: (a, v) => {
          a.sum! += fieldOf(v, f) as number;
        },
        merge: (a, b) => ({ sum: (a as Numbers).sum! + (b as Numbers).sum! }),
        result: (a) => [{ [f]: (a as Numbers).sum }],
        reject: numericReject('sum', f),
      };
    }
    case 'avg': {
      const f = fn.field;
      return {
        additive: true,
        create: () => ({ sum: 0, count: 0 }),
        add: (a, v) => ({ sum: (a as Numbers).sum! + (fieldOf(v, f) as number), count: (a as Numbers).count! + 1 }),
        addInPlace: (a, v) => {
          a.sum! += fieldOf(v, f) as number;
          a.count! += 1;
        },
        merge: (a, b) => ({ sum: (a as Numbers).sum! + (b as Numbers).sum!, count: (a as Numbers).count! + (b as Numbers).count! }),
        result: (a) => [{ [f]: (a as Numbers).sum! / (a as Numbers).count! }],
        reject: numericReject('avg', f),
      };
    }
    case 'min':
    case 'max': {
      const f = fn.field;
      const pick = fn.kind === 'min' ? Math.min : Math.max;
      const best = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : pick(a, b));
      return {
        additive: false,
        create: () => ({ v: null }),
        add: (a, v) => ({ v: best((a as { v: number | null }).v, fieldOf(v, f) as number) }),
        merge: (a, b) => ({ v: best((a as { v: number | null }).v, (b as { v: number | null }).v) }),
        result: (a) => [{ [f]: (a as { v: number | null }).v }],
        reject: numericReject(fn.kind, f),
      };
    }
    case 'reduce': {
      const reduce = fn.fn;
      type R = { v?: unknown };
      const combine = (a: R, b: R): R => ('v' in a ? ('v' in b ? { v: guard(operator, () => reduce(a.v, b.v)) } : a) : b);
      return {
        additive: false,
        create: () => ({}),
        add: (a, v) => combine(a as R, { v }),
        merge: (a, b) => combine(a as R, b as R),
        result: (a) => ('v' in (a as R) ? [asRecord((a as R).v)] : []),
        reject: () => undefined,
      };
    }
    case 'aggregate': {
      const agg = fn.fn;
      return {
        additive: false,
        create: () => guard(operator, () => agg.create()),
        add: (a, v) => guard(operator, () => agg.add(a, v)),
        merge: (a, b) => guard(operator, () => agg.merge(a, b)),
        result: (a) => [asRecord(guard(operator, () => agg.result(a)))],
        reject: () => undefined,
      };
    }
    case 'process': {
      const process = fn.fn;
      return {
        additive: false,
        create: () => [],
        add: (a, v) => [...(a as unknown[]), v],
        merge: (a, b) => [...(a as unknown[]), ...(b as unknown[])],
        result: (a, { key, start, end }) => {
          const out = guard(operator, () => process({ key, window: { start, end }, elements: a as unknown[] }));
          return (Array.isArray(out) ? out : [out]).map(asRecord);
        },
        reject: () => undefined,
      };
    }
  }
}

/** Runs a user function; what it throws becomes a RecordError naming the operator. */
export function guard<R>(operator: string, run: () => R): R {
  try {
    return run();
  } catch (e) {
    if (e instanceof RecordError) throw e;
    throw new RecordError(operator, `${operator} threw: ${e instanceof Error ? e.message : String(e)}`);
  }
}
