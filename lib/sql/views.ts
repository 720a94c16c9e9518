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
import type { LookupJoin, LookupTable } from './lookup';
import type { TopN } from './query';
import { NEEDS_CHAINED_STAGES, SqlProblems, sqlError, type SourcePosition } from './sql-error';

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
  /** FROM a JOIN t FOR SYSTEM_TIME AS OF …: `table` is a's, and t's columns are read as `alias.column` (lookup.ts). */
  readonly lookup?: LookupJoin | undefined;
  readonly pos: SourcePosition;
}

/** What a name in FROM stands for: a table's columns, or a view's query. */
export interface Catalog {
  columnsOf(table: string): readonly string[] | undefined;
  view(name: string): SelectQuery | undefined;
  /** A query whose FROM is a join, as one query over the joined rows (statements.ts). */
  join(query: SelectQuery, from: JoinFrom): FlatQuery;
  /** A table read FOR SYSTEM_TIME AS OF: a DynamoDB table a lookup join reads (statements.ts). */
  lookupTable(name: string, pos: SourcePosition): LookupTable;
  /** Inside a lookup join: the lookup table's columns, which its left side's subqueries pass through as they are. */
  readonly isLookupColumn?: ((column: ColumnExpr) => boolean) | undefined;
}

type ColumnExpr = Extract<Expr, { kind: 'column' }>;

type JoinFrom = Extract<SelectQuery['from'], { kind: 'join' }>;

/** The columns a window table function adds. */
const WINDOW_COLUMNS = ['window_start', 'window_end', 'window_time'];
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
    if (from.right.kind === 'table' && from.right.asOf) return lookupJoin(q, from, catalog, seen);
    const asOf = lookupSide(from.left);
    if (asOf) throw sqlError(`FOR SYSTEM_TIME AS OF belongs to the table after JOIN (a lookup join: FROM x JOIN ${asOf.name} FOR SYSTEM_TIME AS OF x.proc_time AS t ON …)`, asOf.pos);
    return catalog.join(q, from);
  }
  if (from.kind === 'table' && from.asOf) throw sqlError(`FOR SYSTEM_TIME AS OF belongs to the table after JOIN (a lookup join: FROM x JOIN ${from.name} FOR SYSTEM_TIME AS OF x.proc_time AS t ON …)`, from.pos);
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
      if (catalog.isLookupColumn?.(column)) return column;
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
    lookup: inner.lookup,
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
  if (!['ROW_NUMBER', 'RANK', 'DENSE_RANK'].includes(over.fn)) problems.add(sqlError(`${over.fn}() in a Top-N is not supported — rank the rows with ROW_NUMBER(), RANK() or DENSE_RANK()`, over.pos));
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
  const rankFunction = over.fn as TopN['rankFunction'];
  return { ...inner, topN: { partitionBy: over.partitionBy, orderBy: over.orderBy, limit, rankName, rankFunction, columns, pos: over.pos ?? at }, pos: outer.pos };
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

