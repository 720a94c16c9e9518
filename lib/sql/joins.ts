/**
 * Joins of two tables, compiled onto the DataStream API's two-input keyed stages. The condition (ON, and
 * WHERE for an inner join) is read for what partitions and bounds the join, and the whole of it is still
 * applied to each joined row afterwards (so what is read here decides only where rows meet and how long they
 * are kept, never which pairs are results). An outer join (LEFT, RIGHT, FULL) is one whose ON decides which
 * pairs match, in the join itself, and whose WHERE filters its rows afterwards (on keys alone it updates; an
 * outer interval or window join pads a row once no match can come, append-only):
 *
 * - equalities of the two sides' columns (`A.seller = P.id`) are the key both sides are shuffled by;
 * - conditions on one side only (`A.category = 10`) filter that side before the shuffle, so its
 *   rows are neither sent nor kept when they cannot join (an outer join's preserved side's rows all go on,
 *   those that cannot match marked to be sent with NULLs);
 * - bounds on the two event-time columns (`B.ts BETWEEN A.ts - INTERVAL '5' MINUTE AND A.ts`) make an
 *   interval join: each side kept until the watermark passes the last time it can still match;
 * - both sides `TABLE(TUMBLE(…))` (or HOP) with equal window_start and window_end make a window join;
 * - both sides window aggregations over the same window, their window columns equal (Nexmark q8), make a
 *   window join of their results;
 * - otherwise a regular join keeps both sides per key, for `table.exec.state.ttl` when it is set.
 *
 * Each side's rows cross the shuffle as `{ k: key, r: row }`, the row's columns named `alias.column`,
 * DECIMALs as their text (as group keys cross it): the joined row is both rows' fields together. An outer
 * join's rows are changes (Flink's StreamingJoinOperator): a preserved side's row without a match is sent
 * with the other side's columns absent (NULL), `+I`, and taken back, `-D`, when its first match comes; the
 * joined row then carries its change kind in `op` and the join key in `key`.
 */
import type { DataStream, JobBuilder } from '../api/builder';
import type { KeyedContext } from '../api/functions';
import type { StateDescriptor } from '../api/state';
import { listState } from '../api/state';
import { sliding, tumbling } from '../api/windows';
import type { Expr, FromClause, SelectItem, SelectQuery, WindowSpec } from './ast';
import { readColumns, tableRecords } from './records';
import { resultWindow } from './result-window';
import { compileExpression, show, startOf, type ColumnExpr, type Compiled, type Scope } from './expressions';
import type { LogicalQuery, SourceTable } from './query';
import { sqlError, type SourcePosition } from './sql-error';
import { substituteColumns } from './views';
import type { Column, SqlValue } from './types';
import { CHANGE_KIND_FIELD, type RowKind } from './changelog';
import { commonType, converted, fromPortable, toPortable } from './values';

type Row = Record<string, SqlValue>;
/** A side's row on its way to the join: the key it meets the other side's rows by, its columns (portable). */
interface Keyed {
  readonly k: string;
  readonly r: Row;
  /** A preserved side's row that can match nothing (its own ON conditions fail, or its key is NULL): sent with NULLs, never kept. */
  readonly lone?: true;
}

/** The field of an outer join's rows that holds the join key: a Kinesis sink keeps a key's changes in order on one shard. */
export const JOIN_KEY_FIELD = 'key';

/** What a join's FROM names resolve through. */
export interface JoinCatalog {
  source(table: string, pos: SourcePosition): SourceTable;
  isView(name: string): boolean;
  /** A subquery as a query of its own (its views inlined), to read its results. */
  subquery(query: SelectQuery): LogicalQuery;
  /** SET 'table.exec.state.ttl': how long a regular join keeps a row (processing time); none: for ever. */
  readonly stateTtlMs?: number | undefined;
}

/** A query's result columns and records, as a join reads an aggregating subquery (compile.ts makes them). */
export interface JoinInput {
  readonly columns: readonly Column[];
  /** Whether its records are changes (+I, -U, +U, -D in `op`) of an updating query, rather than rows. */
  readonly updating: boolean;
  stream(builder: JobBuilder): DataStream<Record<string, unknown>>;
}

/** One input of the join: a table, a window table function over one, or a window aggregation. */
interface Side {
  /** The table read; for an aggregating subquery, its results as a table (no event-time column). */
  readonly table: SourceTable;
  /** The name its columns are qualified with: the alias, else the table's name. */
  readonly name: string;
  readonly window?: WindowSpec | undefined;
  readonly pos: SourcePosition;
  /** Its columns, with window_start, window_end and window_time for a window table function. */
  readonly columns: ReadonlyMap<string, Column>;
  /** The Kinesis stream it reads, and the table it reads it as. */
  readonly stream: string;
  readonly reads: string;
  /** A window aggregation's results: read from its query; `start`/`end` name the result columns that are its window's. */
  readonly aggregate?: { readonly input: JoinInput; readonly window?: WindowSpec | undefined; readonly start?: string; readonly end?: string } | undefined;
}

