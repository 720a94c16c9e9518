/**
 * Expressions, type-checked once and compiled to closures. A scope says what names mean where the
 * expression stands: in WHERE a column is a field of the row; in SELECT and HAVING of a grouped query it
 * is a group key, and aggregates and window properties are values of the fired window. NULL follows
 * SQL's three-valued logic: a comparison with NULL is NULL, and WHERE keeps only rows that are TRUE.
 */
import type { BinaryOp, Expr } from './ast';
import { sqlError } from './sql-error';
import { isNumeric, type SqlType, type SqlValue } from './types';

/** A type-checked expression: its SQL type and a function computing it in a context (a row, a fired window). */
export interface Compiled<C> {
  readonly type: SqlType;
  readonly eval: (context: C) => SqlValue;
}

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
}

/** The aggregate functions of the subset. */
export const AGGREGATES = new Set(['COUNT', 'SUM', 'MIN', 'MAX', 'AVG']);

/** The name of an expression for messages: `SUM(clicks)`, `clicks > 0`. */
export function show(e: Expr): string {
  switch (e.kind) {
    case 'column':
      return e.qualifier ? `${e.qualifier}.${e.name}` : e.name;
    case 'literal':
      return typeof e.value === 'string' ? `'${e.value}'` : String(e.value).toUpperCase() === 'NULL' ? 'NULL' : String(e.value);
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
      return `${e.name}(${e.distinct ? 'DISTINCT ' : ''}${e.star ? '*' : e.args.map(show).join(', ')})`;
    case 'windowProperty':
      return `window_${e.property === 'rowtime' ? 'time' : e.property}`;
  }
}

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

/** Compares two non-NULL values of comparable types (numbers, strings, booleans). */
export function compareValues(a: SqlValue, b: SqlValue): number {
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return Number(a) - Number(b);
}

const comparable = (a: SqlType, b: SqlType): boolean => a === 'NULL' || b === 'NULL' || a === b || (isNumeric(a) && isNumeric(b));

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
  const compile = (x: Expr): Compiled<C> => compileExpression(x, scope);
  switch (e.kind) {
    case 'column':
      return scope.column(e);
    case 'windowProperty':
      return scope.windowProperty(e);
    case 'literal': {
      const value = e.value;
      return { type: e.type, eval: () => value };
    }
    case 'interval':
      throw sqlError(`${e.text} is only allowed in a window (TUMBLE, HOP, SESSION) or a WATERMARK`, e.pos);
    case 'call': {
      const compiled = scope.call(e);
      if (compiled) return compiled;
      if (AGGREGATES.has(e.name)) {
        throw sqlError(`${show(e)} is not allowed in ${scope.clause}${scope.clause === 'WHERE' ? ' — filter aggregates with HAVING' : ''}`, e.pos);
      }
      if (/^(TUMBLE|HOP|SESSION)(_START|_END|_ROWTIME)?$/.test(e.name) || e.name === 'CUMULATE') {
        throw sqlError(`${e.name}(…) is not allowed in ${scope.clause}`, e.pos);
      }
      throw sqlError(`the function ${e.name} is not supported — the subset has COUNT, SUM, MIN, MAX, AVG and the window functions`, e.pos);
    }
    case 'unary': {
      const operand = compile(e.operand);
      if (e.op === 'NOT') {
        expectType(operand.type, ['BOOLEAN'], `NOT ${show(e.operand)}`, e);
        return { type: 'BOOLEAN', eval: (c) => notValue(operand.eval(c)) };
      }
      expectType(operand.type, ['INT', 'DOUBLE'], `-${show(e.operand)}`, e);
      return { type: operand.type, eval: (c) => { const v = operand.eval(c); return v === null ? null : -(v as number); } };
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
      const list = e.list.map(compile);
      for (const item of list) if (!comparable(value.type, item.type)) throw sqlError(`${show(e)} compares ${value.type} with ${item.type}`, e.pos);
      const negated = e.negated;
      return {
        type: 'BOOLEAN',
        eval: (c) => {
          const v = value.eval(c);
          if (v === null) return null;
          let sawNull = false;
          for (const item of list) {
            const x = item.eval(c);
            if (x === null) sawNull = true;
            else if (compareValues(v, x) === 0) return !negated;
          }
          return sawNull ? null : negated;
        },
      };
    }
    case 'between': {
      const value = compile(e.value);
      const low = compile(e.low);
      const high = compile(e.high);
      if (!comparable(value.type, low.type) || !comparable(value.type, high.type)) throw sqlError(`${show(e)} compares values of different types`, e.pos);
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

function guardPattern(pattern: string, escape: string | undefined, e: Expr): RegExp {
  try {
    return likePattern(pattern, escape);
  } catch (err) {
    throw sqlError((err as Error).message, e.pos);
  }
}

function expectType(actual: SqlType, allowed: readonly SqlType[], what: string, e: Expr): void {
  if (actual !== 'NULL' && !allowed.includes(actual)) throw sqlError(`${what}: expected ${allowed.join(' or ')}, found ${actual}`, e.pos);
}

const notValue = (v: SqlValue): SqlValue => (v === null ? null : !v);
const andValues = (a: SqlValue, b: SqlValue): SqlValue => (a === false || b === false ? false : a === null || b === null ? null : true);
const orValues = (a: SqlValue, b: SqlValue): SqlValue => (a === true || b === true ? true : a === null || b === null ? null : false);

function binary<C>(op: BinaryOp, left: Compiled<C>, right: Compiled<C>, e: Expr): Compiled<C> {
  const l = left.eval;
  const r = right.eval;
  const what = e.kind === 'binary' ? show(e) : op;
  switch (op) {
    case 'AND':
    case 'OR': {
      expectType(left.type, ['BOOLEAN'], what, e);
      expectType(right.type, ['BOOLEAN'], what, e);
      const combine = op === 'AND' ? andValues : orValues;
      return { type: 'BOOLEAN', eval: (c) => combine(l(c), r(c)) };
    }
    case '=':
    case '<>':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      if (!comparable(left.type, right.type)) throw sqlError(`${what} compares ${left.type} with ${right.type}`, e.pos);
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
      return { type: 'STRING', eval: (c) => { const a = l(c); const b = r(c); return a === null || b === null ? null : `${a}${b}`; } };
    }
    case '+':
    case '-':
    case '*':
    case '/':
    case '%': {
      if (left.type === 'TIMESTAMP' || right.type === 'TIMESTAMP') throw sqlError(`${what}: arithmetic on TIMESTAMP is not supported`, e.pos);
      expectType(left.type, ['INT', 'DOUBLE'], what, e);
      expectType(right.type, ['INT', 'DOUBLE'], what, e);
      // INT op INT stays INT (division truncates, as in Flink and sqlite3); anything with a DOUBLE is DOUBLE.
      const integer = left.type !== 'DOUBLE' && right.type !== 'DOUBLE';
      const type: SqlType = integer ? 'INT' : 'DOUBLE';
      const apply: (a: number, b: number) => number | null =
        op === '+' ? (a, b) => a + b
        : op === '-' ? (a, b) => a - b
        : op === '*' ? (a, b) => a * b
        : op === '/' ? (a, b) => (b === 0 ? null : integer ? Math.trunc(a / b) : a / b)
        : (a, b) => (b === 0 ? null : a % b);
      return {
        type,
        eval: (c) => {
          const a = l(c);
          const b = r(c);
          return a === null || b === null ? null : apply(a as number, b as number);
        },
      };
    }
  }
}
