/**
 * Expressions, type-checked once and compiled to closures. A scope says what names mean where the
 * expression stands: in WHERE a column is a field of the row; in SELECT and HAVING of a grouped query it
 * is a group key, and aggregates and window properties are values of the fired window. NULL follows
 * SQL's three-valued logic: a comparison with NULL is NULL, and WHERE keeps only rows that are TRUE.
 * Numbers: INT op INT is INT, with a DECIMAL exact DECIMAL (decimal.ts), with a DOUBLE a DOUBLE.
 */
import type { BinaryOp, Expr, OrderKey, OverWindow } from './ast';
import { decimalArithmetic, decimalResultType, decimalText } from './decimal';
import { castTo, compileFunction } from './functions';
import { sqlError } from './sql-error';
import { compileUserFunction, type ScalarFunction } from './user-functions';
import type { SqlType, SqlValue } from './types';
import { commonType, compareValues, converted, decimalOf, expectType, type Compiled } from './values';

export { compareValues, type Compiled } from './values';

export type ColumnExpr = Extract<Expr, { kind: 'column' }>;
export type CallExpr = Extract<Expr, { kind: 'call' }>;

/** What names mean in one clause. */
export interface Scope<C> {
  /** The clause, for messages: 'WHERE', 'SELECT', 'HAVING', 'COUNT(…)'. */
  readonly clause: string;
  column(e: ColumnExpr): Compiled<C>;
  /** Aggregates and window functions where the scope has them; undefined for a function it does not know. */
  call(e: CallExpr): Compiled<C> | undefined;
  windowProperty(e: Extract<Expr, { kind: 'windowProperty' }>): Compiled<C>;
  /** An OVER aggregate, where the scope has them (the select list of an OVER aggregation). */
  over?(e: CallExpr): Compiled<C>;
  /** A whole expression the scope already has a value for (a GROUP BY expression), before it is compiled part by part. */
  known?(e: Expr): Compiled<C> | undefined;
  /** The script's user functions (CREATE FUNCTION), by upper-case name. */
  readonly functions?: ReadonlyMap<string, ScalarFunction> | undefined;
}

/** The aggregate functions of the subset. */
export const AGGREGATES = new Set(['COUNT', 'SUM', 'MIN', 'MAX', 'AVG']);

/** The name of an expression for messages: `SUM(clicks)`, `clicks > 0`. */
export function show(e: Expr): string {
  switch (e.kind) {
    case 'column':
      return e.qualifier ? `${e.qualifier}.${e.name}` : e.name;
    case 'literal':
      if (typeof e.value === 'bigint') return decimalText(e.value, e.decimal?.scale ?? 0);
      return typeof e.value === 'string' ? `'${e.value}'` : e.value === null ? 'NULL' : String(e.value).toUpperCase();
    case 'interval':
      return e.text;
    case 'unary':
      return e.op === 'NOT' ? `NOT ${show(e.operand)}` : `-${show(e.operand)}`;
    case 'binary':
      return `${show(e.left)} ${e.op} ${show(e.right)}`;
    case 'like':
      return `${show(e.value)} ${e.negated ? 'NOT ' : ''}LIKE ${show(e.pattern)}`;
    case 'in':
      return `${show(e.value)} ${e.negated ? 'NOT ' : ''}IN (${e.list.map(show).join(', ')})`;
    case 'between':
      return `${show(e.value)} ${e.negated ? 'NOT ' : ''}BETWEEN ${show(e.low)} AND ${show(e.high)}`;
    case 'isNull':
      return `${show(e.value)} IS ${e.negated ? 'NOT ' : ''}NULL`;
    case 'call':
      return `${e.name}(${e.distinct ? 'DISTINCT ' : ''}${e.star ? '*' : e.args.map(show).join(', ')})${e.filter ? ` FILTER (WHERE ${show(e.filter)})` : ''}${e.over ? ` OVER (${showOverWindow(e.over)})` : ''}`;
    case 'windowProperty':
      return `window_${e.property === 'rowtime' ? 'time' : e.property}`;
    case 'case':
      return `CASE${e.operand ? ` ${show(e.operand)}` : ''} ${e.whens.map((w) => `WHEN ${show(w.when)} THEN ${show(w.then)}`).join(' ')}${e.otherwise ? ` ELSE ${show(e.otherwise)}` : ''} END`;
    case 'cast':
      return `${e.safe ? 'TRY_CAST' : 'CAST'}(${show(e.value)} AS ${e.declared})`;
    case 'star':
      return e.qualifier ? `${e.qualifier}.*` : '*';
    case 'over':
      return `${e.fn}() OVER (${partitionAndOrder(e.partitionBy, e.orderBy).join(' ')})`;
  }
}