type SideIndex = 0 | 1;
/** The process operator's context also sends a record at a time of its own (as the DataStream joins use it). */
type TimedContext<S extends Record<string, StateDescriptor>> = KeyedContext<S, Row> & { emitAt(record: Row, timestampMs: number): void };
const WINDOW_COLUMNS = ['window_start', 'window_end', 'window_time'];
const NOT_YET = 'is not supported yet';

/** How the two sides meet. */
type Shape =
  | { readonly kind: 'regular' }
  | { readonly kind: 'interval'; readonly lower: Bound; readonly upper: Bound }
  | { readonly kind: 'window'; readonly window: WindowSpec };
interface Bound {
  readonly ms: number;
  readonly exclusive: boolean;
}

/** `FROM a JOIN b ON …` as one table for the rest of the query: its columns are `alias.column`. */
export class JoinedTables {
  private sides!: readonly [Side, Side];
  /** The key: pairs of expressions of the left and the right side, compiled in each side's row. */
  private readonly keys: { readonly left: Compiled<Row>; readonly right: Compiled<Row> }[] = [];
  /** Each side's own conditions, by side: what a row needs to meet the other side's at all. */
  private readonly filters: [Compiled<Row>[], Compiled<Row>[]] = [[], []];
  private shape!: Shape;
  /** Columns the join itself reads (keys, side filters), by side. */
  private readonly read: [Set<string>, Set<string>] = [new Set(), new Set()];
  /** The joined row as a table, for the compiler: every column as `alias.column` (once prepared). */
  readonly source: SourceTable;
  private results: ((q: LogicalQuery) => JoinInput) | undefined;
  /** The DECIMAL columns of the joined row, carried as text across the shuffle. */
  private decimals: { readonly name: string; readonly value: (v: SqlValue) => SqlValue }[] = [];
  /** LEFT, RIGHT or FULL: whose rows are kept without a match — the left side's, the right side's. */
  private readonly preserved: readonly [boolean, boolean];
  /** An outer join's ON beyond its keys and one-side conditions, over a pair kept by the join: what else a pair needs to match. */
  private pairCondition: Compiled<Row> | undefined;

  constructor(
    private readonly from: Extract<FromClause, { kind: 'join' }>,
    /** ON, and for an inner join WHERE too: everything the pairs must satisfy (an outer join's WHERE filters its rows afterwards). */
    private readonly condition: Expr | undefined,
    private readonly catalog: JoinCatalog,
  ) {
    if (from.type === 'CROSS') throw sqlError(`CROSS JOIN is not supported — it pairs every row with every other row for ever; join ON an equality of the two tables' columns`, from.pos);
    this.preserved = [from.type === 'LEFT' || from.type === 'FULL', from.type === 'RIGHT' || from.type === 'FULL'];
    this.source = { name: `${sideName(from.left)} JOIN ${sideName(from.right)}`, stream: '', columns: [] };
  }

  /** LEFT, RIGHT or FULL. */
  get outer(): boolean {
    return this.preserved.includes(true);
  }

  /**
   * A regular outer join: its rows are changes, `+I` and `-D`, without a unique key. An outer interval or
   * window join is append-only, as in Flink: a row without a match is sent with NULLs once its interval or
   * window has passed, when no match can come any more.
   */
  get updating(): boolean {
    return this.outer && this.shape.kind === 'regular';
  }

  /** `LEFT JOIN` (or RIGHT, FULL, INNER), as the query names it, for messages. */
  get joinType(): string {
    return `${this.from.type} JOIN`;
  }

  /** Where the join is written: its first word. */
  get pos(): SourcePosition {
    return this.from.pos;
  }

  /** Resolves both sides and reads the condition; `results` compiles a subquery a side aggregates in. */
  prepare(results: (q: LogicalQuery) => JoinInput): void {
    if (this.results) return;
    this.results = results;
    const from = this.from;
    const left = this.side(from.left);
    const right = this.side(from.right);
    if (left.name === right.name) throw sqlError(`both sides of the join are named ${left.name}: give one an alias (FROM ${left.table.name} AS a JOIN … AS b)`, from.right.pos);
    // A table joined with itself (Nexmark q7) reads its stream once, fanned out to both sides.
    if (left.stream === right.stream && left.reads !== right.reads) {
      throw sqlError(`${left.reads} and ${right.reads} both read the stream ${left.stream}: a job reads a stream as one table — join ${left.reads} with itself`, from.pos);
    }
    this.sides = [left, right];
    this.decimals = ([0, 1] as const).flatMap((i) =>
      [...this.sides[i].columns.values()].filter((c) => c.type === 'DECIMAL').map((c) => ({ name: `${this.sides[i].name}.${c.name}`, value: fromPortable(c) })),
    );
    this.shape = this.analyse(conjuncts(this.condition), from.pos);
  }

  // ——— FROM ———

