/**
 * DECIMAL(p, s) as Flink computes it: exact, a value is its unscaled integer (a bigint) at the scale its
 * type fixes, so `0.908 * price` is `1904.984`, not `1904.9840000000002`. The result types of + - * / %
 * and of SUM / AVG follow Flink's `LogicalTypeMerging` (itself SQL Server's rules): see docs/sql.md.
 * Rounding is HALF_UP; a value that does not fit its precision is NULL, as in Flink.
 */

export interface DecimalType {
  readonly precision: number;
  readonly scale: number;
}

export const MAX_PRECISION = 38;
/** The fewest fraction digits a result keeps when its precision is cut to 38 (Flink's MINIMUM_ADJUSTED_SCALE). */
const MINIMUM_ADJUSTED_SCALE = 6;

const TEN = 10n;
const pow10 = (n: number): bigint => TEN ** BigInt(n);

/** Flink's adjustPrecisionScale: past 38 digits, the scale gives way so the integer part is never cut. */
function adjusted(precision: number, scale: number): DecimalType {
  if (precision <= MAX_PRECISION) return { precision, scale };
  const integerDigits = precision - scale;
  return { precision: MAX_PRECISION, scale: Math.max(MAX_PRECISION - integerDigits, Math.min(scale, MINIMUM_ADJUSTED_SCALE)) };
}

/** The result type of a decimal operation (Flink's LogicalTypeMerging.find…DecimalType). */
export function decimalResultType(op: '+' | '-' | '*' | '/' | '%', a: DecimalType, b: DecimalType): DecimalType {
  switch (op) {
    case '+':
    case '-': {
      const scale = Math.max(a.scale, b.scale);
      return adjusted(Math.max(a.precision - a.scale, b.precision - b.scale) + scale + 1, scale);
    }
    case '*':
      return adjusted(a.precision + b.precision + 1, a.scale + b.scale);
    case '/': {
      const scale = Math.max(MINIMUM_ADJUSTED_SCALE, a.scale + b.precision + 1);
      return adjusted(a.precision - a.scale + b.scale + scale, scale);
    }
    case '%': {
      const scale = Math.max(a.scale, b.scale);
      return adjusted(Math.min(a.precision - a.scale, b.precision - b.scale) + scale, scale);
    }
  }
}

/** SUM of DECIMAL(p, s) is DECIMAL(38, s); AVG is DECIMAL(38, max(6, s)) (Flink's findSumAggType / findAvgAggType). */
export const sumType = (t: DecimalType): DecimalType => ({ precision: MAX_PRECISION, scale: t.scale });
export const avgType = (t: DecimalType): DecimalType => decimalResultType('/', { precision: MAX_PRECISION, scale: t.scale }, { precision: 20, scale: 0 });

/** The common type of decimals (CASE, COALESCE, comparisons): enough integer digits and fraction digits for each. */
export function commonDecimalType(types: readonly DecimalType[]): DecimalType {
  const scale = Math.max(...types.map((t) => t.scale));
  const integerDigits = Math.max(...types.map((t) => t.precision - t.scale));
  return { precision: Math.min(MAX_PRECISION, integerDigits + scale), scale };
}

/** Divides, rounding HALF_UP (away from zero at .5), as Java's BigDecimal.ROUND_HALF_UP. */
function divideHalfUp(numerator: bigint, denominator: bigint): bigint {
  const negative = numerator < 0n !== denominator < 0n;
  const n = numerator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  let q = n / d;
  if ((n % d) * 2n >= d) q += 1n;
  return negative ? -q : q;
}

/** An unscaled value moved from one scale to another (HALF_UP when digits are dropped). */
export function rescale(unscaled: bigint, from: number, to: number): bigint {
  if (to >= from) return unscaled * pow10(to - from);
  return divideHalfUp(unscaled, pow10(from - to));
}

/** The value, or null when it needs more digits than the type's precision (Flink's overflow is NULL). */
export const fit = (unscaled: bigint, t: DecimalType): bigint | null => ((unscaled < 0n ? -unscaled : unscaled) < pow10(t.precision) ? unscaled : null);

/** Exact arithmetic on unscaled values at scales `a.scale`, `b.scale`, giving the result type's scale; null for division by zero or overflow. */
export function decimalArithmetic(op: '+' | '-' | '*' | '/' | '%', x: bigint, a: DecimalType, y: bigint, b: DecimalType, result: DecimalType): bigint | null {
  let value: bigint;
  switch (op) {
    case '+':
    case '-': {
      const scale = Math.max(a.scale, b.scale);
      const l = rescale(x, a.scale, scale);
      const r = rescale(y, b.scale, scale);
      value = rescale(op === '+' ? l + r : l - r, scale, result.scale);
      break;
    }
    case '*':
      value = rescale(x * y, a.scale + b.scale, result.scale);
      break;
    case '/':
      if (y === 0n) return null;
      // x / 10^sa ÷ y / 10^sb at scale rs: x · 10^(sb + rs − sa) / y, rounded once.
      value = divideHalfUp(x * pow10(b.scale + result.scale), y * pow10(a.scale));
      break;
    case '%': {
      if (y === 0n) return null;
      const scale = Math.max(a.scale, b.scale);
      // The remainder takes the dividend's sign, as Java's BigDecimal.remainder.
      value = rescale(rescale(x, a.scale, scale) % rescale(y, b.scale, scale), scale, result.scale);
      break;
    }
  }
  return fit(value, result);
}

const DECIMAL_TEXT = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/;

/** The unscaled value of decimal text ('1904.984', '-1e3') at a scale (HALF_UP), or undefined when it is not a number. */
export function parseDecimal(text: string, scale: number): bigint | undefined {
  const m = DECIMAL_TEXT.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const digits = `${m[2]}${m[3] ?? ''}` || '0';
  const exponent = Number(m[4] ?? 0) - (m[3] ?? '').length;
  const unscaled = BigInt(digits) * (m[1] === '-' ? -1n : 1n);
  return exponent >= 0 ? rescale(unscaled * pow10(exponent), 0, scale) : rescale(unscaled, -exponent, scale);
}

/** A JS number as a decimal: its shortest decimal text (what JSON wrote), then rounded to the scale. */
export const decimalFromNumber = (n: number, scale: number): bigint | undefined => (Number.isFinite(n) ? parseDecimal(String(n), scale) : undefined);

/** Decimal text of an unscaled value: `1904.984`, `-0.50`, `12` (the scale's digits kept, as Flink prints them). */
export function decimalText(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  return negative ? `-${text}` : text;
}

/** The nearest double: how a DECIMAL result is written to JSON (a number, as Flink's JSON format writes it). */
export const decimalToNumber = (unscaled: bigint, scale: number): number => Number(decimalText(unscaled, scale));
