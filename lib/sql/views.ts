/**
 * Views and derived tables, inlined: `FROM (SELECT … FROM t WHERE …) AS v` and `CREATE VIEW v AS …` are
 * read as the one query over `t` they stand for, by putting the inner select list's expressions in
 * place of the outer query's names: projections and filters of one table, with at most one aggregation
 * (an outer filter on an aggregating view is its HAVING). An aggregation over an aggregation is kept as
 * two queries (`over`): the outer one reads the inner one's results.
 */
import type { Expr, SelectItem, SelectQuery, WindowSpec } from './ast';
import { show, startOf } from './expressions';
import type { JoinedTables } from './joins';
import type { TopN } from './query';
import { SqlProblems, sqlError, type SourcePosition } from './sql-error';

/** A query over one table (or window table function), with views and derived tables inlined. */
export interface FlatQuery {
  /** The table read (a CREATE TABLE), and the name its columns may be qualified with. */
  readonly table: string;
  readonly tablePos: SourcePosition;
  readonly alias?: string | undefined;
  /** FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), …)). */
  readonly windowTvf?: WindowSpec | undefined;
  readonly items: readonly SelectItem[];
  readonly where?: Expr | undefined;
  readonly groupBy: readonly Expr[];
  readonly having?: Expr | undefined;
  /** Flink's Top-N over this query's rows (whose select list holds the ROW_NUMBER item). */
  readonly topN?: TopN | undefined;
  /** An aggregation over an aggregating subquery: the rows are `query`'s results, named as its select list names them. */
  readonly over?: { readonly query: FlatQuery; readonly pos: SourcePosition } | undefined;
  /** FROM a JOIN b: `table` is then the join's name, and the columns are the two sides' (`alias.column`). */
  readonly join?: JoinedTables | undefined;
  readonly pos: SourcePosition;
}

/** What a name in FROM stands for: a table's columns, or a view's query. */
export interface Catalog {
  columnsOf(table: string): readonly string[] | undefined;
  view(name: string): SelectQuery | undefined;
  /** A query whose FROM is a join, as one query over the joined rows (statements.ts). */
  join(query: SelectQuery, from: JoinFrom): FlatQuery;
}

type JoinFrom = Extract<SelectQuery['from'], { kind: 'join' }>;

/** The columns a window table function adds. */
const WINDOW_COLUMNS = ['window_start', 'window_end', 'window_time'];
const NEEDS_CHAINED_STAGES = 'it needs keyed stages chained after one another, which the SQL compiler does not build for it yet';

/** The query with every view and derived table in FROM inlined. */
export function flatten(query: SelectQuery, catalog: Catalog, seen: readonly string[] = []): FlatQuery {
  const q = query.distinct ? distinctAsGroupBy(query) : query;
  const from = q.from;
  const base = { items: q.items, where: q.where, groupBy: q.groupBy, having: q.having, pos: q.pos };
  if (from.kind === 'subquery') {
    // Before the subquery is flattened, so that an OVER of a Top-N is told as such even when the Top-N has problems of its own (Nexmark q6's).
    const inner = from.query;
    rejectOverOfUpdatingRows(q, inner.items.some((i) => i.expr.kind === 'over'), inner.groupBy.length > 0 || inner.from.kind === 'windowTvf' || inner.items.some((i) => i.expr.kind !== 'star' && hasAggregate(i.expr)), from.alias, from.pos);
    return inline(q, flatten(inner, catalog, seen), from.alias, from.pos, catalog);
  }
  if (from.kind === 'join') {
    if (seen.length > 0) throw sqlError('a join inside a view is not supported yet — write the join in the query that reads the view', from.pos);
    return catalog.join(q, from);
  }
  const name = from.kind === 'table' ? from.name : from.table;
  const view = catalog.view(name);
  if (!view) return { ...base, table: name, tablePos: from.pos, alias: from.alias, windowTvf: from.kind === 'windowTvf' ? from.window : undefined };
  if (seen.includes(name)) throw sqlError(`the view ${name} reads itself (${[...seen, name].join(' → ')})`, from.pos);
  const inner = flatten(view, catalog, [...seen, name]);
  if (from.kind === 'table') return inline(q, inner, from.alias ?? name, from.pos, catalog);
  // TABLE(TUMBLE(TABLE view, DESCRIPTOR(ts), …)): the window is on the view's table, through the view's projection.
  if (inner.topN || rankItem(inner)) throw sqlError(`a window over the view ${name}, a Top-N, is not supported yet — window the table, then rank the window's results`, from.pos);
  if (inner.groupBy.length > 0 || inner.windowTvf) throw sqlError(`a window over the view ${name}, which aggregates, is not supported yet — ${NEEDS_CHAINED_STAGES}`, from.pos);
  const names = outputNames(inner, catalog);
  const time = names.get(from.window.timeColumn);
  const outer = { ...q, from: { kind: 'table' as const, name, alias: from.alias, pos: from.pos } };
  if (time?.kind === 'call' && time.name === 'PROCTIME') {
    return { ...inline(outer, inner, from.alias ?? name, from.pos, catalog, true), windowTvf: { ...from.window, processingTime: true } };
  }
  if (time?.kind !== 'column') {
    throw sqlError(`DESCRIPTOR(${from.window.timeColumn}): the view ${name} has no column ${from.window.timeColumn} that is a column of its table`, from.window.timePos ?? from.pos);
  }
  return { ...inline(outer, inner, from.alias ?? name, from.pos, catalog, true), windowTvf: { ...from.window, timeColumn: time.name } };
}