  private side(from: FromClause): Side {
    if (from.kind === 'join') throw sqlError(`a join of more than two tables ${NOT_YET} — join two tables per query`, from.pos);
    if (from.kind === 'subquery') return this.subquerySide(from.query, from.alias, from.pos);
    const table = from.kind === 'table' ? from.name : from.table;
    if (this.catalog.isView(table)) throw sqlError(`a view (${table}) as an input of a join ${NOT_YET} — join its table and repeat its conditions in WHERE`, from.pos);
    const source = this.catalog.source(table, from.pos);
    const window = from.kind === 'windowTvf' ? from.window : undefined;
    const columns = new Map(source.columns.map((c) => [c.name, c]));
    if (window) {
      if (window.kind === 'SESSION') throw sqlError(`a window join on SESSION windows is not supported — as in Flink, window joins take TUMBLE or HOP`, window.pos);
      if (!source.rowtime) throw sqlError(`${window.kind}(TABLE ${table}, …) needs an event-time column: declare WATERMARK FOR ${window.timeColumn} AS … in CREATE TABLE ${table}`, window.pos);
      if (window.timeColumn !== source.rowtime.column) {
        throw sqlError(`DESCRIPTOR(${window.timeColumn}) is not the event-time column of ${table} — its WATERMARK is on ${source.rowtime.column}`, window.timePos ?? window.pos);
      }
      for (const name of WINDOW_COLUMNS) columns.set(name, { name, type: 'TIMESTAMP', declared: 'TIMESTAMP(3)', notNull: true });
    }
    return { table: source, name: from.alias ?? table, window, pos: from.pos, columns, stream: source.stream, reads: source.name };
  }

  /**
   * `(SELECT * FROM TABLE(TUMBLE(TABLE t, …))) AS w`, as Flink's window join is written, is that table
   * function; a window aggregation (Nexmark q8's sides) is read as its results. Other subqueries are not
   * joined yet.
   */
  private subquerySide(query: SelectQuery, alias: string | undefined, pos: SourcePosition): Side {
    const plain = query.items.every((i) => i.expr.kind === 'star' && i.expr.qualifier === undefined) && !query.where && query.groupBy.length === 0 && !query.having;
    if (plain && query.from.kind !== 'subquery' && query.from.kind !== 'join') return this.side({ ...query.from, alias: alias ?? query.from.alias });
    if (query.groupBy.length === 0 || query.from.kind === 'join') {
      throw sqlError(
        `a subquery as an input of a join ${NOT_YET} unless it is SELECT * FROM a table or TABLE(TUMBLE(…)), or a window aggregation — join the tables themselves`,
        pos,
      );
    }
    const q = this.catalog.subquery(query);
    const results = resultWindow(q);
    if (!results) throw sqlError(`a join of a GROUP BY without a window ${NOT_YET} — its results update; aggregate per TUMBLE or HOP window`, pos);
    if (!alias) throw sqlError('a subquery joined needs an alias: (SELECT …) AS s', pos);
    const input = this.results!(q);
    const name = alias;
    const table: SourceTable = { name, stream: '', columns: input.columns };
    return {
      table,
      name,
      pos,
      columns: new Map(input.columns.map((c) => [c.name, c])),
      stream: q.source.stream,
      reads: tableRead(q),
      aggregate: { input, window: results.window.kind === 'SESSION' ? undefined : results.window, start: results.start, end: results.end },
    };
  }

  // ——— names ———

  /** The joined row's column an expression names: `A.id`, or `id` when only one side has it. */
  column(e: ColumnExpr, clause: string): Column {
    const [index, column] = this.resolve(e, clause);
    return { ...column, name: `${this.sides[index].name}.${column.name}` };
  }

  private resolve(e: ColumnExpr, clause: string): [SideIndex, Column] {
    if (e.qualifier !== undefined) {
      const index = this.sides.findIndex((s) => s.name === e.qualifier);
      if (index === -1) throw sqlError(`unknown table ${e.qualifier} in ${show(e)} — the join reads ${this.sides.map((s) => s.name).join(' and ')}`, e.pos);
      const column = this.sides[index]!.columns.get(e.name);
      if (!column) throw sqlError(`unknown column ${e.name} in ${clause}: ${e.qualifier} has ${[...this.sides[index]!.columns.keys()].join(', ')}`, e.pos);
      return [index as SideIndex, column];
    }
    const found = ([0, 1] as const).filter((i) => this.sides[i].columns.has(e.name));
    if (found.length === 2) throw sqlError(`column ${e.name} is ambiguous: both ${this.sides[0].name} and ${this.sides[1].name} have it — write ${this.sides[0].name}.${e.name} or ${this.sides[1].name}.${e.name}`, e.pos);
    if (found.length === 0) {
      const all = [...this.sides[0].columns.keys(), ...this.sides[1].columns.keys()];
      const caseless = all.find((n) => n.toLowerCase() === e.name.toLowerCase());
      throw sqlError(`unknown column ${e.name} in ${clause}${caseless ? ` — did you mean ${caseless}? (names are case-sensitive)` : ` — the join reads ${this.sides.map((s) => `${s.name} (${[...s.columns.keys()].join(', ')})`).join(' and ')}`}`, e.pos);
    }
    const index = found[0]!;
    return [index, this.sides[index].columns.get(e.name)!];
  }