function partitionAndOrder(partitionBy: readonly Expr[], orderBy: readonly OrderKey[]): string[] {
  const partition = partitionBy.length > 0 ? `PARTITION BY ${partitionBy.map(show).join(', ')}` : '';
  const order = orderBy.length > 0 ? `ORDER BY ${orderBy.map((k) => `${show(k.expr)}${k.descending ? ' DESC' : ''}`).join(', ')}` : '';
  return [partition, order].filter(Boolean);
}

/** An OVER window as text, its frame spelled out: two windows are the same when their texts are. */
export function showOverWindow(w: OverWindow): string {
  const f = w.frame;
  const start = f.preceding === undefined ? 'UNBOUNDED' : f.unit === 'ROWS' ? String(f.preceding) : f.preceding === 0 ? undefined : `INTERVAL '${f.preceding / 1000}' SECOND`;
  const frame = `${f.unit} BETWEEN ${start === undefined ? 'CURRENT ROW' : `${start} PRECEDING`} AND CURRENT ROW`;
  return [...partitionAndOrder(w.partitionBy, w.orderBy), frame].join(' ');
}

/** Flink's Top-N, as the message for a ranking function written elsewhere. */
export const TOP_N_SHAPE = 'SELECT … FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY … ORDER BY … DESC) AS rn FROM …) WHERE rn <= N';

/** Where an expression starts (its leftmost operand), for messages about the whole expression. */
export function startOf(e: Expr): Expr['pos'] {
  switch (e.kind) {
    case 'binary':
      return startOf(e.left) ?? e.pos;
    case 'like':
    case 'in':
    case 'between':
    case 'isNull':
      return startOf(e.value) ?? e.pos;
    default:
      return e.pos;
  }
}