/** The inner query's columns by name: its aliases, column names, and EXPR$n for the rest (as Flink names them). */
function outputNames(inner: FlatQuery, catalog: Catalog): Map<string, Expr> {
  const names = new Map<string, Expr>();
  // EXPR$n counts the select list's columns with each star expanded, as the compiled query names them.
  let position = 0;
  for (const item of inner.items) {
    if (item.expr.kind === 'star') {
      const columns = inner.join
        ? inner.join.starColumns(item.expr.qualifier, item.expr.pos ?? inner.pos)
        : (catalog.columnsOf(inner.table) ?? []).map((name) => ({ name, qualifier: item.expr.kind === 'star' ? item.expr.qualifier : undefined }));
      for (const column of columns) {
        // Flink would rename the second `id` of a join's two sides `id0`; here it is to be named.
        if (inner.join && names.has(column.name)) throw sqlError(`${show(item.expr)} has two columns named ${column.name} (both sides have one): select them by name, one with an alias`, item.expr.pos ?? inner.pos);
        names.set(column.name, { kind: 'column', name: column.name, qualifier: column.qualifier, pos: item.expr.pos });
        position += 1;
      }
      continue;
    }
    const name = item.alias ?? (item.expr.kind === 'column' ? item.expr.name : `EXPR$${position}`);
    names.set(name, item.expr);
    position += 1;
  }
  return names;
}

/** SELECT DISTINCT a, b FROM … is SELECT a, b FROM … GROUP BY a, b (as Flink plans it): a continuous aggregation without aggregates. */
function distinctAsGroupBy(q: SelectQuery): SelectQuery {
  for (const item of q.items) {
    if (item.expr.kind === 'star') throw sqlError(`SELECT DISTINCT ${show(item.expr)} is not supported — list the columns: SELECT DISTINCT a, b FROM …`, item.pos ?? q.pos);
    if (hasAggregate(item.expr) || item.expr.kind === 'over' || overAggregates(item.expr).length > 0) throw sqlError(`SELECT DISTINCT with ${show(item.expr)} is not supported — aggregate with GROUP BY, or deduplicate the columns alone`, startOf(item.expr) ?? q.pos);
  }
  if (q.groupBy.length > 0) throw sqlError('SELECT DISTINCT with GROUP BY is not supported — the groups are distinct already: drop DISTINCT', q.groupBy[0]!.pos ?? q.pos);
  return { ...q, distinct: false, groupBy: q.items.map((i) => i.expr) };
}

/** The select item holding ROW_NUMBER() OVER (…), if the query has one. */
const rankItem = (q: FlatQuery): SelectItem | undefined => q.items.find((i) => i.expr.kind === 'over');

