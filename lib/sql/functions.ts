/**
 * Flink's built-in scalar functions the subset has, with Flink's semantics (docs/sql.md lists them):
 * conditional (COALESCE, IF, NULLIF), string, math, date/time, and CAST. A NULL argument gives NULL
 * unless the function says otherwise (COALESCE, CONCAT_WS, IF's condition). Each is type-checked
 * when the query compiles; a value a function cannot take at run time is NULL, except for CAST, whose
 * failure sends the record to the dead letters (TRY_CAST gives NULL).
 */
import type { Expr } from './ast';
import { decimalText, fit, parseDecimal, rescale, type DecimalType } from './decimal';
import { sqlError } from './sql-error';
import { RowError, timestampMs, type SqlType, type SqlValue } from './types';
import { commonType, converted, decimalOf, expectType, numericConversion, type Compiled, type Typed } from './values';

type CallExpr = Extract<Expr, { kind: 'call' }>;
type Definition = (args: readonly Compiled<unknown>[], e: CallExpr) => Compiled<unknown>;

/** The scalar functions, by name. */
const FUNCTIONS: Record<string, Definition> = {
  COALESCE: (args, e) => {
    arity(e, args, 1, Infinity);
    const type = meet(args, e);
    const values = args.map((a) => converted(a, type));
    return { ...type, eval: (c) => { for (const v of values) { const x = v(c); if (x !== null) return x; } return null; } };
  },
  IF: (args, e) => {
    arity(e, args, 3, 3);
    expectType(args[0]!.type, ['BOOLEAN'], `the condition of ${e.name}`, e);
    const type = meet(args.slice(1), e);
    const [condition, then, otherwise] = [args[0]!.eval, converted(args[1]!, type), converted(args[2]!, type)];
    return { ...type, eval: (c) => (condition(c) === true ? then(c) : otherwise(c)) };
  },
  NULLIF: (args, e) => {
    arity(e, args, 2, 2);
    const type = meet(args, e);
    const [a, b] = [converted(args[0]!, type), converted(args[1]!, type)];
    return { ...type, eval: (c) => { const x = a(c); const y = b(c); return x !== null && y !== null && String(x) === String(y) ? null : x; } };
  },

  LOWER: (args, e) => strings(e, args, 1, 1, ([s]) => s!.toLowerCase()),
  UPPER: (args, e) => strings(e, args, 1, 1, ([s]) => s!.toUpperCase()),
  TRIM: (args, e) => {
    // TRIM(s) or, from TRIM([BOTH | LEADING | TRAILING] chars FROM s), TRIM(s, chars, 'mode').
    const mode = args.length === 3 ? constantText(e, 2) : 'BOTH';
    return strings(e, args.slice(0, 2), 1, 2, ([s, chars = ' ']) => trim(s!, chars, mode !== 'TRAILING', mode !== 'LEADING'));
  },
  LTRIM: (args, e) => strings(e, args, 1, 2, ([s, chars = ' ']) => trim(s!, chars, true, false)),
  RTRIM: (args, e) => strings(e, args, 1, 2, ([s, chars = ' ']) => trim(s!, chars, false, true)),
  SUBSTRING: (args, e) => {
    arity(e, args, 2, 3);
    expectType(args[0]!.type, ['STRING'], `the string of ${e.name}`, e);
    for (const a of args.slice(1)) expectType(a.type, ['INT'], `the position and length of ${e.name}`, e);
    const [s, start, length] = args.map((a) => a.eval);
    return {
      type: 'STRING',
      eval: (c) => {
        const v = s!(c);
        const from = start!(c);
        const n = length ? length(c) : Number.MAX_SAFE_INTEGER;
        return v === null || from === null || n === null ? null : substring(v as string, from as number, n as number);
      },
    };
  },
  CHAR_LENGTH: (args, e) => ({ ...strings(e, args, 1, 1, ([s]) => [...s!].length), type: 'INT' }),
  CONCAT: (args, e) => strings(e, args, 1, Infinity, (values) => values.join('')),
  CONCAT_WS: (args, e) => {
    arity(e, args, 2, Infinity);
    for (const a of args) expectType(a.type, ['STRING'], `the arguments of ${e.name}`, e);
    const [separator, ...parts] = args.map((a) => a.eval);
    return {
      type: 'STRING',
      eval: (c) => {
        const sep = separator!(c);
        // NULL parts are skipped (Flink's CONCAT_WS); a NULL separator makes NULL.
        return sep === null ? null : parts.map((p) => p(c)).filter((v) => v !== null).join(sep as string);
      },
    };
  },
  SPLIT_INDEX: (args, e) => {
    arity(e, args, 3, 3);
    expectType(args[0]!.type, ['STRING'], `the string of ${e.name}`, e);
    expectType(args[1]!.type, ['STRING'], `the separator of ${e.name}`, e);
    expectType(args[2]!.type, ['INT'], `the index of ${e.name}`, e);
    const [s, separator, index] = args.map((a) => a.eval);
    return {
      type: 'STRING',
      eval: (c) => {
        const [v, sep, i] = [s!(c), separator!(c), index!(c)];
        if (v === null || sep === null || i === null || (i as number) < 0) return null;
        // Every piece counts, empty ones too (Flink splits by the whole separator, keeping all tokens).
        return (v as string).split(sep as string)[i as number] ?? null;
      },
    };
  },
  REGEXP_EXTRACT: (args, e) => {
    arity(e, args, 2, 3);
    expectType(args[0]!.type, ['STRING'], `the string of ${e.name}`, e);
    expectType(args[1]!.type, ['STRING'], `the pattern of ${e.name}`, e);
    if (args[2]) expectType(args[2].type, ['INT'], `the group of ${e.name}`, e);
    const pattern = regexOf(e, 1);
    const [s, p, group] = args.map((a) => a.eval);
    return {
      type: 'STRING',
      eval: (c) => {
        const v = s!(c);
        const g = group ? group(c) : 0;
        const regex = pattern ?? compileRegex(p!(c));
        if (v === null || g === null || !regex) return null;
        // The first match anywhere (Java's Matcher.find); group 0 is the whole match.
        const m = new RegExp(regex.source, regex.flags.replace('g', '')).exec(v as string);
        return m?.[g as number] ?? null;
      },
    };
  },
  REGEXP_REPLACE: (args, e) => {
    arity(e, args, 3, 3);
    for (const a of args) expectType(a.type, ['STRING'], `the arguments of ${e.name}`, e);
    const pattern = regexOf(e, 1);
    const [s, p, replacement] = args.map((a) => a.eval);
    return {
      type: 'STRING',
      eval: (c) => {
        const [v, r] = [s!(c), replacement!(c)];
        const regex = pattern ?? compileRegex(p!(c));
        return v === null || r === null || !regex ? null : (v as string).replace(new RegExp(regex.source, 'gu'), r as string);
      },
    };
  },

  ABS: (args, e) => numeric(e, args, (v) => (typeof v === 'bigint' ? (v < 0n ? -v : v) : Math.abs(v))),
  FLOOR: (args, e) => roundTo(e, args, 'floor'),
  CEIL: (args, e) => roundTo(e, args, 'ceil'),
  ROUND: (args, e) => roundTo(e, args, 'round'),
  POWER: (args, e) => {
    arity(e, args, 2, 2);
    for (const a of args) expectType(a.type, ['INT', 'DECIMAL', 'DOUBLE'], `the arguments of ${e.name}`, e);
    const [x, y] = args.map((a) => converted(a, { type: 'DOUBLE' }));
    return { type: 'DOUBLE', eval: (c) => { const a = x!(c); const b = y!(c); return a === null || b === null ? null : (a as number) ** (b as number); } };
  },

  DATE_FORMAT: (args, e) => {
    arity(e, args, 2, 2);
    expectType(args[0]!.type, ['TIMESTAMP', 'STRING'], `the time of ${e.name}`, e);
    expectType(args[1]!.type, ['STRING'], `the format of ${e.name}`, e);
    const fixed = e.args[1]!.kind === 'literal' ? dateFormatter(constantText(e, 1), e) : undefined;
    const [time, format] = [timeOf(args[0]!), args[1]!.eval];
    return {
      type: 'STRING',
      eval: (c) => {
        const ms = time(c);
        const f = fixed ?? formatterOrNull(format(c));
        return ms === null || !f ? null : f(ms);
      },
    };
  },
  TO_TIMESTAMP: (args, e) => {
    arity(e, args, 1, 2);
    for (const a of args) expectType(a.type, ['STRING'], `the arguments of ${e.name}`, e);
    const parse = timestampParser(args.length === 2 ? constantText(e, 1) : 'yyyy-MM-dd HH:mm:ss', e);
    const text = args[0]!.eval;
    return { type: 'TIMESTAMP', eval: (c) => { const v = text(c); return v === null ? null : parse(v as string); } };
  },
  TO_TIMESTAMP_LTZ: (args, e) => {
    arity(e, args, 1, 2);
    expectType(args[0]!.type, ['INT', 'DECIMAL', 'DOUBLE'], `the epoch time of ${e.name}`, e);
    const precision = args.length === 2 ? constantNumber(e, 1) : 3;
    if (precision !== 0 && precision !== 3) throw sqlError(`${e.name}(…, ${precision}): the precision is 0 (epoch seconds) or 3 (epoch milliseconds)`, e.pos);
    const epoch = converted(args[0]!, { type: 'DOUBLE' });
    return { type: 'TIMESTAMP', eval: (c) => { const v = epoch(c); return v === null ? null : Math.floor((v as number) * (precision === 0 ? 1000 : 1)); } };
  },
  YEAR: (args, e) => timePart(e, args, 'YEAR'),
  MONTH: (args, e) => timePart(e, args, 'MONTH'),
  DAYOFMONTH: (args, e) => timePart(e, args, 'DAY'),
  HOUR: (args, e) => timePart(e, args, 'HOUR'),
  MINUTE: (args, e) => timePart(e, args, 'MINUTE'),
  SECOND: (args, e) => timePart(e, args, 'SECOND'),
  EXTRACT: (args, e) => timePart(e, args.slice(1), constantText(e, 0)),
  // Flink in streaming mode evaluates it for every record: the wall-clock time of the processing, not the event time.
  CURRENT_TIMESTAMP: (args, e) => {
    arity(e, args, 0, 0);
    return { type: 'TIMESTAMP', eval: () => Date.now() };
  },
};
FUNCTIONS.CEILING = FUNCTIONS.CEIL!;
FUNCTIONS.CHARACTER_LENGTH = FUNCTIONS.CHAR_LENGTH!;
FUNCTIONS.SUBSTR = FUNCTIONS.SUBSTRING!;
FUNCTIONS.POW = FUNCTIONS.POWER!;
FUNCTIONS.NOW = FUNCTIONS.CURRENT_TIMESTAMP!;
FUNCTIONS.LOCALTIMESTAMP = FUNCTIONS.CURRENT_TIMESTAMP!;