  /** `*`: both sides' columns; `A.*`: one side's. */
  /**
   * The columns `qualifier.*` (or `*`) stands for, known before the join is prepared: for a query over
   * the join (a Top-N over it, as Nexmark q9). A side that is a subquery is not expanded yet.
   */
  starColumns(qualifier: string | undefined, pos: SourcePosition): { readonly name: string; readonly qualifier: string }[] {
    const froms = [this.from.left, this.from.right].filter((f) => qualifier === undefined || sideName(f) === qualifier);
    if (froms.length === 0) throw sqlError(`unknown table ${qualifier} in ${qualifier}.* — the join reads ${sideName(this.from.left)} and ${sideName(this.from.right)}`, pos);
    return froms.flatMap((from) => {
      if (from.kind === 'subquery') throw sqlError(`${qualifier ?? ''}${qualifier ? '.' : ''}* of a subquery joined, in a query over the join, ${NOT_YET} — select its columns by name`, pos);
      const side = this.side(from);
      return [...side.columns.keys()].map((name) => ({ name, qualifier: side.name }));
    });
  }

  star(qualifier: string | undefined, pos: SourcePosition | undefined): SelectItem[] {
    const sides = qualifier === undefined ? this.sides : this.sides.filter((s) => s.name === qualifier);
    if (sides.length === 0) throw sqlError(`unknown table ${qualifier} in ${qualifier}.* — the join reads ${this.sides.map((s) => s.name).join(' and ')}`, pos);
    return sides.flatMap((s) => [...s.table.columns].map((c): SelectItem => ({ expr: { kind: 'column', name: c.name, qualifier: s.name, pos }, pos })));
  }

  /** Which sides an expression reads. */
  private sidesOf(e: Expr): Set<SideIndex> {
    const found = new Set<SideIndex>();
    substituteColumns(e, (c) => {
      found.add(this.resolve(c, 'ON')[0]);
      return c;
    });
    return found;
  }

  /**
   * A part of the condition, evaluated in one side's row as read (`alias.column` fields), or in a pair of rows
   * the join keeps (`kept`: as they crossed the shuffle, DECIMALs as their text).
   */
  private compileOn(e: Expr, rows: 'read' | 'kept' = 'read'): Compiled<Row> {
    const scope: Scope<Row> = {
      clause: 'ON',
      column: (c) => {
        const [index, column] = this.resolve(c, 'ON');
        const name = `${this.sides[index].name}.${column.name}`;
        if (!WINDOW_COLUMNS.includes(column.name) || !this.sides[index].window) this.read[index].add(column.name);
        const value = fromPortable(column);
        return { type: column.type, decimal: column.decimal, eval: rows === 'kept' ? (row) => value(row[name] ?? null) : (row) => row[name] ?? null };
      },
      call: () => undefined,
      windowProperty: (w) => {
        throw sqlError(`${show(w)} is not available in a join's condition`, w.pos);
      },
    };
    return compileExpression(e, scope);
  }

  // ——— the condition ———

  private analyse(parts: readonly Expr[], at: SourcePosition): Shape {
    const lower: Bound[] = [];
    const upper: Bound[] = [];
    const windowEqualities = new Set<string>();
    /** What is neither a key nor one side's condition: an outer join matches a pair only if these hold too. */
    const pairConditions: Expr[] = [];
    for (const part of parts) {
      const sides = this.sidesOf(part);
      if (sides.size === 1) {
        const [index] = sides;
        // A side's window columns exist only once the pair is made: such a condition is applied to the pairs.
        if (this.readsWindowColumns(part)) continue;
        this.filters[index!].push(this.compileOn(part));
        continue;
      }
      if (!this.readsKey(part, lower, upper, windowEqualities)) pairConditions.push(part);
    }
    const [left, right] = this.sides;
    if (this.keys.length === 0) {
      throw sqlError(
        `a join needs an equality of the two tables' columns (ON ${left.name}.k = ${right.name}.k): without one (a cross join) every row would meet every other row, which is not supported`,
        at,
      );
    }
    const shape = this.shapeOf(lower, upper, windowEqualities, at);
    if (this.outer) {
      const pair = pairConditions.reduce<Expr | undefined>((all, part) => and(all, part), undefined);
      this.pairCondition = pair && this.compileOn(pair, 'kept');
    }
    return shape;
  }

  /**
   * Reads a condition of both sides as a key (an equality of one side's expression with the other's) or a time
   * bound; false when it is neither, or a bound of a join that turns out regular: then it only filters pairs.
   */
  private readsKey(part: Expr, lower: Bound[], upper: Bound[], windowEqualities: Set<string>): boolean {
    if (this.sidesOf(part).size !== 2) return false;
    const bounds = this.timeBounds(part);
    if (bounds) {
      lower.push(...bounds.lower);
      upper.push(...bounds.upper);
      return false;
    }
    if (part.kind !== 'binary' || part.op !== '=') return false;
    const [l, r] = [this.sidesOf(part.left), this.sidesOf(part.right)];
    if (l.size !== 1 || r.size !== 1 || [...l][0] === [...r][0]) return false;
    const [leftExpr, rightExpr] = l.has(0) ? [part.left, part.right] : [part.right, part.left];
    const windowColumn = this.windowColumnOf(leftExpr);
    if (windowColumn && windowColumn === this.windowColumnOf(rightExpr)) {
      windowEqualities.add(windowColumn);
      // A table function's window columns exist only in the pair; an aggregation's results carry theirs.
      if (this.sides[0].window) return true;
    }
    this.addKey(leftExpr, rightExpr, part);
    return true;
  }