/** The outer query over the inner one, as one query over the inner one's table. */
function inline(outer: SelectQuery, inner: FlatQuery, alias: string | undefined, at: SourcePosition, catalog: Catalog, windowColumns = false): FlatQuery {
  checkOverAggregation(outer, inner, alias, at);
  if (inner.over) throw sqlError(`a query over ${alias ?? 'a subquery'}, an aggregation of an aggregation's results, is not supported yet — ${NEEDS_CHAINED_STAGES}`, outer.items[0]?.pos ?? at);
  if (inner.topN) throw sqlError(`a query over ${alias ?? 'a subquery'}, a Top-N, is not supported yet — select its columns in the query that filters on the rank`, outer.items[0]?.pos ?? at);
  if (rankItem(inner)) return topN(outer, inner, alias, at, catalog);
  const names = outputNames(inner, catalog);
  const replace = (e: Expr): Expr =>
    substituteColumns(e, (column) => {
      if (column.qualifier !== undefined && column.qualifier !== alias) {
        throw sqlError(`unknown table ${column.qualifier} in ${show(column)} — here FROM reads ${alias ?? 'a subquery'}`, column.pos);
      }
      const replacement = names.get(column.name) ?? (windowColumns && WINDOW_COLUMNS.includes(column.name) ? column : undefined);
      if (!replacement) throw sqlError(`unknown column ${column.name} in ${alias ?? 'the subquery'} — its columns are ${[...names.keys()].join(', ')}`, column.pos);
      return replacement;
    });
  const items = outer.items.flatMap((item): SelectItem[] => {
    if (item.expr.kind === 'star') {
      if (item.expr.qualifier !== undefined && item.expr.qualifier !== alias) throw sqlError(`unknown table ${item.expr.qualifier} in ${show(item.expr)}`, item.expr.pos);
      return [...names].map(([name, expr]) => ({ expr, alias: name, pos: item.pos }));
    }
    // An outer column keeps its name when the inner expression it stands for has another.
    const alias_ = item.alias ?? (item.expr.kind === 'column' ? item.expr.name : undefined);
    return [{ expr: replace(item.expr), alias: alias_, pos: item.pos }];
  });
  const where = outer.where && replace(outer.where);
  const aggregates = inner.groupBy.length > 0 || inner.windowTvf !== undefined;
  if (aggregates && (outer.groupBy.length > 0 || outer.items.some((i) => i.expr.kind !== 'star' && hasAggregate(i.expr)))) {
    // An aggregation of the results: a keyed stage after the subquery's (compile.ts), reading its result columns.
    for (const item of outer.items) if (item.expr.kind === 'star') throw sqlError(`SELECT * with GROUP BY: list the grouped columns and the aggregates`, item.pos ?? at);
    return { table: alias ?? inner.table, tablePos: at, alias, items: outer.items, where: outer.where, groupBy: outer.groupBy, having: outer.having, pos: outer.pos, over: { query: inner, pos: at } };
  }
  const and = (a: Expr | undefined, b: Expr | undefined): Expr | undefined => (a && b ? { kind: 'binary', op: 'AND', left: a, right: b, pos: b.pos } : a ?? b);
  return {
    table: inner.table,
    tablePos: inner.tablePos,
    alias: inner.alias,
    windowTvf: inner.windowTvf,
    join: inner.join,
    items,
    // A filter on an aggregating subquery's rows is a filter on its groups: its HAVING.
    where: aggregates ? inner.where : and(inner.where, where),
    groupBy: aggregates ? inner.groupBy : outer.groupBy.map(replace),
    having: aggregates ? and(inner.having, where) : outer.having && replace(outer.having),
    pos: outer.pos,
  };
}

/**
 * An OVER aggregation reads the rows of one table as they come (append-only, ordered by their time), and its
 * frames are of those rows: a query around it may only pick and compute columns, and what it reads must not update.
 */
function checkOverAggregation(outer: SelectQuery, inner: FlatQuery, alias: string | undefined, at: SourcePosition): void {
  rejectOverOfUpdatingRows(outer, inner.topN !== undefined || rankItem(inner) !== undefined, inner.over !== undefined || inner.groupBy.length > 0 || inner.windowTvf !== undefined, alias, at);
  if (isOverAggregation(inner.items) && (outer.where || outer.groupBy.length > 0 || outer.items.some((i) => i.expr.kind !== 'star' && hasAggregate(i.expr)))) {
    const clause = outer.where ? 'a filter' : 'an aggregation';
    throw sqlError(`${clause} of an OVER aggregation's results (${alias ?? 'a subquery'}) is not supported yet — filter the rows inside, before the OVER aggregation, if that is what you mean`, (outer.where && startOf(outer.where)) ?? outer.groupBy[0]?.pos ?? at);
  }
}