/** PROCTIME() is a time attribute for windows only: as a value it would be the container's clock, which a replayed batch does not see again. */
export const PROCTIME_ONLY_IN_WINDOWS =
  "PROCTIME() is supported as the time of a window only — declare it in a view (SELECT *, PROCTIME() AS p FROM t) and window on it: TUMBLE(TABLE v, DESCRIPTOR(p), …) or GROUP BY TUMBLE(p, …)";

/** The names of the scalar functions (for docs and messages). */
export const SCALAR_FUNCTIONS: readonly string[] = Object.keys(FUNCTIONS).sort();

/** A call of a scalar function, type-checked on its compiled arguments. */
export function compileFunction<C>(e: CallExpr, args: readonly Compiled<C>[]): Compiled<C> {
  const definition = FUNCTIONS[e.name];
  if (!definition) {
    if (e.name === 'PROCTIME') throw sqlError(PROCTIME_ONLY_IN_WINDOWS, e.pos);
    throw sqlError(`the function ${e.name} is not supported — see docs/sql.md for the functions there are (COUNT, SUM, MIN, MAX, AVG, CASE, CAST, ${['COALESCE', 'UPPER', 'SUBSTRING', 'DATE_FORMAT'].join(', ')}, …)`, e.pos);
  }
  if (e.distinct || e.star) throw sqlError(`${e.name} takes no ${e.star ? '*' : 'DISTINCT'}`, e.pos);
  return definition(args as readonly Compiled<unknown>[], e) as Compiled<C>;
}

