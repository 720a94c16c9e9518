/**
 * The Table API: Flink's fluent relational API for the same subset as the SQL, compiled through the
 * same logical query (`query.ts`) to the same job. Conditions and select lists are SQL expression
 * strings or built with `$`:
 *
 *   from(clicks).where('clicks > 0').window(Tumble.over('5s').on('ts').as('w'))
 *     .groupBy('w', 'userId').select('userId', $('w').end(), $('clicks').sum().as('clicks'))
 *     .insertInto(dynamoSink('click-counts'))
 */
import type { JobDefinition } from '../api/graph';
import type { SinkSpec } from '../api/sink';
import { toMs, type Duration } from '../time/duration';
import type { BinaryOp, Expr, SelectItem, WindowSpec } from './ast';
import { compileQuery } from './compile';
import { parseExpression, parseSelectItems } from './parser';
import type { LogicalQuery, SourceTable } from './query';
import { SqlError } from './sql-error';
import { jobNameFromTable } from './statements';
import { declaredDecimal, typeOf, type Column } from './types';
import { substituteColumns } from './views';

/** Options of {@link kinesisTable}. */
export interface KinesisTableOptions {
  /** The stream; default: the table's name. */
  stream?: string;
  /** Column name → SQL type ('STRING', 'INT', 'BIGINT', 'DOUBLE', 'BOOLEAN', 'TIMESTAMP(3)', … with ' NOT NULL' if needed). */
  columns: Record<string, string>;
  /** The event-time column (TIMESTAMP) and how late its events may be: WATERMARK FOR column AS column - outOfOrderness. */
  watermark?: { column: string; outOfOrderness?: Duration };
  /** A shard silent this long stops holding the watermark back (Flink's idle timeout). */
  idleAfter?: Duration;
  /** Shards of the stream when shardflow creates it. */
  shards?: number;
}

/** A Kinesis table of JSON records: what `from(...)` reads. */
export interface TableSource {
  readonly kind: 'table-source';
  readonly table: SourceTable;
}

/**
 * Declares a Kinesis table, as CREATE TABLE … WITH ('connector' = 'kinesis') does.
 * @example kinesisTable('clicks', { columns: { userId: 'STRING', clicks: 'INT', ts: 'TIMESTAMP(3)' }, watermark: { column: 'ts', outOfOrderness: '2s' } })
 */
export function kinesisTable(name: string, options: KinesisTableOptions): TableSource {
  const columns: Column[] = Object.entries(options.columns).map(([column, declared]) => {
    const m = /^\s*([A-Za-z_]+)\s*(\([^)]*\))?\s*(NOT\s+NULL)?\s*$/i.exec(declared);
    const type = m ? typeOf(m[1]!) : undefined;
    const params = m?.[2] ? m[2].slice(1, -1).split(',').map(Number) : [];
    const decimal = m ? declaredDecimal(m[1]!, params) : undefined;
    if (!m || !type || (type === 'DECIMAL' && !decimal)) {
      throw new SqlError(`column ${column}: '${declared}' is not a supported type — use STRING, INT, BIGINT, DOUBLE, DECIMAL(p, s), BOOLEAN or TIMESTAMP(3)`, 0, 0, `kinesisTable('${name}')`);
    }
    return { name: column, type, declared: `${m[1]!.toUpperCase()}${m[2] ?? ''}`, notNull: m[3] !== undefined, decimal };
  });
  const watermark = options.watermark;
  if (watermark) {
    const col = columns.find((c) => c.name === watermark.column);
    if (col?.type !== 'TIMESTAMP') throw new SqlError(`the watermark column ${watermark.column} is not a TIMESTAMP column of the table`, 0, 0, `kinesisTable('${name}')`);
  }
  return {
    kind: 'table-source',
    table: {
      name,
      stream: options.stream ?? name,
      columns,
      rowtime: watermark && { column: watermark.column, outOfOrdernessMs: toMs(watermark.outOfOrderness ?? 0) },
      idleAfterMs: options.idleAfter === undefined ? undefined : toMs(options.idleAfter),
      shards: options.shards,
    },
  };
}

/** An expression of the Table API: `$('clicks').sum().as('clicks')`, `$('price').isGreater(10)`. */
export class Expression {
  /** @internal */
  constructor(
    readonly expr: Expr,
    readonly alias?: string,
  ) {}