/** An OVER aggregation reads a table's rows: not a Top-N's (they update), nor an aggregation's. */
function rejectOverOfUpdatingRows(outer: SelectQuery, ranked: boolean, aggregates: boolean, alias: string | undefined, at: SourcePosition): void {
  const outerOver = outer.items.flatMap((i) => overAggregates(i.expr))[0];
  const what = ranked ? 'a Top-N, whose rows update' : aggregates ? 'an aggregation' : undefined;
  if (!outerOver || !what) return;
  throw sqlError(
    `an OVER aggregation over ${alias ?? 'a subquery'}, ${what}, is not supported — an OVER aggregation reads append-only rows in their time order (Flink refuses an OVER on an updating input too); aggregate OVER the table's rows`,
    outerOver.pos ?? at,
  );
}

/**
 * The outer query of Flink's Top-N: `SELECT cols FROM (SELECT …, ROW_NUMBER() OVER (…) AS rn FROM …) WHERE
 * rn <= N` is the inner query with a Top-N on it. The outer query only picks columns and filters on the rank.
 */
function topN(outer: SelectQuery, inner: FlatQuery, alias: string | undefined, at: SourcePosition, catalog: Catalog): FlatQuery {
  const item = rankItem(inner)!;
  const over = item.expr as Extract<Expr, { kind: 'over' }>;
  const names = outputNames(inner, catalog);
  const rankName = [...names].find(([, e]) => e === over)![0];
  // Every problem of the Top-N at once: the ranking, the filter, each outer column.
  const problems = new SqlProblems();
  if (over.fn !== 'ROW_NUMBER') problems.add(sqlError(`${over.fn}() in a Top-N is not supported yet — number the rows with ROW_NUMBER()`, over.pos));
  if (over.orderBy.length === 0) problems.add(sqlError(`${over.fn}() OVER (…) in a Top-N needs ORDER BY: the order the rows are ranked in`, over.pos));
  if (outer.groupBy.length > 0 || outer.having || outer.items.some((i) => i.expr.kind !== 'star' && hasAggregate(i.expr))) {
    problems.add(sqlError(`an aggregation over ${alias ?? 'a subquery'}, a Top-N, is not supported yet — aggregate first, then rank`, outer.groupBy[0]?.pos ?? at));
  }
  const limit = problems.attempt(() => rankLimit(outer.where, rankName, outer.pos), 1);
  const column = (i: SelectItem): TopN['columns'][number][] => {
    const e = i.expr;
    if (e.kind === 'star') {
      if (e.qualifier !== undefined && e.qualifier !== alias) throw sqlError(`unknown table ${e.qualifier} in ${show(e)}`, e.pos);
      return [...names.keys()].map((name) => ({ name, source: name, pos: i.pos }));
    }
    if (e.kind !== 'column') throw sqlError(`${show(e)}: the query over a Top-N selects its columns — compute ${show(e)} in the subquery, beside ${rankName}`, startOf(e) ?? i.pos);
    if (e.qualifier !== undefined && e.qualifier !== alias) throw sqlError(`unknown table ${e.qualifier} in ${show(e)} — here FROM reads ${alias ?? 'a subquery'}`, e.pos);
    if (!names.has(e.name)) throw sqlError(`unknown column ${e.name} in ${alias ?? 'the subquery'} — its columns are ${[...names.keys()].join(', ')}`, e.pos);
    return [{ name: i.alias ?? e.name, source: e.name, pos: i.pos }];
  };
  const columns = outer.items.flatMap((i) => problems.attempt(() => column(i), []));
  problems.check();
  return { ...inner, topN: { partitionBy: over.partitionBy, orderBy: over.orderBy, limit, rankName, columns, pos: over.pos ?? at }, pos: outer.pos };
}