  private shapeOf(lower: Bound[], upper: Bound[], windowEqualities: ReadonlySet<string>, at: SourcePosition): Shape {
    const [left, right] = this.sides;
    if (left.window || right.window) return { kind: 'window', window: this.windowJoin(windowEqualities, at) };
    const [a, b] = [left.aggregate?.window, right.aggregate?.window];
    if (a && b && sameWindow(a, b) && windowEqualities.size === 2) {
      // Both sides' results of one window carry its last millisecond as their event time: a tumbling window
      // of the slide holds exactly the results of each window (the key holds the rest of the condition).
      return { kind: 'window', window: { ...a, kind: 'TUMBLE', sizeMs: a.kind === 'HOP' ? a.slideMs : a.sizeMs, slideMs: 0 } };
    }
    if (lower.length > 0 && upper.length > 0) {
      // The tightest of each: the pairs satisfy all of them anyway (the whole condition is applied after).
      const tightest = (bounds: Bound[], sign: 1 | -1): Bound => bounds.reduce((a, b) => (sign * (b.ms - a.ms) > 0 || (b.ms === a.ms && b.exclusive) ? b : a));
      return { kind: 'interval', lower: tightest(lower, 1), upper: tightest(upper, -1) };
    }
    return { kind: 'regular' };
  }

  private addKey(leftExpr: Expr, rightExpr: Expr, part: Expr): void {
    const left = this.compileOn(leftExpr);
    const right = this.compileOn(rightExpr);
    const common = commonType([left, right]);
    if (!common || common.type === 'INTERVAL' || common.type === 'NULL') {
      throw sqlError(`the join key ${show(part)} compares ${left.type} with ${right.type} — CAST one side to the other's type`, startOf(part));
    }
    // Both sides' values in one type (an INT key beside a DECIMAL one), so equal values make equal keys.
    const as = (c: Compiled<Row>): Compiled<Row> => {
      const value = converted(c, common);
      const portable = toPortable(common);
      return { ...common, eval: (row) => portable(value(row)) };
    };
    this.keys.push({ left: as(left), right: as(right) });
  }

  private readsWindowColumns(e: Expr): boolean {
    let reads = false;
    substituteColumns(e, (c) => {
      if (WINDOW_COLUMNS.includes(c.name) && this.sides[this.resolve(c, 'ON')[0]].window) reads = true;
      return c;
    });
    return reads;
  }

  /** `window_start` or `window_end` of a side's window table function, or the result column a window aggregation selects it as. */
  private windowColumnOf(e: Expr): string | undefined {
    if (e.kind !== 'column') return undefined;
    const [index, column] = this.resolve(e, 'ON');
    const side = this.sides[index];
    if (side.window) return column.name === 'window_start' || column.name === 'window_end' ? column.name : undefined;
    if (side.aggregate?.window) return column.name === side.aggregate.start ? 'window_start' : column.name === side.aggregate.end ? 'window_end' : undefined;
    return undefined;
  }

  private windowJoin(equalities: ReadonlySet<string>, at: SourcePosition): WindowSpec {
    const [left, right] = this.sides;
    const [a, b] = [left.window, right.window];
    if (!a || !b) {
      throw sqlError(`a window join needs a window table function on both sides: ${(a ? right : left).name} is a table — write TABLE(${(a ?? b)!.kind}(TABLE ${(a ? right : left).table.name}, DESCRIPTOR(…), …))`, (a ? right : left).pos);
    }
    if (!sameWindow(a, b)) {
      throw sqlError(`the two sides of a window join have different windows (${windowText(a)}, ${windowText(b)}): use the same window on both`, right.pos);
    }
    for (const column of ['window_start', 'window_end']) {
      if (!equalities.has(column)) {
        throw sqlError(`a window join needs ${left.name}.window_start = ${right.name}.window_start AND ${left.name}.window_end = ${right.name}.window_end in ON (${column} is missing)`, at);
      }
    }
    return a;
  }

  /**
   * A comparison of the two event-time columns as bounds of `right.ts − left.ts`: `R.ts >= L.ts − INTERVAL '5' SECOND`
   * is a lower bound of −5 s, `R.ts BETWEEN L.ts AND L.ts + INTERVAL '1' MINUTE` both bounds.
   */
  private timeBounds(e: Expr): { lower: Bound[]; upper: Bound[] } | undefined {
    if (e.kind === 'between' && !e.negated) {
      const low = this.timeBounds({ kind: 'binary', op: '>=', left: e.value, right: e.low, pos: e.pos });
      const high = this.timeBounds({ kind: 'binary', op: '<=', left: e.value, right: e.high, pos: e.pos });
      return low && high ? { lower: [...low.lower, ...high.lower], upper: [...low.upper, ...high.upper] } : undefined;
    }
    if (e.kind !== 'binary' || !['<', '<=', '>', '>=', '='].includes(e.op)) return undefined;
    const a = this.timeTerm(e.left);
    const b = this.timeTerm(e.right);
    if (!a || !b || a.side === b.side) return undefined;
    // a.ts + a.offset op b.ts + b.offset, as right − left op constant.
    const [op, constant] = a.side === 1 ? [e.op, b.offset - a.offset] : [flip(e.op), a.offset - b.offset];
    const bound = (exclusive: boolean): Bound => ({ ms: constant, exclusive });
    switch (op) {
      case '>':
        return { lower: [bound(true)], upper: [] };
      case '>=':
        return { lower: [bound(false)], upper: [] };
      case '<':
        return { lower: [], upper: [bound(true)] };
      case '<=':
        return { lower: [], upper: [bound(false)] };
      default:
        return { lower: [bound(false)], upper: [bound(false)] };
    }
  }