  /** Names the column in the result. */
  as(alias: string): Expression {
    return new Expression(this.expr, alias);
  }

  plus(other: Operand): Expression { return this.binary('+', other); }
  minus(other: Operand): Expression { return this.binary('-', other); }
  times(other: Operand): Expression { return this.binary('*', other); }
  dividedBy(other: Operand): Expression { return this.binary('/', other); }
  mod(other: Operand): Expression { return this.binary('%', other); }
  isEqual(other: Operand): Expression { return this.binary('=', other); }
  isNotEqual(other: Operand): Expression { return this.binary('<>', other); }
  isGreater(other: Operand): Expression { return this.binary('>', other); }
  isGreaterOrEqual(other: Operand): Expression { return this.binary('>=', other); }
  isLess(other: Operand): Expression { return this.binary('<', other); }
  isLessOrEqual(other: Operand): Expression { return this.binary('<=', other); }
  /** Both conditions; a string is a SQL condition here (`"clicks > 1"`), not a value. */
  and(other: Expression | string): Expression { return this.binary('AND', condition(other, 'and')); }
  /** Either condition; a string is a SQL condition here, not a value. */
  or(other: Expression | string): Expression { return this.binary('OR', condition(other, 'or')); }
  not(): Expression { return new Expression({ kind: 'unary', op: 'NOT', operand: this.expr }); }
  like(pattern: string): Expression { return new Expression({ kind: 'like', negated: false, value: this.expr, pattern: literal(pattern) }); }
  isNull(): Expression { return new Expression({ kind: 'isNull', negated: false, value: this.expr }); }
  isNotNull(): Expression { return new Expression({ kind: 'isNull', negated: true, value: this.expr }); }
  in(...values: Operand[]): Expression { return new Expression({ kind: 'in', negated: false, value: this.expr, list: values.map(operand) }); }
  between(low: Operand, high: Operand): Expression {
    return new Expression({ kind: 'between', negated: false, value: this.expr, low: operand(low), high: operand(high) });
  }

  count(): Expression { return this.aggregate('COUNT'); }
  sum(): Expression { return this.aggregate('SUM'); }
  min(): Expression { return this.aggregate('MIN'); }
  max(): Expression { return this.aggregate('MAX'); }
  avg(): Expression { return this.aggregate('AVG'); }
  /** Makes an aggregate count, sum or average distinct values: `$('userId').count().distinct()`. */
  distinct(): Expression {
    if (this.expr.kind !== 'call') throw new SqlError('distinct() follows an aggregate: $(column).count().distinct()', 0, 0, 'Table API');
    return new Expression({ ...this.expr, distinct: true }, this.alias);
  }

  /** The window's start (on the window's alias: `$('w').start()`). */
  start(): Expression { return this.windowProperty('start'); }
  /** The window's end (exclusive). */
  end(): Expression { return this.windowProperty('end'); }
  /** The window's last timestamp (end − 1). */
  rowtime(): Expression { return this.windowProperty('rowtime'); }

  private binary(op: BinaryOp, other: Operand): Expression {
    return new Expression({ kind: 'binary', op, left: this.expr, right: operand(other) });
  }
  private aggregate(name: string): Expression {
    const star = this.expr.kind === 'column' && this.expr.name === '*';
    return new Expression({ kind: 'call', name, args: star ? [] : [this.expr], distinct: false, star });
  }
  private windowProperty(property: 'start' | 'end' | 'rowtime'): Expression {
    return new Expression({ kind: 'windowProperty', property, windowAlias: this.expr.kind === 'column' ? this.expr.name : undefined });
  }
}

type Operand = Expression | string | number | boolean | null;

const literal = (v: string | number | boolean | null): Expr =>
  v === null ? { kind: 'literal', type: 'NULL', value: null }
  : typeof v === 'string' ? { kind: 'literal', type: 'STRING', value: v }
  : typeof v === 'boolean' ? { kind: 'literal', type: 'BOOLEAN', value: v }
  : { kind: 'literal', type: Number.isInteger(v) ? 'INT' : 'DOUBLE', value: v };

const condition = (c: Expression | string, call: string): Expression => (typeof c === 'string' ? new Expression(parse(c, call)) : c);

/** In a method argument, a string is a value ('ann'), not a column: use $('name') for a column. */
const operand = (v: Operand): Expr => (v instanceof Expression ? v.expr : literal(v));