function arity(e: CallExpr, args: readonly unknown[], min: number, max: number): void {
  if (args.length >= min && args.length <= max) return;
  const wanted = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
  throw sqlError(`${e.name} takes ${wanted} argument${wanted === '1' ? '' : 's'}, found ${args.length}`, e.pos);
}

function meet(args: readonly Typed[], e: CallExpr): Typed {
  const type = commonType(args);
  if (!type) throw sqlError(`the arguments of ${e.name} have types that do not meet: ${args.map((a) => a.type).join(', ')} — CAST them to one type`, e.pos);
  return type;
}

/** A function of string arguments giving a string; NULL when any argument is NULL. */
function strings(e: CallExpr, args: readonly Compiled<unknown>[], min: number, max: number, apply: (values: string[]) => SqlValue): Compiled<unknown> {
  arity(e, args, min, max);
  for (const a of args) expectType(a.type, ['STRING'], `the arguments of ${e.name}`, e);
  const values = args.map((a) => a.eval);
  return {
    type: 'STRING',
    eval: (c) => {
      const vs = values.map((v) => v(c));
      return vs.some((v) => v === null) ? null : apply(vs as string[]);
    },
  };
}

/** The text of a literal argument (EXTRACT's unit, TRIM's mode, a format). */
function constantText(e: CallExpr, index: number): string {
  const a = e.args[index];
  if (a?.kind !== 'literal' || typeof a.value !== 'string') throw sqlError(`${e.name} needs a literal text as its argument ${index + 1}, as in '${e.name === 'TO_TIMESTAMP' ? 'yyyy-MM-dd HH:mm:ss' : '…'}'`, a?.pos ?? e.pos);
  return a.value;
}