/** N of `WHERE rn <= N` (also `rn < N`, `rn = 1`, `N >= rn`): the one filter a Top-N's outer query may have. */
function rankLimit(where: Expr | undefined, rankName: string, at: SourcePosition): number {
  const usage = `filter on the rank alone: WHERE ${rankName} <= N (or ${rankName} = 1 to deduplicate)`;
  if (!where) throw sqlError(`ROW_NUMBER() without a filter on ${rankName} numbers every row (an OVER aggregation), which is not supported — ${usage}`, at);
  const isRank = (e: Expr): boolean => e.kind === 'column' && e.name === rankName;
  const whole = (e: Expr): number | undefined => (e.kind === 'literal' && e.type === 'INT' && typeof e.value === 'number' ? e.value : undefined);
  if (where.kind === 'binary' && (isRank(where.left) || isRank(where.right))) {
    // `N >= rn` reads as `rn <= N`.
    const flipped: Record<string, string> = { '>=': '<=', '>': '<', '=': '=' };
    const op: string | undefined = isRank(where.left) ? where.op : flipped[where.op];
    const n = whole(isRank(where.left) ? where.right : where.left);
    const limit = n === undefined ? undefined : op === '<=' ? n : op === '<' ? n - 1 : op === '=' && n === 1 ? 1 : undefined;
    if (limit !== undefined && limit >= 1) return limit;
    if (op === '=' && n !== undefined) throw sqlError(`WHERE ${show(where)}: only the rows from rank 1 are supported — ${usage}`, startOf(where) ?? at);
  }
  throw sqlError(`WHERE ${show(where)} on a Top-N is not supported — ${usage}; filter the rows inside the subquery`, startOf(where) ?? at);
}

/** Whether an expression holds an aggregate call of a group (not an OVER aggregate: that is per row). */
export function hasAggregate(e: Expr): boolean {
  let found = false;
  substituteColumns(e, (c) => c, (call) => {
    if (['COUNT', 'SUM', 'MIN', 'MAX', 'AVG'].includes(call.name) && !call.over) found = true;
  });
  return found;
}

/** The OVER aggregates in an expression (`SUM(x) OVER (…)`), outermost first. */
export function overAggregates(e: Expr): Extract<Expr, { kind: 'call' }>[] {
  const found: Extract<Expr, { kind: 'call' }>[] = [];
  substituteColumns(e, (c) => c, (call) => {
    if (call.over) found.push(call);
  });
  return found;
}

/** Whether a query's select list has OVER aggregates: an OVER aggregation (over.ts). */
export const isOverAggregation = (items: readonly SelectItem[]): boolean => items.some((i) => overAggregates(i.expr).length > 0);

/** The expression with each column replaced (`visit` sees every call on the way). */
export function substituteColumns(e: Expr, replace: (column: Extract<Expr, { kind: 'column' }>) => Expr, visit?: (call: Extract<Expr, { kind: 'call' }>) => void): Expr {
  const s = (x: Expr): Expr => substituteColumns(x, replace, visit);
  switch (e.kind) {
    case 'column':
      return replace(e);
    case 'unary':
      return { ...e, operand: s(e.operand) };
    case 'binary':
      return { ...e, left: s(e.left), right: s(e.right) };
    case 'like':
      return { ...e, value: s(e.value), pattern: s(e.pattern), escape: e.escape && s(e.escape) };
    case 'in':
      return { ...e, value: s(e.value), list: e.list.map(s) };
    case 'between':
      return { ...e, value: s(e.value), low: s(e.low), high: s(e.high) };
    case 'isNull':
      return { ...e, value: s(e.value) };
    case 'call':
      visit?.(e);
      return {
        ...e,
        args: e.args.map(s),
        filter: e.filter && s(e.filter),
        ...(e.over && { over: { ...e.over, partitionBy: e.over.partitionBy.map(s), orderBy: e.over.orderBy.map((k) => ({ ...k, expr: s(k.expr) })) } }),
      };
    case 'case':
      return { ...e, operand: e.operand && s(e.operand), whens: e.whens.map((w) => ({ when: s(w.when), then: s(w.then) })), otherwise: e.otherwise && s(e.otherwise) };
    case 'cast':
      return { ...e, value: s(e.value) };
    case 'over':
      return { ...e, partitionBy: e.partitionBy.map(s), orderBy: e.orderBy.map((k) => ({ ...k, expr: s(k.expr) })) };
    default:
      return e;
  }
}