/**
 * A column (or `$('*')` for COUNT(*), or a window alias for `.start()` / `.end()`).
 * @example $('clicks').sum().as('clicks')
 */
export const $ = (name: string): Expression => new Expression({ kind: 'column', name });

/** A literal value. */
export const lit = (value: string | number | boolean | null): Expression => new Expression(literal(value));

/** A group window, as `.window(...)` takes it. */
export interface GroupWindow {
  readonly window: Omit<WindowSpec, 'timeColumn'> & { timeColumn: string | undefined };
  readonly alias: string | undefined;
  /** The event-time column the window is on. */
  on(timeColumn: string | Expression): GroupWindow;
  /** The name `$('w').start()` refers to. */
  as(alias: string): GroupWindow;
}

function groupWindow(window: GroupWindow['window'], alias?: string): GroupWindow {
  return {
    window,
    alias,
    on: (time) => groupWindow({ ...window, timeColumn: time instanceof Expression ? columnName(time, 'on(…)') : time }, alias),
    as: (a) => groupWindow(window, a),
  };
}

const baseWindow = { timeColumn: undefined, sizeMs: 0, slideMs: 0, gapMs: 0, partitionBy: [] };

/** Tumbling windows: `Tumble.over('5s').on('ts').as('w')`. */
export const Tumble = {
  over: (size: Duration): GroupWindow => groupWindow({ ...baseWindow, kind: 'TUMBLE', sizeMs: toMs(size) }),
};
/** Sliding (hopping) windows: `Slide.over('10s').every('2s').on('ts').as('w')`. */
export const Slide = {
  over: (size: Duration) => ({
    every: (slide: Duration): GroupWindow => groupWindow({ ...baseWindow, kind: 'HOP', sizeMs: toMs(size), slideMs: toMs(slide) }),
  }),
};
/** Session windows per key: `Session.withGap('30s').on('ts').as('w')`. */
export const Session = {
  withGap: (gap: Duration): GroupWindow => groupWindow({ ...baseWindow, kind: 'SESSION', gapMs: toMs(gap) }),
};

/** Options of `insertInto`. */
export interface InsertOptions {
  /** The job's name; default: the sink's name with _ as -. */
  job?: string;
}

interface Parts {
  readonly source: SourceTable;
  readonly where?: Expr | undefined;
  readonly window?: GroupWindow | undefined;
  readonly groupBy: readonly Expr[];
  readonly select: readonly SelectItem[];
  readonly having?: Expr | undefined;
}

/**
 * Starts a Table API query on a Kinesis table.
 * @example from(clicks).where("userId LIKE 'user-%'").select('userId', 'clicks').insertInto(kinesisSink('big-clicks'))
 */
export function from(source: TableSource): Table {
  return new Table({ source: source.table, groupBy: [], select: [{ expr: { kind: 'star' } }] });
}

/** A table: rows of the source, filtered. */
export class Table {
  /** @internal */
  constructor(private readonly parts: Parts) {}

  /** Keeps the rows for which the condition is TRUE (SQL's WHERE). */
  where(condition: string | Expression): Table {
    return new Table({ ...this.parts, where: and(this.parts.where, condition, 'where') });
  }
  /** The same as `where`. */
  filter(condition: string | Expression): Table {
    return this.where(condition);
  }
  /** Cuts the rows into event-time windows; then `groupBy(...)` and `select(...)` aggregate them. */
  window(window: GroupWindow): WindowedTable {
    if (!window.window.timeColumn) throw new SqlError(`the ${window.window.kind} window has no time column: add .on('ts')`, 0, 0, 'Table API');
    return new WindowedTable({ ...this.parts, window });
  }
  /** Projects the rows (no aggregates: those need a window). */
  select(...fields: (string | Expression)[]): ResultTable {
    return new ResultTable({ ...this.parts, select: selectItems(fields) });
  }
  /** Writes every row (all columns) to the sink. */
  insertInto(sink: SinkSpec, options: InsertOptions = {}): JobDefinition {
    return compileParts(this.parts, sink, options);
  }
}

/** A table cut into windows, waiting for its group keys (Flink's GroupWindowedTable). */
export class WindowedTable {
  /** @internal */
  constructor(private readonly parts: Parts) {}