function constantNumber(e: CallExpr, index: number): number {
  const a = e.args[index];
  if (a?.kind !== 'literal' || typeof a.value !== 'number') throw sqlError(`${e.name} takes a literal whole number as argument ${index + 1}, as in ROUND(x, 2)`, a?.pos ?? e.pos);
  return a.value;
}

function trim(s: string, chars: string, leading: boolean, trailing: boolean): string {
  const set = new Set([...chars]);
  const cs = [...s];
  let start = 0;
  let end = cs.length;
  while (leading && start < end && set.has(cs[start]!)) start++;
  while (trailing && end > start && set.has(cs[end - 1]!)) end--;
  return cs.slice(start, end).join('');
}

/** SQL's SUBSTRING on code points: 1-based; 0 is the first character, a negative start counts from the end (Flink). */
function substring(s: string, start: number, length: number): string {
  const cs = [...s];
  const from = start > 0 ? start - 1 : start < 0 ? cs.length + start : 0;
  const to = from + length;
  return cs.slice(Math.max(from, 0), Math.max(to, 0)).join('');
}

const compileRegex = (pattern: SqlValue): RegExp | undefined => {
  if (typeof pattern !== 'string') return undefined;
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return undefined;
  }
};

/** A literal pattern checked when the query compiles; undefined when the pattern is computed per row. */
function regexOf(e: CallExpr, index: number): RegExp | undefined {
  const a = e.args[index];
  if (a?.kind !== 'literal' || typeof a.value !== 'string') return undefined;
  const regex = compileRegex(a.value);
  if (!regex) throw sqlError(`${e.name}: '${a.value}' is not a valid regular expression`, a.pos ?? e.pos);
  return regex;
}

function numeric(e: CallExpr, args: readonly Compiled<unknown>[], apply: (v: number | bigint) => number | bigint): Compiled<unknown> {
  arity(e, args, 1, 1);
  const arg = args[0]!;
  expectType(arg.type, ['INT', 'DECIMAL', 'DOUBLE'], `the argument of ${e.name}`, e);
  const value = arg.eval;
  return { ...arg, eval: (c) => { const v = value(c); return v === null ? null : apply(v as number | bigint); } };
}