  /** A side's event-time column plus or minus INTERVALs. */
  private timeTerm(e: Expr): { side: SideIndex; offset: number } | undefined {
    if (e.kind === 'column') {
      const [side, column] = this.resolve(e, 'ON');
      return this.sides[side].table.rowtime?.column === column.name && !this.sides[side].window ? { side, offset: 0 } : undefined;
    }
    if (e.kind === 'binary' && (e.op === '+' || e.op === '-') && e.right.kind === 'interval') {
      const inner = this.timeTerm(e.left);
      return inner && { side: inner.side, offset: inner.offset + (e.op === '+' ? e.right.ms : -e.right.ms) };
    }
    return undefined;
  }

  // ——— the job ———

  /** Both sides read, keyed and joined: the joined rows, their columns named `alias.column`. */
  rows(j: JobBuilder, used: ReadonlySet<string>): DataStream<Row> {
    const [left, right] = ([0, 1] as const).map((i) => this.keyed(j, i, used)) as [DataStream<Keyed>, DataStream<Keyed>];
    const merge = (l: Keyed, r: Keyed): Row => ({ ...l.r, ...r.r });
    let joined: DataStream<Row>;
    const shape = this.shape;
    switch (shape.kind) {
      case 'interval': {
        if (this.outer) {
          joined = this.outerIntervalJoin(left, right, merge, shape.lower, shape.upper);
          break;
        }
        let join = left
          .keyBy((s) => s.k)
          .intervalJoin(right.keyBy((s) => s.k))
          .between(shape.lower.ms, shape.upper.ms);
        if (shape.lower.exclusive) join = join.lowerBoundExclusive();
        if (shape.upper.exclusive) join = join.upperBoundExclusive();
        joined = join.process(merge);
        break;
      }
      case 'window': {
        const w = shape.window;
        const assigner = w.kind === 'TUMBLE' ? tumbling(w.sizeMs) : sliding(w.sizeMs, w.slideMs);
        // A table function side's window columns, on the rows it is in (NULL beside the padded side's NULLs).
        const withWindow = (row: Row, timestamp: number, present: readonly SideIndex[]): Row => {
          for (const i of present) {
            const side = this.sides[i];
            if (!side.window) continue;
            row[`${side.name}.window_start`] = timestamp + 1 - w.sizeMs;
            row[`${side.name}.window_end`] = timestamp + 1;
            row[`${side.name}.window_time`] = timestamp;
          }
          return row;
        };
        if (this.outer) {
          joined = this.outerWindowJoin(left, right, merge, assigner, withWindow);
          break;
        }
        joined = left
          .join(right)
          .where((s) => s.k)
          .equalTo((s) => s.k)
          .window(assigner)
          .apply((l, r, { timestamp }) => withWindow(merge(l, r), timestamp, [0, 1]));
        break;
      }
      default:
        joined = this.regularJoin(left, right, merge);
    }
    const decimals = this.decimals;
    if (decimals.length === 0) return joined;
    return joined.map((row) => {
      for (const d of decimals) if (d.name in row) row[d.name] = d.value(row[d.name] ?? null);
      return row;
    });
  }

  /**
   * Flink's regular join: each row is kept under its key and joined with the other side's rows kept so
   * far, so every pair is made once, by whichever of the two comes second. With a state TTL a row is kept
   * that long after it arrived (processing time, as Flink's `table.exec.state.ttl`), then dropped.
   *
   * An outer join (Flink's StreamingJoinOperator) keeps with each preserved row whether it has matched: a
   * row without a match is sent with NULLs (+I), and its first match takes that back (-D) before sending the
   * pair (+I). Its inputs only insert (tables, window results), so a match is never taken back: whether a
   * row has matched is all of Flink's match count that is needed. A row the TTL drops goes silently, as in Flink.
   */
  private regularJoin(left: DataStream<Keyed>, right: DataStream<Keyed>, merge: (l: Keyed, r: Keyed) => Row): DataStream<Row> {
    const ttl = this.catalog.stateTtlMs;
    const preserved = this.preserved;
    const outer = this.updating;
    const pairCondition = this.pairCondition;
    /** A row kept; a preserved side's row knows whether it has matched (until then it stands in the results with NULLs). */
    type Kept = { readonly s: Keyed; readonly at: number; readonly matched?: boolean };
    const state = { left: listState<Kept>(), right: listState<Kept>() };
    const live = (now: number) => (k: Kept) => ttl === undefined || k.at + ttl > now;
    const change = (op: RowKind, row: Row, key: string): Row => (outer ? { ...row, [CHANGE_KIND_FIELD]: op, [JOIN_KEY_FIELD]: key } : row);
    const join = (input: SideIndex, s: Keyed, ctx: KeyedContext<typeof state, Row>): void => {
      if (s.lone) {
        ctx.emit(change('+I', { ...s.r }, s.k));
        return;
      }
      const [own, other] = input === 0 ? [ctx.state.left, ctx.state.right] : [ctx.state.right, ctx.state.left];
      const now = ctx.processingTime;
      let matched = false;
      let firstMatched = false;
      const others = other.get().map((o): Kept => {
        if (!live(now)(o)) return o;
        const pair = input === 0 ? merge(s, o.s) : merge(o.s, s);
        if (pairCondition && pairCondition.eval(pair) !== true) return o;
        matched = true;
        if (o.matched === false) {
          ctx.emit(change('-D', { ...o.s.r }, s.k));
          firstMatched = true;
        }
        ctx.emit(change('+I', pair, s.k));
        return o.matched === false ? { ...o, matched: true } : o;
      });
      if (firstMatched) other.update(others);
      if (preserved[input] && !matched) ctx.emit(change('+I', { ...s.r }, s.k));
      own.add(preserved[input] ? { s, at: now, matched } : { s, at: now });
      if (ttl !== undefined) ctx.timers.registerProcessingTime(now + ttl);
    };
    return joinByKey(left, right, state, join, (timestampMs, ctx) => {
      for (const kept of [ctx.state.left, ctx.state.right]) prune(kept, live(timestampMs));
    });
  }

