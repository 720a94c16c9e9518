/**
 * The SQL types of the subset and how JSON event values become them. Integers and doubles are JS
 * numbers; a DECIMAL(p, s) value is its exact unscaled bigint (decimal.ts); TIMESTAMP values are epoch
 * milliseconds, read from numbers or ISO-8601 strings; an INTERVAL (only in expressions) is milliseconds.
 */
import { decimalFromNumber, fit, parseDecimal, type DecimalType } from './decimal';

export type SqlType = 'STRING' | 'INT' | 'DOUBLE' | 'DECIMAL' | 'BOOLEAN' | 'TIMESTAMP' | 'INTERVAL' | 'NULL';

/** A column of a table: its name (case-sensitive, as in Flink SQL) and type. */
export interface Column {
  readonly name: string;
  readonly type: SqlType;
  /** The type as written (`VARCHAR(20)`, `TIMESTAMP(3)`), for messages. */
  readonly declared: string;
  readonly notNull: boolean;
  /** DECIMAL's precision and scale; for integer columns, the decimal they widen to (BIGINT: DECIMAL(19, 0)). */
  readonly decimal?: DecimalType | undefined;
}

/** The digits of each integer type, as a DECIMAL(p, 0) (what Flink widens it to beside a decimal). */
const INTEGER_DIGITS: Record<string, number> = { TINYINT: 3, SMALLINT: 5, INT: 10, INTEGER: 10, BIGINT: 19 };

/**
 * The decimal type of a declared DECIMAL(p, s) (DECIMAL alone is DECIMAL(10, 0), as in Flink), or the
 * decimal an integer type widens to; undefined for other types or an invalid precision / scale.
 */
export function declaredDecimal(name: string, params: readonly number[]): DecimalType | undefined {
  const upper = name.toUpperCase();
  const digits = INTEGER_DIGITS[upper];
  if (digits !== undefined) return { precision: digits, scale: 0 };
  if (upper !== 'DECIMAL' && upper !== 'DEC' && upper !== 'NUMERIC') return undefined;
  const [precision = 10, scale = 0] = params;
  if (!Number.isInteger(precision) || !Number.isInteger(scale) || precision < 1 || precision > 38 || scale < 0 || scale > precision) return undefined;
  return { precision, scale };
}

/** What a type name means here, or undefined for one the subset does not have. */
export function typeOf(name: string): SqlType | undefined {
  switch (name.toUpperCase()) {
    case 'STRING':
    case 'VARCHAR':
    case 'CHAR':
      return 'STRING';
    case 'TINYINT':
    case 'SMALLINT':
    case 'INT':
    case 'INTEGER':
    case 'BIGINT':
      return 'INT';
    case 'FLOAT':
    case 'DOUBLE':
    case 'REAL':
      return 'DOUBLE';
    case 'DECIMAL':
    case 'DEC':
    case 'NUMERIC':
      return 'DECIMAL';
    case 'BOOLEAN':
      return 'BOOLEAN';
    case 'TIMESTAMP':
    case 'TIMESTAMP_LTZ':
      return 'TIMESTAMP';
    default:
      return undefined;
  }
}

/** INT, DECIMAL or DOUBLE. */
export const isNumeric = (t: SqlType): boolean => t === 'INT' || t === 'DOUBLE' || t === 'DECIMAL';

/** A SQL value at run time (a bigint only for DECIMAL: its unscaled value). */
export type SqlValue = string | number | boolean | bigint | null;

/** Thrown for an event field that does not fit its column; the record goes to the dead-letter table. */
export class RowError extends Error {
  override name = 'RowError';
}

// An ISO-8601 date-time, or Flink's SQL form with a space; a zone may follow (none means UTC).
const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Epoch milliseconds of a TIMESTAMP value: a number of epoch ms, or an ISO-8601 string (without a zone
 * it is UTC, as Flink reads TIMESTAMP(3) in JSON). Undefined when it is neither.
 */
export function timestampMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.floor(value) : undefined;
  if (typeof value !== 'string' || !TIMESTAMP_TEXT.test(value.trim())) return undefined;
  let text = value.trim().replace(' ', 'T');
  if (!/T/.test(text)) text += 'T00:00:00';
  if (!/(?:Z|[+-]\d{2}:?\d{2})$/i.test(text)) text += 'Z';
  // Date.parse keeps milliseconds only: microseconds and nanoseconds are cut, as TIMESTAMP(3) does.
  text = text.replace(/(\.\d{3})\d+/, '$1');
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** A JSON field value as a value of the column's type; throws a RowError naming the column when it is not one. */
export function decodeValue(column: Column, value: unknown): SqlValue {
  if (value === undefined || value === null) {
    if (column.notNull) throw new RowError(`column '${column.name}' is ${value === undefined ? 'missing' : 'null'} but declared NOT NULL`);
    return null;
  }
  const refuse = (): never => {
    throw new RowError(`column '${column.name}' ${column.declared}: ${JSON.stringify(value)?.slice(0, 60)} is not a${column.type === 'INT' ? 'n integer' : column.type === 'TIMESTAMP' ? ' timestamp (epoch ms or ISO-8601)' : ` ${column.type.toLowerCase()}`}`);
  };
  switch (column.type) {
    case 'STRING':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return refuse();
    case 'INT': {
      const n = typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : value;
      return typeof n === 'number' && Number.isInteger(n) ? n : refuse();
    }
    case 'DOUBLE': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      return typeof n === 'number' && Number.isFinite(n) ? n : refuse();
    }
    case 'DECIMAL': {
      // A JSON number is read by its decimal text (0.1 is 0.1), a string as written; then rounded to the scale.
      const t = column.decimal ?? { precision: 10, scale: 0 };
      const unscaled = typeof value === 'number' ? decimalFromNumber(value, t.scale) : typeof value === 'string' ? parseDecimal(value, t.scale) : undefined;
      if (unscaled === undefined) return refuse();
      const fitting = fit(unscaled, t);
      if (fitting === null) throw new RowError(`column '${column.name}' ${column.declared}: ${JSON.stringify(value)} has more than ${t.precision - t.scale} integer digits`);
      return fitting;
    }
    case 'BOOLEAN':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      return refuse();
    case 'TIMESTAMP':
      return timestampMs(value) ?? refuse();
    case 'INTERVAL':
    case 'NULL':
      return null;
  }
}

const UNIT_MS: Record<string, number> = {
  MILLISECOND: 1,
  SECOND: 1000,
  MINUTE: 60_000,
  HOUR: 3_600_000,
  DAY: 86_400_000,
};

/** Milliseconds in `INTERVAL 'amount' UNIT` (units singular or plural, as Flink accepts), or undefined for another unit. */
export function intervalMs(amount: number, unit: string): number | undefined {
  const u = unit.toUpperCase().replace(/S$/, '');
  const per = UNIT_MS[u];
  return per === undefined ? undefined : Math.round(amount * per);
}

/** Milliseconds in a Flink duration option ('10 s', '500ms', '1 min', '2h', or a plain number of ms), or undefined. */
export function optionDurationMs(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const amount = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const per: Record<string, number> = {
    '': 1, ms: 1, milli: 1, millis: 1, millisecond: 1, milliseconds: 1,
    s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
    m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
    h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
    d: 86_400_000, day: 86_400_000, days: 86_400_000,
  };
  const factor = per[unit];
  return factor === undefined ? undefined : Math.round(amount * factor);
}