/** FLOOR, CEIL and ROUND(x[, digits]): HALF_UP, as Flink; on a DECIMAL the result type has the digits kept (findRoundDecimalType). */
function roundTo(e: CallExpr, args: readonly Compiled<unknown>[], mode: 'floor' | 'ceil' | 'round'): Compiled<unknown> {
  arity(e, args, 1, mode === 'round' ? 2 : 1);
  const arg = args[0]!;
  if (arg.type === 'TIMESTAMP') throw sqlError(`${e.name} of a TIMESTAMP is not supported — DATE_FORMAT or EXTRACT the part you need`, e.pos);
  expectType(arg.type, ['INT', 'DECIMAL', 'DOUBLE'], `the argument of ${e.name}`, e);
  const digits = args.length === 2 ? constantNumber(e, 1) : 0;
  const value = arg.eval;
  const lift = (f: (v: SqlValue) => SqlValue): Compiled<unknown>['eval'] => (c) => { const v = value(c); return v === null ? null : f(v); };
  if (arg.type === 'DECIMAL') {
    const from = decimalOf(arg);
    const keep = Math.min(digits, from.scale);
    const type: DecimalType =
      digits >= from.scale ? from : { precision: Math.min(38, 1 + from.precision - from.scale + Math.max(keep, 0)), scale: Math.max(keep, 0) };
    const step = 10n ** BigInt(from.scale - keep);
    return {
      type: 'DECIMAL',
      decimal: type,
      eval: lift((v) => {
        const x = v as bigint;
        let whole = x / step; // toward zero
        const rest = x - whole * step;
        if (mode === 'floor' && rest < 0n) whole -= 1n;
        else if (mode === 'ceil' && rest > 0n) whole += 1n;
        else if (mode === 'round' && (rest < 0n ? -rest : rest) * 2n >= step) whole += rest < 0n ? -1n : 1n;
        // Back at the result's scale: a negative `keep` leaves zeros in place of the dropped integer digits.
        return fit(keep < 0 ? whole * 10n ** BigInt(-keep) : rescale(whole, keep, type.scale), type);
      }),
    };
  }
  const rounding = mode === 'floor' ? Math.floor : mode === 'ceil' ? Math.ceil : (x: number): number => Math.sign(x) * Math.round(Math.abs(x));
  // Shifting by powers of ten on the value's decimal text, so ROUND(2.675, 2) is 2.68 as BigDecimal gives.
  const shift = (x: number, by: number): number => (/e/i.test(String(x)) ? x * 10 ** by : Number(`${x}e${by}`));
  return { ...arg, eval: lift((v) => (digits === 0 ? rounding(v as number) : shift(rounding(shift(v as number, digits)), -digits))) };
}

/** A TIMESTAMP argument (or a STRING, read as Flink reads one: 'yyyy-MM-dd HH:mm:ss[.SSS]') as epoch ms. */
function timeOf(arg: Compiled<unknown>): (c: unknown) => number | null {
  const value = arg.eval;
  if (arg.type === 'STRING') return (c) => { const v = value(c); return v === null ? null : timestampMs(v) ?? null; };
  return (c) => value(c) as number | null;
}

const TIME_PARTS: Record<string, (d: Date) => number> = {
  YEAR: (d) => d.getUTCFullYear(),
  QUARTER: (d) => Math.floor(d.getUTCMonth() / 3) + 1,
  MONTH: (d) => d.getUTCMonth() + 1,
  DAY: (d) => d.getUTCDate(),
  HOUR: (d) => d.getUTCHours(),
  MINUTE: (d) => d.getUTCMinutes(),
  SECOND: (d) => d.getUTCSeconds(),
  // Sunday is 1, as in Flink (Calcite).
  DOW: (d) => d.getUTCDay() + 1,
  DOY: (d) => Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1,
};