/** The expression with each column replaced (`visit` sees every call on the way, and may give one in its place). */
export function substituteColumns(
  e: Expr,
  replace: (column: Extract<Expr, { kind: 'column' }>) => Expr,
  visit?: (call: Extract<Expr, { kind: 'call' }>) => Extract<Expr, { kind: 'call' }> | void,
): Expr {
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
    case 'call': {
      const call = visit?.(e) ?? e;
      return {
        ...call,
        args: call.args.map(s),
        filter: call.filter && s(call.filter),
        ...(call.over && { over: { ...call.over, partitionBy: call.over.partitionBy.map(s), orderBy: call.over.orderBy.map((k) => ({ ...k, expr: s(k.expr) })) } }),
      };
    }
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

// ——— lookup joins ———

type TableFrom = Extract<SelectQuery['from'], { kind: 'table' }>;

/** The table read FOR SYSTEM_TIME AS OF in a FROM clause (outside a subquery), if any. */
function lookupSide(from: SelectQuery['from']): TableFrom | undefined {
  if (from.kind === 'table') return from.asOf ? from : undefined;
  return from.kind === 'join' ? lookupSide(from.left) ?? lookupSide(from.right) : undefined;
}

/**
 * `FROM x JOIN t FOR SYSTEM_TIME AS OF x.p AS s ON f(x) = s.k [AND …]` as the query over x alone, each row
 * enriched with t's item for its key (lookup.ts): the equalities of t's columns with expressions of x are
 * the key; the rest of an inner join's ON filters the enriched rows, as its WHERE does. t's columns are
 * qualified (`s.value`) and pass through x's subqueries untouched.
 */
function lookupJoin(q: SelectQuery, from: JoinFrom, catalog: Catalog, seen: readonly string[]): FlatQuery {
  const right = from.right as TableFrom;
  const table = catalog.lookupTable(right.name, right.pos);
  const alias = right.alias ?? right.name;
  if (from.type !== 'INNER' && from.type !== 'LEFT') throw sqlError(`${from.type} JOIN … FOR SYSTEM_TIME AS OF is not supported — a lookup join is an INNER or a LEFT JOIN (as in Flink)`, from.pos);
  if (lookupSide(from.left)) throw sqlError('a lookup join of a lookup join is not supported yet — enrich the rows with one table per query', from.pos);
  const leftAlias = from.left.kind === 'join' ? undefined : from.left.alias ?? (from.left.kind === 'table' ? from.left.name : undefined);
  const star = { kind: 'star' as const, pos: from.pos };
  const leftNames = outputNames(flatten({ items: [{ expr: star, pos: from.pos }], from: from.left, groupBy: [], pos: from.pos }, catalog, seen), catalog);
  const tableColumns = new Set(table.columns.map((c) => c.name));
  // A column of t: qualified by its alias, or a name only t has.
  const lookupColumn = (c: ColumnExpr): ColumnExpr | undefined =>
    c.qualifier === alias ? c : c.qualifier === undefined && tableColumns.has(c.name) && !leftNames.has(c.name) ? { ...c, qualifier: alias } : undefined;
  const qualify = (e: Expr): Expr => substituteColumns(e, (c) => lookupColumn(c) ?? c);
  const hasLookupColumn = (e: Expr): boolean => {
    let found = false;
    substituteColumns(e, (c) => {
      if (lookupColumn(c)) found = true;
      return c;
    });
    return found;
  };

  // The key: `expr of x = s.column` (either way round); the rest of ON.
  const on = from.comma ? q.where : from.on;
  const keys: { column: string; expr: Expr; pos?: SourcePosition | undefined }[] = [];
  const rest: Expr[] = [];
  for (const c of conjuncts(on)) {
    const pair = c.kind === 'binary' && c.op === '=' ? ([[c.left, c.right], [c.right, c.left]] as const).find(([t, x]) => t.kind === 'column' && lookupColumn(t) && !hasLookupColumn(x)) : undefined;
    const column = pair && (pair[0] as ColumnExpr).name;
    if (pair && column !== undefined && !keys.some((k) => k.column === column)) keys.push({ column, expr: pair[1], pos: c.pos });
    else rest.push(c);
  }
  if (keys.length === 0) {
    throw sqlError(`a lookup join needs the key it looks up by: ON <an expression of ${leftAlias ?? 'the row'}> = ${alias}.<a key column of ${table.name}> (the DynamoDB table's partition key, and its sort key if it has one)`, on ? startOf(on) ?? from.pos : from.pos);
  }
  if (from.type === 'LEFT' && rest.length > 0) {
    throw sqlError(`${show(rest[0]!)} in the ON of a LEFT lookup join is not supported yet — ON names only the key equalities; filter in WHERE (rows without an item have NULL ${alias} columns)`, startOf(rest[0]!) ?? from.pos);
  }
  const condition = [...rest, ...(from.comma ? [] : q.where ? [q.where] : [])].reduce<Expr | undefined>((a, b) => (a ? { kind: 'binary', op: 'AND', left: a, right: b, pos: b.pos } : b), undefined);
  // `*` is x's columns and then t's; `s.*` is t's.
  const tableItems = (pos: SourcePosition | undefined): SelectItem[] => table.columns.map((c) => ({ expr: { kind: 'column', name: c.name, qualifier: alias, pos }, alias: c.name, pos }));
  const items = q.items.flatMap((i): SelectItem[] => {
    if (i.expr.kind !== 'star') return [{ ...i, expr: qualify(i.expr) }];
    if (i.expr.qualifier === alias) return tableItems(i.pos);
    if (i.expr.qualifier !== undefined) return [i];
    return [{ ...i, expr: { ...i.expr, qualifier: leftAlias } }, ...tableItems(i.pos)];
  });
  const inner = { ...catalog, isLookupColumn: (c: ColumnExpr) => c.qualifier === alias };
  const body = flatten({ ...q, from: from.left, items, where: from.type === 'LEFT' && !from.comma ? q.where && qualify(q.where) : condition && qualify(condition), groupBy: q.groupBy.map(qualify), having: q.having && qualify(q.having) }, inner, seen);
  if (body.join || body.over || body.lookup) throw sqlError(`a lookup join of ${body.join ? 'a join' : 'an aggregation\'s results'} is not supported yet — look up the rows of a table (or of a view of one)`, from.pos);
  // The key expressions and the AS OF time, in the terms of x's table (through its subqueries).
  const asOf = right.asOf!;
  const probe = flatten({ items: [...keys.map((k) => ({ expr: k.expr, pos: k.pos })), { expr: asOf, pos: asOf.pos }], from: from.left, groupBy: [], pos: from.pos }, catalog, seen);
  const time = probe.items[keys.length]!.expr;
  if (!(time.kind === 'call' && time.name === 'PROCTIME' && time.args.length === 0)) {
    throw sqlError(
      `FOR SYSTEM_TIME AS OF ${show(asOf)}: a lookup join looks up as of the row's processing time, a PROCTIME() column of ${leftAlias ?? 'the row'} — FROM (SELECT *, PROCTIME() AS proc_time FROM …) ${leftAlias ?? 'x'} JOIN ${right.name} FOR SYSTEM_TIME AS OF ${leftAlias ?? 'x'}.proc_time (a temporal join on event time, against a versioned table, is not supported)`,
      startOf(asOf) ?? right.pos,
    );
  }
  const lookupKeys = keys.map((k, i) => {
    const column = table.columns.find((c) => c.name === k.column)!;
    return { column, expr: probe.items[i]!.expr, written: k.expr };
  });
  return { ...body, lookup: { table, alias, type: from.type, keys: lookupKeys, pos: from.pos } };
}

/** The AND-ed parts of a condition. */
function conjuncts(e: Expr | undefined): Expr[] {
  if (!e) return [];
  return e.kind === 'binary' && e.op === 'AND' ? [...conjuncts(e.left), ...conjuncts(e.right)] : [e];
}
