/**
 * Values of the SQL types at run time and how they convert: INT and DOUBLE are JS numbers, DECIMAL(p, s)
 * its unscaled bigint (decimal.ts), TIMESTAMP epoch ms, INTERVAL ms. Numbers widen INT → DECIMAL →
 * DOUBLE where types meet (Flink's implicit casts); CAST converts back.
 */
import type { Expr } from './ast';
import { commonDecimalType, decimalText, decimalToNumber, fit, parseDecimal, rescale, type DecimalType } from './decimal';
import { sqlError } from './sql-error';
import { isNumeric, type SqlType, type SqlValue } from './types';

/** The type of a compiled expression: DECIMAL carries its precision and scale, INT the decimal it widens to. */
export interface Typed {
  readonly type: SqlType;
  readonly decimal?: DecimalType | undefined;
}

/** A type-checked expression: its SQL type and a function computing it in a context (a row, a fired window). */
export interface Compiled<C> extends Typed {
  readonly eval: (context: C) => SqlValue;
}

/** Compares two non-NULL values of one comparable type (numbers, decimals, strings, booleans). */
export function compareValues(a: SqlValue, b: SqlValue): number {
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  return Number(a) - Number(b);
}

/** What an INT widens to beside a DECIMAL when its own digits are not known (BIGINT's). */
const INT_AS_DECIMAL: DecimalType = { precision: 19, scale: 0 };
export const decimalOf = (t: Typed): DecimalType => t.decimal ?? INT_AS_DECIMAL;

/** The type values of several types meet in (CASE branches, COALESCE, comparisons), or undefined when they do not. */
export function commonType(types: readonly Typed[]): Typed | undefined {
  const known = types.filter((t) => t.type !== 'NULL');
  if (known.length === 0) return { type: 'NULL' };
  if (known.every((t) => isNumeric(t.type))) {
    if (known.some((t) => t.type === 'DOUBLE')) return { type: 'DOUBLE' };
    if (known.some((t) => t.type === 'DECIMAL')) return { type: 'DECIMAL', decimal: commonDecimalType(known.map(decimalOf)) };
    return { type: 'INT', decimal: commonDecimalType(known.map(decimalOf)) };
  }
  return known.every((t) => t.type === known[0]!.type) ? known[0] : undefined;
}

/** A compiled expression's values as another numeric type's (INT → DECIMAL → DOUBLE, and back by CAST). */
export function converted<C>(c: Compiled<C>, to: Typed): (context: C) => SqlValue {
  const from = c.eval;
  if (c.type === 'NULL' || (to.type === c.type && (to.type !== 'DECIMAL' || sameDecimal(decimalOf(c), decimalOf(to))))) return from;
  const convert = numericConversion(c, to);
  if (!convert) return from;
  return (context) => {
    const v = from(context);
    return v === null ? null : convert(v);
  };
}

const sameDecimal = (a: DecimalType, b: DecimalType): boolean => a.precision === b.precision && a.scale === b.scale;

/** How a non-NULL numeric value of one type becomes another's; undefined when no conversion is needed. */
export function numericConversion(from: Typed, to: Typed): ((v: SqlValue) => SqlValue) | undefined {
  if (!isNumeric(from.type) || !isNumeric(to.type)) return undefined;
  const target = decimalOf(to);
  switch (to.type) {
    case 'DOUBLE':
      return from.type === 'DECIMAL' ? (v) => decimalToNumber(v as bigint, decimalOf(from).scale) : undefined;
    case 'DECIMAL':
      if (from.type === 'INT') return (v) => fit(rescale(BigInt(v as number), 0, target.scale), target);
      if (from.type === 'DECIMAL') return (v) => fit(rescale(v as bigint, decimalOf(from).scale, target.scale), target);
      // A double by its shortest decimal text (0.1 is 0.1).
      return (v) => {
        const unscaled = Number.isFinite(v) ? parseDecimal(String(v), target.scale) : undefined;
        return unscaled === undefined ? null : fit(unscaled, target);
      };
    default:
      // To INT: the fraction is cut, toward zero.
      if (from.type === 'DECIMAL') return (v) => Number((v as bigint) / 10n ** BigInt(decimalOf(from).scale));
      if (from.type === 'DOUBLE') return (v) => Math.trunc(v as number);
      return undefined;
  }
}

export function expectType(actual: SqlType, allowed: readonly SqlType[], what: string, e: Expr): void {
  if (actual !== 'NULL' && !allowed.includes(actual)) throw sqlError(`${what}: expected ${allowed.join(' or ')}, found ${actual}`, e.pos);
}


/** A value as it crosses the shuffle and lives in window state (JSON data): a DECIMAL as its text ('1904.984'). */
export function toPortable(t: Typed): (v: SqlValue) => SqlValue {
  if (t.type !== 'DECIMAL') return (v) => v;
  const scale = decimalOf(t).scale;
  return (v) => (v === null ? null : decimalText(v as bigint, scale));
}

/** The value back from its portable form. */
export function fromPortable(t: Typed): (v: SqlValue) => SqlValue {
  if (t.type !== 'DECIMAL') return (v) => v;
  const scale = decimalOf(t).scale;
  return (v) => (v === null ? null : (parseDecimal(String(v), scale) ?? null));
}