/** HOUR(t), EXTRACT(HOUR FROM t) and the like, in UTC (TIMESTAMP has no zone: its wall clock is UTC here). */
function timePart(e: CallExpr, args: readonly Compiled<unknown>[], unit: string): Compiled<unknown> {
  const part = TIME_PARTS[unit.toUpperCase()];
  if (!part) throw sqlError(`EXTRACT(${unit} FROM …) is not supported — the units are ${Object.keys(TIME_PARTS).join(', ')}`, e.pos);
  arity(e, args, 1, 1);
  expectType(args[0]!.type, ['TIMESTAMP'], `the argument of ${e.name}`, e);
  const time = args[0]!.eval;
  return { type: 'INT', decimal: { precision: 19, scale: 0 }, eval: (c) => { const ms = time(c); return ms === null ? null : part(new Date(ms as number)); } };
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** Java SimpleDateFormat letters DATE_FORMAT knows, each by its run of letters. */
const FORMAT_LETTERS: Record<string, (d: Date, run: number) => string> = {
  y: (d, run) => (run === 2 ? pad(d.getUTCFullYear() % 100, 2) : pad(d.getUTCFullYear(), run)),
  M: (d, run) => (run >= 4 ? MONTHS[d.getUTCMonth()]! : run === 3 ? MONTHS[d.getUTCMonth()]!.slice(0, 3) : pad(d.getUTCMonth() + 1, run)),
  d: (d, run) => pad(d.getUTCDate(), run),
  D: (d, run) => pad(TIME_PARTS.DOY!(d), run),
  E: (d, run) => (run >= 4 ? DAYS[d.getUTCDay()]! : DAYS[d.getUTCDay()]!.slice(0, 3)),
  a: (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
  H: (d, run) => pad(d.getUTCHours(), run),
  h: (d, run) => pad(d.getUTCHours() % 12 || 12, run),
  m: (d, run) => pad(d.getUTCMinutes(), run),
  s: (d, run) => pad(d.getUTCSeconds(), run),
  S: (d, run) => pad(d.getUTCMilliseconds(), run),
};

type Piece = { text: string } | { letter: string; run: number };

/** A SimpleDateFormat pattern's pieces: letter runs and literal text ('quoted', '' for a quote); a problem names the letter. */
function formatPieces(pattern: string): Piece[] | string {
  const pieces: Piece[] = [];
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i]!;
    if (c === "'") {
      const end = pattern.indexOf("'", i + 1);
      if (end === i + 1) pieces.push({ text: "'" });
      else if (end === -1) return `the quote at position ${i + 1} is not closed`;
      else pieces.push({ text: pattern.slice(i + 1, end) });
      i = end + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let run = 1;
      while (pattern[i + run] === c) run++;
      if (!FORMAT_LETTERS[c]) return `the letter ${c} is not supported (supported: ${Object.keys(FORMAT_LETTERS).join(' ')}; quote text: 'T')`;
      pieces.push({ letter: c, run });
      i += run;
    } else {
      pieces.push({ text: c });
      i++;
    }
  }
  return pieces;
}

function dateFormatter(pattern: string, e: CallExpr): (ms: number) => string {
  const pieces = formatPieces(pattern);
  if (typeof pieces === 'string') throw sqlError(`${e.name} format '${pattern}': ${pieces}`, e.args[1]?.pos ?? e.pos);
  return formatWith(pieces);
}

const formatWith = (pieces: readonly Piece[]) => (ms: number): string => {
  const d = new Date(ms);
  return pieces.map((p) => ('text' in p ? p.text : FORMAT_LETTERS[p.letter]!(d, p.run))).join('');
};

function formatterOrNull(pattern: SqlValue): ((ms: number) => string) | undefined {
  if (typeof pattern !== 'string') return undefined;
  const pieces = formatPieces(pattern);
  return typeof pieces === 'string' ? undefined : formatWith(pieces);
}

/** TO_TIMESTAMP's parser for a SimpleDateFormat pattern of y M d H m s S and literal text; NULL when the text does not match. */
function timestampParser(pattern: string, e: CallExpr): (text: string) => number | null {
  const pieces = formatPieces(pattern);
  const fields = ['y', 'M', 'd', 'H', 'm', 's', 'S'];
  if (typeof pieces === 'string' || pieces.some((p) => 'letter' in p && !fields.includes(p.letter))) {
    throw sqlError(`${e.name} format '${pattern}': ${typeof pieces === 'string' ? pieces : `parsing supports the letters ${fields.join(' ')}`}`, e.args[1]?.pos ?? e.pos);
  }
  const order: string[] = [];
  const source = pieces
    .map((p) => {
      if ('text' in p) return p.text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
      order.push(p.letter);
      return p.letter === 'y' && p.run !== 2 ? '(\\d{4})' : p.letter === 'S' ? `(\\d{1,${Math.max(p.run, 3)}})` : `(\\d{1,${Math.max(p.run, 2)}})`;
    })
    .join('');
  const regex = new RegExp(`^${source}$`);
  return (text) => {
    const m = regex.exec(text.trim());
    if (!m) return null;
    const v: Record<string, number> = { y: 1970, M: 1, d: 1, H: 0, m: 0, s: 0, S: 0 };
    order.forEach((letter, i) => (v[letter] = Number(m[i + 1])));
    const ms = Date.UTC(v.y!, v.M! - 1, v.d!, v.H!, v.m!, v.s!, v.S!);
    // A date that rolled over (February 30th) is not a date.
    return new Date(ms).getUTCDate() === v.d && new Date(ms).getUTCMonth() === v.M! - 1 ? ms : null;
  };
}