/** A LIKE pattern as a regular expression: % is any run of characters, _ one character. */
export function likePattern(pattern: string, escape: string | undefined): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (escape !== undefined && c === escape) {
      const next = pattern[++i];
      if (next === undefined) throw new Error(`the LIKE pattern '${pattern}' ends with its escape character`);
      source += next.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (c === '%') source += '.*';
    else if (c === '_') source += '.';
    else source += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** Type-checks an expression in a scope and compiles it; a problem is a SqlError at the expression. */
export function compileExpression<C>(e: Expr, scope: Scope<C>): Compiled<C> {
  const known = scope.known?.(e);
  if (known) return known;
  const compile = (x: Expr): Compiled<C> => compileExpression(x, scope);
  switch (e.kind) {
    case 'column':
      return scope.column(e);
    case 'windowProperty':
      return scope.windowProperty(e);
    case 'star':
      throw sqlError(`${show(e)} is only allowed as a select item or in COUNT(*)`, e.pos);
    case 'over':
      throw sqlError(`${e.fn}() OVER (…) is supported as Flink's Top-N or deduplication, a select item of a subquery filtered on it: ${TOP_N_SHAPE}`, e.pos);
    case 'literal': {
      const value = e.value;
      const decimal = e.decimal ?? (e.type === 'INT' ? { precision: Math.abs(value as number) <= 2_147_483_647 ? 10 : 19, scale: 0 } : undefined);
      return { type: e.type, decimal, eval: () => value };
    }
    case 'interval': {
      const ms = e.ms;
      return { type: 'INTERVAL', eval: () => ms };
    }
    case 'call': {
      if (e.over) {
        if (!scope.over) throw sqlError(`${show(e)} is not allowed in ${scope.clause} — an OVER aggregate belongs in the select list of a query without GROUP BY`, e.pos);
        return scope.over(e);
      }
      const compiled = scope.call(e);
      if (compiled) return compiled;
      if (AGGREGATES.has(e.name)) {
        throw sqlError(`${show(e)} is not allowed in ${scope.clause}${scope.clause === 'WHERE' ? ' — filter aggregates with HAVING' : ''}`, e.pos);
      }
      if (/^(TUMBLE|HOP|SESSION)(_START|_END|_ROWTIME)?$/.test(e.name) || e.name === 'CUMULATE') {
        throw sqlError(`${e.name}(…) is not allowed in ${scope.clause}`, e.pos);
      }
      const user = scope.functions?.get(e.name);
      if (user) return compileUserFunction(user, e, e.args.map(compile));
      if (e.filter) throw sqlError(`FILTER (WHERE …) belongs to aggregates, not ${e.name}`, e.pos);
      if (e.name === 'MOD') {
        if (e.args.length !== 2) throw sqlError(`MOD takes 2 arguments, found ${e.args.length}`, e.pos);
        return binary('%', compile(e.args[0]!), compile(e.args[1]!), e);
      }
      return compileFunction(e, e.args.map(compile));
    }
    case 'cast':
      return castTo(compile(e.value), { type: e.type, decimal: e.decimal }, e);
    case 'case':
      return caseWhen(e, scope);
    case 'unary': {
      const operand = compile(e.operand);
      if (e.op === 'NOT') {
        expectType(operand.type, ['BOOLEAN'], `NOT ${show(e.operand)}`, e);
        return { type: 'BOOLEAN', eval: (c) => notValue(operand.eval(c)) };
      }
      expectType(operand.type, ['INT', 'DECIMAL', 'DOUBLE', 'INTERVAL'], `-${show(e.operand)}`, e);
      return { ...operand, eval: (c) => { const v = operand.eval(c); return v === null ? null : -(v as number); } };
    }
    case 'binary':
      return binary(e.op, compile(e.left), compile(e.right), e);
    case 'like': {
      const value = compile(e.value);
      const pattern = compile(e.pattern);
      expectType(value.type, ['STRING'], show(e), e);
      expectType(pattern.type, ['STRING'], `the pattern of ${show(e)}`, e);
      let escape: string | undefined;
      if (e.escape) {
        if (e.escape.kind !== 'literal' || typeof e.escape.value !== 'string' || e.escape.value.length !== 1) throw sqlError('ESCAPE takes one character in quotes', e.escape.pos ?? e.pos);
        escape = e.escape.value;
      }
      const fixed = e.pattern.kind === 'literal' && typeof e.pattern.value === 'string' ? guardPattern(e.pattern.value, escape, e) : undefined;
      const negated = e.negated;
      return {
        type: 'BOOLEAN',
        eval: (c) => {
          const v = value.eval(c);
          const p = fixed ? null : pattern.eval(c);
          if (v === null || (!fixed && p === null)) return null;
          return (fixed ?? likePattern(p as string, escape)).test(v as string) !== negated;
        },
      };
    }
    case 'in': {
      const value = compile(e.value);
      const tests = e.list.map((x) => {
        const item = compile(x);
        if (!commonType([value, item])) throw sqlError(`${show(e)} compares ${value.type} with ${item.type}`, e.pos);
        return binary('=', value, item, e);
      });
      const negated = e.negated;
      return {
        type: 'BOOLEAN',
        eval: (c) => {
          let sawNull = false;
          for (const test of tests) {
            const r = test.eval(c);
            if (r === true) return !negated;
            if (r === null) sawNull = true;
          }
          return sawNull ? null : negated;
        },
      };
    }
    case 'between': {
      const value = compile(e.value);
      const [low, high] = [compile(e.low), compile(e.high)];
      if (!commonType([value, low]) || !commonType([value, high])) throw sqlError(`${show(e)} compares values of different types`, e.pos);
      const ge = binary('>=', value, low, e);
      const le = binary('<=', value, high, e);
      const negated = e.negated;
      return { type: 'BOOLEAN', eval: (c) => { const r = andValues(ge.eval(c), le.eval(c)); return negated ? notValue(r) : r; } };
    }
    case 'isNull': {
      const value = compile(e.value);
      const negated = e.negated;
      return { type: 'BOOLEAN', eval: (c) => (value.eval(c) === null) !== negated };
    }
  }
}

/** CASE: the first WHEN that is TRUE gives its THEN; none gives ELSE (or NULL). All branches meet in one type. */
function caseWhen<C>(e: Extract<Expr, { kind: 'case' }>, scope: Scope<C>): Compiled<C> {
  const compile = (x: Expr): Compiled<C> => compileExpression(x, scope);
  const operand = e.operand && compile(e.operand);
  const conditions = e.whens.map(({ when }) => {
    const c = operand ? binary('=', operand, compile(when), when) : compile(when);
    expectType(c.type, ['BOOLEAN'], `WHEN ${show(when)}`, when);
    return c.eval;
  });
  const branches = [...e.whens.map((w) => compile(w.then)), ...(e.otherwise ? [compile(e.otherwise)] : [])];
  const type = commonType(branches);
  if (!type) throw sqlError(`the branches of CASE have types that do not meet: ${branches.map((b) => b.type).join(', ')} — CAST them to one type`, e.pos);
  const values = branches.map((b) => converted(b, type));
  const otherwise = e.otherwise ? values[values.length - 1]! : () => null;
  return {
    ...type,
    eval: (c) => {
      for (let i = 0; i < conditions.length; i++) if (conditions[i]!(c) === true) return values[i]!(c);
      return otherwise(c);
    },
  };
}

function guardPattern(pattern: string, escape: string | undefined, e: Expr): RegExp {
  try {
    return likePattern(pattern, escape);
  } catch (err) {
    throw sqlError((err as Error).message, e.pos);
  }
}

const notValue = (v: SqlValue): SqlValue => (v === null ? null : !v);
const andValues = (a: SqlValue, b: SqlValue): SqlValue => (a === false || b === false ? false : a === null || b === null ? null : true);
const orValues = (a: SqlValue, b: SqlValue): SqlValue => (a === true || b === true ? true : a === null || b === null ? null : false);

function binary<C>(op: BinaryOp, left: Compiled<C>, right: Compiled<C>, e: Expr): Compiled<C> {
  const what = e.kind === 'binary' ? show(e) : op;
  switch (op) {
    case 'AND':
    case 'OR': {
      expectType(left.type, ['BOOLEAN'], what, e);
      expectType(right.type, ['BOOLEAN'], what, e);
      const combine = op === 'AND' ? andValues : orValues;
      const l = left.eval;
      const r = right.eval;
      return { type: 'BOOLEAN', eval: (c) => combine(l(c), r(c)) };
    }
    case '=':
    case '<>':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const common = commonType([left, right]);
      if (!common || common.type === 'INTERVAL') throw sqlError(`${what} compares ${left.type} with ${right.type}`, e.pos);
      const l = converted(left, common);
      const r = converted(right, common);
      const test: (n: number) => boolean =
        op === '=' ? (n) => n === 0 : op === '<>' ? (n) => n !== 0 : op === '<' ? (n) => n < 0 : op === '<=' ? (n) => n <= 0 : op === '>' ? (n) => n > 0 : (n) => n >= 0;
      return {
        type: 'BOOLEAN',
        eval: (c) => {
          const a = l(c);
          const b = r(c);
          return a === null || b === null ? null : test(compareValues(a, b));
        },
      };
    }
    case '||': {
      expectType(left.type, ['STRING'], what, e);
      expectType(right.type, ['STRING'], what, e);
      const l = left.eval;
      const r = right.eval;
      return { type: 'STRING', eval: (c) => { const a = l(c); const b = r(c); return a === null || b === null ? null : `${a as string}${b as string}`; } };
    }
    default:
      return arithmetic(op, left, right, e, what);
  }
}