  /**
   * An outer window join (Flink's, append-only): each window's rows of a key at once, when the window fires;
   * the pairs that meet the rest of ON, then each preserved side's rows that matched nothing, with NULLs.
   */
  private outerWindowJoin(
    left: DataStream<Keyed>,
    right: DataStream<Keyed>,
    merge: (l: Keyed, r: Keyed) => Row,
    assigner: ReturnType<typeof tumbling>,
    withWindow: (row: Row, timestamp: number, present: readonly SideIndex[]) => Row,
  ): DataStream<Row> {
    const [padLeft, padRight] = this.preserved;
    const pairCondition = this.pairCondition;
    const none: Keyed = { k: '', r: {} };
    return left
      .coGroup(right)
      .where((s) => s.k)
      .equalTo((s) => s.k)
      .window(assigner)
      .apply((ls, rs, { timestamp }) => {
        const out: Row[] = [];
        const rightMatched = new Set<number>();
        for (const l of ls) {
          let matched = false;
          if (!l.lone) {
            rs.forEach((r, i) => {
              if (r.lone) return;
              const pair = merge(l, r);
              if (pairCondition && pairCondition.eval(pair) !== true) return;
              matched = true;
              rightMatched.add(i);
              out.push(withWindow(pair, timestamp, [0, 1]));
            });
          }
          if (!matched && padLeft) out.push(withWindow(merge(l, none), timestamp, [0]));
        }
        if (padRight) rs.forEach((r, i) => rightMatched.has(i) || out.push(withWindow(merge(none, r), timestamp, [1])));
        return out;
      });
  }

  /**
   * An outer interval join (Flink's, append-only): both sides' rows kept per key until the watermark passes
   * the last time a match can come (a left row at t: t + upper; a right row at t: t − lower), each pair that
   * meets the rest of ON sent at the later of its two times; a preserved side's row that matched nothing is
   * sent with NULLs when it is dropped, at its own time. A row behind the watermark is late and dropped, as
   * the inner interval join drops it.
   */
  private outerIntervalJoin(left: DataStream<Keyed>, right: DataStream<Keyed>, merge: (l: Keyed, r: Keyed) => Row, lower: Bound, upper: Bound): DataStream<Row> {
    const preserved = this.preserved;
    const pairCondition = this.pairCondition;
    type Kept = { readonly s: Keyed; readonly t: number; readonly matched: boolean };
    const state = { left: listState<Kept>(), right: listState<Kept>() };
    const none: Keyed = { k: '', r: {} };
    // b.t − a.t within [lower, upper], each bound inclusive or not.
    const within = (a: number, b: number): boolean => {
      const d = b - a;
      return (lower.exclusive ? d > lower.ms : d >= lower.ms) && (upper.exclusive ? d < upper.ms : d <= upper.ms);
    };
    /** When a side's row can match nothing more: the watermark past its last partner's time. */
    const expiry = (input: SideIndex, t: number): number => (input === 0 ? t + upper.ms : t - lower.ms) + 1;
    const padded = (input: SideIndex, s: Keyed): Row => (input === 0 ? merge(s, none) : merge(none, s));
    const join = (input: SideIndex, s: Keyed, context: KeyedContext<typeof state, Row>): void => {
      const ctx = context as TimedContext<typeof state>;
      const t = ctx.timestamp;
      if (t < ctx.watermark) return;
      if (s.lone) {
        ctx.emit(padded(input, s));
        return;
      }
      const [own, other] = input === 0 ? [ctx.state.left, ctx.state.right] : [ctx.state.right, ctx.state.left];
      let matched = false;
      let changed = false;
      const others = other.get().map((o): Kept => {
        if (!(input === 0 ? within(t, o.t) : within(o.t, t))) return o;
        const pair = input === 0 ? merge(s, o.s) : merge(o.s, s);
        if (pairCondition && pairCondition.eval(pair) !== true) return o;
        matched = true;
        ctx.emitAt(pair, Math.max(t, o.t));
        if (o.matched) return o;
        changed = true;
        return { ...o, matched: true };
      });
      if (changed) other.update(others);
      own.add({ s, t, matched });
      ctx.timers.registerEventTime(expiry(input, t));
    };
    return joinByKey(left, right, state, join, (timestampMs, context) => {
      const ctx = context as TimedContext<typeof state>;
      for (const input of [0, 1] as const) {
        const dropped = prune(input === 0 ? ctx.state.left : ctx.state.right, (k) => expiry(input, k.t) > timestampMs);
        if (preserved[input]) for (const k of dropped) if (!k.matched) ctx.emitAt(padded(input, k.s), k.t);
      }
    });
  }