  /** The group keys: columns, and the window's alias (as Flink writes it; optional here). */
  groupBy(...keys: (string | Expression)[]): GroupedTable {
    const alias = this.parts.window?.alias;
    const groupBy = keys
      .flatMap((k) => (typeof k === 'string' ? k.split(',').map((s) => s.trim()).filter(Boolean).map((s) => parse(s, 'groupBy')) : [k.expr]))
      .filter((e) => !(e.kind === 'column' && e.name === alias));
    return new GroupedTable({ ...this.parts, groupBy });
  }
}

/** A windowed table grouped by keys, waiting for its select list (Flink's WindowGroupedTable). */
export class GroupedTable {
  /** @internal */
  constructor(private readonly parts: Parts) {}

  /** The result's columns: group keys, aggregates, the window's start and end. */
  select(...fields: (string | Expression)[]): ResultTable {
    return new ResultTable({ ...this.parts, select: selectItems(fields, this.parts.window?.alias) });
  }
}

/** A query's result, ready for a sink. */
export class ResultTable {
  /** @internal */
  constructor(private readonly parts: Parts) {}

  /**
   * Keeps the result rows for which the condition is TRUE; the condition may use the result's column
   * names (after a windowed select it is SQL's HAVING).
   */
  where(condition: string | Expression): ResultTable {
    const parsed = typeof condition === 'string' ? parse(condition, 'where') : condition.expr;
    const select = this.parts.select;
    const aliases = new Map(select.flatMap((i) => (i.alias ? [[i.alias, i.expr] as const] : [])));
    // Result column names become their expressions, so a condition on the result is a HAVING.
    const expanded = substituteColumns(parsed, (c) => (c.qualifier === undefined && aliases.get(c.name)) || c);
    if (this.parts.window) return new ResultTable({ ...this.parts, having: and(this.parts.having, new Expression(expanded), 'where') });
    return new ResultTable({ ...this.parts, where: and(this.parts.where, new Expression(expanded), 'where') });
  }
  filter(condition: string | Expression): ResultTable {
    return this.where(condition);
  }
  /** The job: this query writing to the sink. */
  insertInto(sink: SinkSpec, options: InsertOptions = {}): JobDefinition {
    return compileParts(this.parts, sink, options);
  }
}

function parse(text: string, call: string): Expr {
  try {
    return parseExpression(text);
  } catch (e) {
    if (e instanceof SqlError) throw e.inFile(`${call}('${text}')`);
    throw e;
  }
}

function and(existing: Expr | undefined, condition: string | Expression, call: string): Expr {
  const next = typeof condition === 'string' ? parse(condition, call) : condition.expr;
  return existing ? { kind: 'binary', op: 'AND', left: existing, right: next } : next;
}

function columnName(e: Expression, call: string): string {
  if (e.expr.kind !== 'column') throw new SqlError(`${call} takes a column`, 0, 0, 'Table API');
  return e.expr.name;
}

function selectItems(fields: readonly (string | Expression)[], windowAlias?: string): SelectItem[] {
  return fields.flatMap((f): SelectItem[] => {
    if (typeof f !== 'string') {
      const alias = f.expr.kind === 'windowProperty' ? f.expr.windowAlias : undefined;
      if (alias !== undefined && alias !== windowAlias) {
        throw new SqlError(`$('${alias}') is not the window: the window is ${windowAlias ? `'${windowAlias}'` : 'unnamed (name it with .as(…))'}`, 0, 0, 'Table API');
      }
      return [{ expr: f.expr, alias: f.alias }];
    }
    try {
      return parseSelectItems(f);
    } catch (e) {
      if (e instanceof SqlError) throw e.inFile(`select('${f}')`);
      throw e;
    }
  });
}

function compileParts(parts: Parts, sink: SinkSpec, options: InsertOptions): JobDefinition {
  const w = parts.window;
  const query: LogicalQuery = {
    jobName: options.job ?? jobNameFromTable(sink.name),
    source: parts.source,
    where: parts.where,
    window: w && { ...w.window, timeColumn: w.window.timeColumn!, form: 'table-api' },
    groupBy: parts.groupBy,
    grouped: w !== undefined,
    select: parts.select,
    having: parts.having,
    sink: { name: sink.name, sink, columns: [] },
  };
  try {
    return compileQuery(query);
  } catch (e) {
    if (e instanceof SqlError && !e.file) throw e.inFile('Table API');
    throw e;
  }
}