// ——— CAST ———

const TIMESTAMP_TEXT = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/** Java's Double.toString for the common cases: 1.0, 0.5, 1.0E10. */
function javaDouble(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e7) return `${n}.0`;
  if (Math.abs(n) >= 1e7 || (n !== 0 && Math.abs(n) < 1e-3)) {
    const [mantissa, exponent] = n.toExponential().split('e');
    return `${mantissa!.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
  }
  return String(n);
}

/** How a non-NULL value of one type becomes the target type; `undefined` result: it cannot (CAST fails). */
function castConversion(from: Typed, to: Typed): ((v: SqlValue) => SqlValue | undefined) | string {
  const numericTo = numericConversion(from, to);
  if (numericTo) return numericTo;
  if (from.type === to.type) return (v) => v;
  switch (to.type) {
    case 'STRING':
      switch (from.type) {
        case 'DECIMAL':
          return (v) => decimalText(v as bigint, decimalOf(from).scale);
        case 'DOUBLE':
          return (v) => javaDouble(v as number);
        case 'BOOLEAN':
          return (v) => (v ? 'TRUE' : 'FALSE');
        case 'TIMESTAMP':
          return (v) => TIMESTAMP_TEXT(v as number);
        default:
          return (v) => String(v);
      }
    case 'INT':
    case 'DECIMAL':
    case 'DOUBLE': {
      if (from.type === 'BOOLEAN') return (v) => (to.type === 'DECIMAL' ? rescale(v ? 1n : 0n, 0, decimalOf(to).scale) : v ? 1 : 0);
      if (from.type !== 'STRING') break;
      return (v) => {
        const text = (v as string).trim();
        if (to.type === 'INT') return /^[+-]?\d+$/.test(text) ? Number(text) : undefined;
        if (to.type === 'DOUBLE') return text !== '' && Number.isFinite(Number(text)) ? Number(text) : undefined;
        const t = decimalOf(to);
        const unscaled = parseDecimal(text, t.scale);
        // Too many digits for the type is NULL, as Flink's CAST to DECIMAL.
        return unscaled === undefined ? undefined : fit(unscaled, t);
      };
    }
    case 'BOOLEAN':
      if (from.type === 'INT') return (v) => v !== 0;
      if (from.type === 'STRING') return (v) => ({ true: true, t: true, yes: true, y: true, '1': true, false: false, f: false, no: false, n: false, '0': false })[(v as string).trim().toLowerCase()];
      break;
    case 'TIMESTAMP':
      if (from.type === 'STRING') return (v) => timestampMs(v);
      if (isNumericType(from.type)) return 'CAST of a number to TIMESTAMP is not supported (as in Flink) — use TO_TIMESTAMP_LTZ(epoch, 3) for epoch milliseconds';
      break;
  }
  return `CAST from ${from.type} to ${to.type} is not supported`;
}

const isNumericType = (t: SqlType): boolean => t === 'INT' || t === 'DECIMAL' || t === 'DOUBLE';

/** CAST(value AS type): a value that does not convert sends the record to the dead letters; TRY_CAST gives NULL. */
export function castTo<C>(value: Compiled<C>, to: Typed, e: Extract<Expr, { kind: 'cast' }>): Compiled<C> {
  if (to.type === 'DECIMAL' && !to.decimal) to = { type: 'DECIMAL', decimal: { precision: 10, scale: 0 } };
  if (value.type === 'NULL') return { ...to, eval: () => null };
  const convert = castConversion(value, to);
  if (typeof convert === 'string') throw sqlError(convert, e.pos);
  const inner = value.eval;
  const safe = e.safe;
  return {
    ...to,
    eval: (c) => {
      const v = inner(c);
      if (v === null) return null;
      const out = convert(v);
      if (out !== undefined) return out;
      if (safe) return null;
      throw new RowError(`CAST(${JSON.stringify(typeof v === 'bigint' ? String(v) : v)} AS ${e.declared}) failed: not a valid ${e.declared} (TRY_CAST gives NULL instead)`);
    },
  };
}