function arithmetic<C>(op: '+' | '-' | '*' | '/' | '%', left: Compiled<C>, right: Compiled<C>, e: Expr, what: string): Compiled<C> {
  const timed = timeArithmetic(op, left, right, e, what);
  if (timed) return timed;
  expectType(left.type, ['INT', 'DECIMAL', 'DOUBLE'], what, e);
  expectType(right.type, ['INT', 'DECIMAL', 'DOUBLE'], what, e);
  const both = (apply: (a: SqlValue, b: SqlValue) => SqlValue, l: (c: C) => SqlValue, r: (c: C) => SqlValue) => (c: C): SqlValue => {
    const a = l(c);
    const b = r(c);
    return a === null || b === null ? null : apply(a, b);
  };
  if (left.type === 'DOUBLE' || right.type === 'DOUBLE') {
    const apply = numberOperation(op, false);
    return { type: 'DOUBLE', eval: both((a, b) => apply(a as number, b as number), converted(left, { type: 'DOUBLE' }), converted(right, { type: 'DOUBLE' })) };
  }
  if (left.type === 'DECIMAL' || right.type === 'DECIMAL') {
    const a = decimalOf(left);
    const b = decimalOf(right);
    const result = decimalResultType(op, a, b);
    const l = converted(left, { type: 'DECIMAL', decimal: a });
    const r = converted(right, { type: 'DECIMAL', decimal: b });
    return { type: 'DECIMAL', decimal: result, eval: both((x, y) => decimalArithmetic(op, x as bigint, a, y as bigint, b, result), l, r) };
  }
  // INT op INT stays INT (division truncates, as in Flink and sqlite3).
  const apply = numberOperation(op, true);
  const decimal = left.type === 'NULL' ? right.decimal : right.type === 'NULL' ? left.decimal : commonType([left, right])?.decimal;
  return { type: left.type === 'NULL' && right.type === 'NULL' ? 'NULL' : 'INT', decimal, eval: both((a, b) => apply(a as number, b as number), left.eval, right.eval) };
}