  /**
   * One side: read, filtered by its own conditions, its key computed; rows with a NULL key never join and stop
   * here. A preserved side's rows all go on to the join (that sends those that cannot match with NULLs).
   */
  private keyed(j: JobBuilder, index: SideIndex, used: ReadonlySet<string>): DataStream<Keyed> {
    const side = this.sides[index];
    const prefix = `${side.name}.`;
    const wanted = new Set([...this.read[index], ...[...used].filter((u) => u.startsWith(prefix)).map((u) => u.slice(prefix.length))]);
    const columns = side.table.columns.filter((c) => wanted.has(c.name));
    // A table's JSON records are read as its columns' types; an aggregation's results are those values already.
    const read = side.aggregate ? (record: unknown): Row => record as Row : readColumns(columns);
    const records = side.aggregate ? side.aggregate.input.stream(j) : tableRecords(j, side.table);
    const names = columns.map((c) => ({ name: `${prefix}${c.name}`, source: c.name, portable: toPortable(c) }));
    const filters = this.filters[index];
    const keys = this.keys.map((k) => (index === 0 ? k.left : k.right).eval);
    const preserved = this.preserved[index];
    return records.flatMap((record): Keyed[] => {
      const columnsRead = read(record);
      const row: Row = {};
      for (const n of names) row[n.name] = columnsRead[n.source] ?? null;
      const passes = filters.every((f) => f.eval(row) === true);
      if (!passes && !preserved) return [];
      const key = keys.map((k) => k(row));
      const lone = !passes || key.includes(null);
      if (lone && !preserved) return [];
      for (const n of names) row[n.name] = n.portable(row[n.name] ?? null);
      return [{ k: key.length === 1 ? String(key[0]) : JSON.stringify(key), r: row, ...(lone && { lone: true as const }) }];
    });
  }
}

/** Both sides keyed by the join key into one two-input process function: `join` takes each row, knowing its side. */
function joinByKey<S extends Record<string, StateDescriptor>>(
  left: DataStream<Keyed>,
  right: DataStream<Keyed>,
  state: S,
  join: (input: SideIndex, s: Keyed, ctx: KeyedContext<S, Row>) => void,
  onTimer: (timestampMs: number, ctx: KeyedContext<S, Row>) => void,
): DataStream<Row> {
  return left
    .connect(right)
    .keyBy(
      (s) => s.k,
      (s) => s.k,
    )
    .process<S, Row>({ state, onEvent1: (s, ctx) => join(0, s, ctx), onEvent2: (s, ctx) => join(1, s, ctx), onTimer });
}

/** Keeps a list state's entries that `keep` says to (writing it only when some go); the ones dropped. */
function prune<T>(kept: { get(): T[]; update(values: T[]): void; clear(): void }, keep: (entry: T) => boolean): T[] {
  const remaining: T[] = [];
  const dropped: T[] = [];
  for (const entry of kept.get()) (keep(entry) ? remaining : dropped).push(entry);
  if (dropped.length === 0) return dropped;
  if (remaining.length === 0) kept.clear();
  else kept.update(remaining);
  return dropped;
}

/** The table a query reads, through aggregations of aggregations. */
const tableRead = (q: LogicalQuery): string => (q.over ? tableRead(q.over.query) : q.source.name);

const sameWindow = (a: WindowSpec, b: WindowSpec): boolean => a.kind === b.kind && a.sizeMs === b.sizeMs && a.slideMs === b.slideMs;

/** The name a side is qualified with, for messages before it is resolved. */
function sideName(from: FromClause): string {
  return from.kind === 'table' ? (from.alias ?? from.name) : from.kind === 'windowTvf' ? (from.alias ?? from.table) : from.kind === 'subquery' ? (from.alias ?? '(subquery)') : '(join)';
}

const flip = (op: string): string => ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=' })[op] ?? op;

function conjuncts(e: Expr | undefined): Expr[] {
  if (!e) return [];
  return e.kind === 'binary' && e.op === 'AND' ? [...conjuncts(e.left), ...conjuncts(e.right)] : [e];
}

function windowText(w: WindowSpec): string {
  return w.kind === 'HOP' ? `HOP(slide ${w.slideMs} ms, size ${w.sizeMs} ms)` : `${w.kind}(${w.sizeMs} ms)`;
}

/** `a` AND `b`, either of which may be absent. */
export function and(a: Expr | undefined, b: Expr | undefined): Expr | undefined {
  return a && b ? { kind: 'binary', op: 'AND', left: a, right: b, pos: b.pos } : (a ?? b);
}