function numberOperation(op: '+' | '-' | '*' | '/' | '%', integer: boolean): (a: number, b: number) => number | null {
  switch (op) {
    case '+':
      return (a, b) => a + b;
    case '-':
      return (a, b) => a - b;
    case '*':
      return (a, b) => a * b;
    case '/':
      // Division or modulo by zero is NULL here (Flink fails the job on an integer division by zero).
      return (a, b) => (b === 0 ? null : integer ? Math.trunc(a / b) : a / b);
    case '%':
      return (a, b) => (b === 0 ? null : a % b);
  }
}

/** TIMESTAMP ± INTERVAL is a TIMESTAMP, INTERVAL ± INTERVAL an INTERVAL; undefined when neither side is a time. */
function timeArithmetic<C>(op: '+' | '-' | '*' | '/' | '%', left: Compiled<C>, right: Compiled<C>, e: Expr, what: string): Compiled<C> | undefined {
  const times = [left.type, right.type];
  if (!times.includes('TIMESTAMP') && !times.includes('INTERVAL')) return undefined;
  const l = left.eval;
  const r = right.eval;
  const sign = op === '-' ? -1 : 1;
  const plus = (type: SqlType, a: (c: C) => SqlValue, b: (c: C) => SqlValue, bSign: number): Compiled<C> => ({
    type,
    eval: (c) => {
      const x = a(c);
      const y = b(c);
      return x === null || y === null ? null : (x as number) + bSign * (y as number);
    },
  });
  if (op === '+' || op === '-') {
    if (left.type === 'TIMESTAMP' && right.type === 'INTERVAL') return plus('TIMESTAMP', l, r, sign);
    if (op === '+' && left.type === 'INTERVAL' && right.type === 'TIMESTAMP') return plus('TIMESTAMP', r, l, 1);
    if (left.type === 'INTERVAL' && right.type === 'INTERVAL') return plus('INTERVAL', l, r, sign);
    if (left.type === 'TIMESTAMP' && right.type === 'TIMESTAMP') {
      throw sqlError(`${what}: the difference of two TIMESTAMPs is not supported — compare them, or add an INTERVAL to one`, e.pos);
    }
  }
  throw sqlError(`${what}: ${op} is not defined for ${left.type} and ${right.type} — TIMESTAMP ± INTERVAL '…' SECOND is`, e.pos);
}
