/**
 * A logical query → a job, through the DataStream builder, so a SQL job has the same plan, state and
 * guarantees as one written by hand:
 *
 *   source(kinesis) → map(read the row's columns) → filter(WHERE) → map(group key values + aggregate
 *   arguments) → keyBy(group key) → window(TUMBLE | HOP | CUMULATE | SESSION).aggregate(the select list's
 *   aggregates) → filter(HAVING) → map(the select list) → sink
 *
 * A query without GROUP BY is source → map → filter → map → sink. A GROUP BY without a window is a keyed
 * process stage in place of the window (continuous.ts). A Top-N (top-n.ts) is one keyed stage more, keyed
 * by its PARTITION BY, after the rows it ranks; so is an OVER aggregation (over.ts), after the rows it
 * aggregates. Every job knows its changelog (changelog.ts).
 */
import { job, type DataStream, type JobBuilder } from '../api/builder';
import type { WindowMeta } from '../api/functions';
import type { JobDefinition } from '../api/graph';
import type { SinkSpec } from '../api/sink';
import { cumulative, session, sliding, tumbling, type TimeWindowOptions } from '../api/windows';
import type { WindowAssignerSpec } from '../time/window';
import { aggregateResultType, groupAggregate, retractingGroupAggregate, type AggregateCall, type AggregateName, type GroupedRow, type GroupResult } from './aggregates';
import type { Expr, OverWindow, SelectItem } from './ast';
import { CHANGE_KIND_FIELD, upsertSink, withChangelog, type Changelog, type RowKind } from './changelog';
import { continuousAggregate } from './continuous';
import { decimalToNumber } from './decimal';
import { AGGREGATES, compileExpression, show, showOverWindow, startOf, type CallExpr, type ColumnExpr, type Compiled, type Scope } from './expressions';
import { parseSql } from './parser';
import { JOIN_KEY_FIELD, type JoinInput } from './joins';
import type { LogicalQuery } from './query';
import { SqlError, SqlProblems, sqlError } from './sql-error';
import { queryFromStatements } from './statements';
import { readColumns, tableRecords } from './records';
import { resultWindow } from './result-window';
import { continuousTopN, windowTopN, type RankChange, type RankInput, type TopNOptions } from './top-n';
import { isNumeric, RowError, type Column, type SqlValue } from './types';
import { converted, decimalOf, fromPortable, toPortable } from './values';
import { lookupField, lookupRow, NO_MATCH, type LookupJoin } from './lookup';
import { loadFunctions } from './user-functions';
import { overAggregate, type OverInput, type OverOutput } from './over';
import { hasAggregate, isOverAggregation, overAggregates } from './views';

/** Options of {@link compileSql}. */
export interface CompileSqlOptions {
  /** The file the text came from: errors name it, and CREATE FUNCTION modules are found relative to it. */
  file?: string;
  /** The CREATE FUNCTION modules' default exports by function name, already loaded (a bundle imports them); others load from their path. */
  functions?: Record<string, unknown>;
}

/**
 * Compiles a Flink SQL job (CREATE TABLE …; INSERT INTO … SELECT …) to a job definition.
 * @example
 * export default compileSql(`
 *   CREATE TABLE clicks (userId STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
 *     WITH ('connector' = 'kinesis', 'stream' = 'clicks');
 *   CREATE TABLE click_counts WITH ('connector' = 'dynamodb');
 *   INSERT INTO click_counts
 *   SELECT userId, SUM(clicks) AS clicks FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND);`);
 */
export function compileSql(text: string, options: CompileSqlOptions = {}): JobDefinition {
  try {
    const q = queryFromStatements(parseSql(text));
    return compileQuery({ ...q, functions: loadFunctions(q.functionDeclarations ?? [], options.file, options.functions) });
  } catch (e) {
    if (e instanceof SqlError && options.file && !e.file) throw e.inFile(options.file);
    throw e;
  }
}

/** Names the planner accepts for jobs (see lib/plan/planner.ts): checked here too, to point at the SQL that named it. */
const JOB_NAME = /^[a-zA-Z][a-zA-Z0-9-]{0,39}$/;
/**
 * Result fields the runtime and the DynamoDB sink own (and an updating query's change kind): a column of one
 * of these names is written with a trailing underscore.
 */
const RESERVED_OUTPUTS = ['key', 'id', 'windowStart', 'windowEnd'];
/** The key of every row of a query grouped by a window alone (DynamoDB keys cannot be empty). */
export const GLOBAL_KEY = 'all';

type Row = Record<string, SqlValue>;
/** A group's values: of a fired window (with its bounds), or of a continuous group (without). */
type WindowRecord = Partial<WindowMeta> & GroupResult;
/** A row of an OVER aggregation with its frame's aggregates (in `$a`, as a group's). */
type OverRecord = WindowRecord & { readonly row: Row };

/** A group's or partition's key as text: one value as itself, several as a JSON array, none {@link GLOBAL_KEY}. */
const keyText = (values: readonly SqlValue[]): string => (values.length === 0 ? GLOBAL_KEY : values.length === 1 ? String(values[0]) : JSON.stringify(values));

/** A query's result records and the sink they are written to (a join reads the records of its sides). */
interface Results {
  readonly stream: DataStream<Record<string, unknown>>;
  readonly sink: SinkSpec;
}

/** A Top-N compiled against the rows it ranks (of type C): how each becomes the Top-N stage's input. */
interface Ranking<C> {
  readonly perWindow: boolean;
  readonly rankSelected: boolean;
  readonly options: TopNOptions;
  input(context: C, columns: Record<string, unknown>): RankInput;
}
type WindowProperty = 'start' | 'end' | 'rowtime';
const WINDOW_COLUMNS: Record<string, WindowProperty> = { window_start: 'start', window_end: 'end', window_time: 'rowtime' };

interface OutputColumn<C> {
  readonly name: string;
  readonly value: (context: C) => SqlValue;
  /** The window start or end: carried by the result's own windowStart / windowEnd. */
  readonly carried: boolean;
}

/** Compiles a logical query (from SQL text or the Table API) to a job definition; a query that cannot run is a SqlError. */
export function compileQuery(q: LogicalQuery): JobDefinition {
  if (!JOB_NAME.test(q.jobName)) {
    throw sqlError(`the job name '${q.jobName}' is not usable in AWS resource names — use letters, digits and dashes, starting with a letter, at most 40 characters (SET 'pipeline.name' = 'my-job')`, q.jobNamePos);
  }
  const c = new QueryCompiler(q);
  return c.job();
}

/** Who reads a query's results: the sink, a join (an aggregating subquery as a side), or another aggregation. */
type Reader = 'sink' | 'join' | 'aggregation';

/** A query's result columns and records, for a join or an aggregation that reads it. */
function queryResults(q: LogicalQuery, reader: Exclude<Reader, 'sink'>): JoinInput {
  // Compiled once to learn its columns, and again in the job (on its builder) when it is read.
  const probe = new QueryCompiler(q, reader);
  probe.results(job(q.jobName));
  return { columns: probe.resultColumns, updating: probe.updating, stream: (builder) => new QueryCompiler(q, reader).results(builder).stream };
}

class QueryCompiler {
  private readonly columns: Map<string, Column>;
  /** Columns the query reads: only these are decoded from the JSON record. */
  private readonly used = new Set<string>();
  /** The GROUP BY keys besides the window: columns or expressions of the row, by their text. */
  private readonly keys: { text: string; column: string | undefined; value: Compiled<Row> }[] = [];
  private readonly calls: { call: AggregateCall; text: string; arg: Compiled<Row> | undefined; filter: Compiled<Row> | undefined }[] = [];
  /** Every problem found, reported together. */
  private readonly problems = new SqlProblems();
  /** Whether the query's results update: its records are changes, their kind in `op` (after `results`). */
  updating = false;

  /** The result's columns (after `results`). */
  resultColumns: Column[] = [];

  private readonly q: LogicalQuery;
  /** An aggregation over an aggregating subquery: that query's results, which are its rows. */
  private readonly input: JoinInput | undefined;

  /** Read by a join or another query, not written to the sink: every column under its own name. */
  private readonly joinInput: boolean;

  constructor(
    query: LogicalQuery,
    private readonly reader: Reader = 'sink',
  ) {
    this.joinInput = reader !== 'sink';
    this.input = query.over && queryResults(query.over.query, 'aggregation');
    this.q = this.input ? { ...query, source: { ...query.source, columns: this.input.columns } } : query;
    this.columns = new Map(this.q.source.columns.map((c) => [c.name, c]));
    query.join?.prepare((side) => queryResults(side, 'join'));
  }

  job(): JobDefinition {
    const changelog = this.changelog();
    const builder = job(this.q.jobName, this.q.streamMode && { streamMode: this.q.streamMode });
    const { stream, sink } = this.results(builder, changelog);
    const branches = this.q.unionAll ?? [];
    if (branches.length === 0) return withChangelog(stream.sink(sink), changelog);
    return withChangelog(stream.union(...branches.map((branch) => this.unionBranch(branch, builder, changelog))).sink(sink), changelog);
  }

  /**
   * A query after UNION ALL: its records on the same builder (a table both read is read once), its columns
   * renamed to the first query's by position, as SQL names a union's columns. Append-only queries only.
   */
  private unionBranch(branch: LogicalQuery, builder: JobBuilder, changelog: Changelog): DataStream<Record<string, unknown>> {
    const compiler = new QueryCompiler({ ...branch, unionAll: undefined });
    const own = compiler.changelog();
    if (changelog.mode !== 'append-only' || own.mode !== 'append-only') {
      throw sqlError(`UNION ALL of ${changelog.mode === 'append-only' ? 'this' : 'the first'} query, whose results update, is not supported yet — union append-only queries (rows, window aggregations), or write a job per query`, (changelog.mode === 'append-only' ? branch.pos : this.q.pos) ?? { line: 1, column: 1 });
    }
    const { stream } = compiler.results(builder, own);
    const names = this.resultColumns.map((c) => c.name);
    const theirs = compiler.resultColumns.map((c) => c.name);
    if (theirs.length !== names.length) {
      throw sqlError(`the query after UNION ALL has ${theirs.length} column${theirs.length === 1 ? '' : 's'} and the first ${names.length}: a union's queries give the same columns, in order`, branch.pos ?? { line: 1, column: 1 });
    }
    compiler.resultColumns.forEach((c, i) => {
      const first = this.resultColumns[i]!;
      if (c.type !== first.type && c.type !== 'NULL' && first.type !== 'NULL' && !(isNumeric(c.type) && isNumeric(first.type))) {
        throw sqlError(`column ${i + 1} of the query after UNION ALL (${c.name}) is ${c.declared}, and the first query's (${first.name}) ${first.declared} — CAST one of them`, branch.pos ?? { line: 1, column: 1 });
      }
    });
    if (theirs.every((n, i) => n === names[i])) return stream;
    const renamed = new Map(theirs.map((n, i) => [n, names[i]!]));
    return stream.map((record) => Object.fromEntries(Object.entries(record).map(([k, v]) => [renamed.get(k) ?? k, v])));
  }

  /** The query's result records, its tables read by `builder`'s sources, and the sink they are written to. */
  results(builder: JobBuilder, changelog = this.changelog()): Results {
    const q = this.q;
    this.updating = changelog.mode === 'updating';
    // An aggregation takes a GROUP BY's changes back as they come (retractingGroupAggregate); a join cannot, nor anything a Top-N.
    if (this.updating && (this.reader === 'join' || (this.reader === 'aggregation' && q.topN))) {
      this.problems.add(sqlError(`reading an updating query's results (${q.topN ? 'a Top-N' : 'a GROUP BY without a window'}) in ${this.reader === 'join' ? 'a join' : 'an aggregation'} is not supported yet — window the aggregation`, q.pos));
    }
    if (this.input?.updating && q.topN) this.problems.add(sqlError('a Top-N over an aggregation of an updating query is not supported yet', q.topN.pos));
    const assigner = this.problems.attempt(() => (q.over ? this.resultsWindow() : this.window()), undefined);
    const where = q.where && this.problems.attempt(() => this.condition(q.where!, this.rowScope('WHERE'), 'WHERE'), undefined);
    const aggregates = q.select.some((i) => i.expr.kind !== 'star' && hasAggregate(i.expr));
    if (isOverAggregation(q.select)) {
      if (q.grouped || q.window || aggregates) {
        const first = q.select.flatMap((i) => overAggregates(i.expr))[0]!;
        this.problems.add(
          sqlError(
            `${show(first)} beside ${q.grouped || q.window ? 'GROUP BY' : 'aggregates without OVER'} is not supported — an OVER aggregation gives each row of the table the aggregates of its frame: aggregate the groups and the frames in separate queries`,
            first.pos,
          ),
        );
      }
      return this.overJob(builder, where);
    }
    return q.grouped || q.window || aggregates ? this.groupedJob(builder, assigner, where) : this.rowJob(builder, where);
  }

  /** A query without GROUP BY: a projection of each row (of a table, or of a join), or a Top-N of the rows. */
  private rowJob(builder: JobBuilder, where: Compiled<Row> | undefined): Results {
    const q = this.q;
    if (q.having) this.problems.add(sqlError('HAVING needs GROUP BY', startOf(q.having)));
    const scope = this.rowScope('SELECT');
    const outputs = this.outputs(this.expandStars(q.select), scope);
    const ranking = q.topN && this.problems.attempt(() => this.ranking(scope), undefined);
    // An outer join's rows are changes (+I, -D) without a unique key.
    const outerJoin = q.join?.updating ? q.join : undefined;
    if (outerJoin && q.sink.sink.kind === 'dynamodb' && this.reader === 'sink') {
      this.problems.add(
        sqlError(
          `a ${outerJoin.joinType}'s rows (+I, and -D when a row sent with NULLs finds its match) have no unique key to write to the DynamoDB table ${q.sink.name} by — write them to a Kinesis sink ('connector' = 'kinesis'), or aggregate them with GROUP BY`,
          outerJoin.pos,
        ),
      );
    }
    this.problems.check();
    let rows = this.rows(builder);
    if (where) rows = rows.filter((row) => where.eval(row) === true);
    // Each record of an outer join keeps its change kind, and the join key a Kinesis sink partitions by.
    const change = (row: Row): Record<string, unknown> => (outerJoin ? { key: row[JOIN_KEY_FIELD], [CHANGE_KIND_FIELD]: row[CHANGE_KIND_FIELD] } : {});
    if (!ranking) return { stream: rows.map((row) => project(outputs, row, change(row))), sink: q.sink.sink };
    if (!outerJoin) return this.rankedJob(rows.map((row) => ranking.input(row, project(outputs, row, {}))), ranking);
    // An outer join's rows come (+I) and go (-D, a row sent with NULLs when its match comes): the Top-N keeps them as a multiset.
    return this.rankedJob(
      rows.map((row): RankInput => {
        const input = ranking.input(row, project(outputs, row, {}));
        return { ...input, m: JSON.stringify(input.r), ...(row[CHANGE_KIND_FIELD] === '-D' && { d: true as const }) };
      }),
      ranking,
    );
  }

  /** A GROUP BY (or aggregates without one): per window, or continuous (updating); then maybe a Top-N of the groups. */
  private groupedJob(builder: JobBuilder, assigner: WindowAssignerSpec | undefined, where: Compiled<Row> | undefined): Results {
    const q = this.q;
    const rowKeys = this.rowScope('GROUP BY');
    for (const e of q.groupBy) {
      const text = show(e);
      if (this.keys.some((k) => k.text === text)) continue;
      const value = this.problems.attempt(() => compileExpression(e, rowKeys), undefined);
      // A column key by the name the row has it under (`A.category` for a join's).
      if (value) this.keys.push({ text, column: e.kind === 'column' ? this.column(e, 'GROUP BY').name : undefined, value });
    }
    const window = q.window;
    if (window?.kind === 'SESSION' && window.form === 'table-function') {
      const keyNames = this.keys.map((k) => k.column ?? k.text);
      if ([...window.partitionBy].sort().join(', ') !== [...keyNames].sort().join(', ')) {
        this.problems.add(
          sqlError(
            `SESSION(TABLE … PARTITION BY ${window.partitionBy.join(', ') || '(none)'}) must partition by the GROUP BY keys (${keyNames.join(', ') || 'none'}): sessions here are per key`,
            window.pos,
          ),
        );
      }
    }
    const star = q.select.find((i) => i.expr.kind === 'star');
    if (star) this.problems.add(sqlError('SELECT * with GROUP BY: list the grouped columns and the aggregates', star.pos ?? q.pos));
    const scope = this.groupScope('SELECT');
    const outputs = star ? [] : this.outputs(q.select, scope);
    const having = q.having && this.problems.attempt(() => this.condition(q.having!, this.groupScope('HAVING'), 'HAVING'), undefined);
    const ranking = q.topN && this.problems.attempt(() => this.ranking(scope), undefined);
    this.problems.check();

    const keys = this.keys.map((k) => ({ ...k, portable: toPortable(k.value) }));
    const aggregateInputs = this.aggregateInputs();
    // Over an updating query's results (or an outer join's rows), its -U and -D take back what their row added.
    const retracting = this.input?.updating === true || q.join?.updating === true;
    const retraction = (row: Row): boolean => retracting && (row[CHANGE_KIND_FIELD] === '-U' || row[CHANGE_KIND_FIELD] === '-D');
    const toGrouped = (row: Row): GroupedRow => {
      const g = keys.map((k) => {
        const v = k.value.eval(row);
        if (v === null) throw new RowError(k.column !== undefined ? `GROUP BY column '${k.column}' is NULL` : `GROUP BY ${k.text} is NULL`);
        return k.portable(v);
      });
      return { g, ...aggregateInputs(row), ...(retraction(row) && { r: true as const }) };
    };

    let rows = this.rows(builder);
    if (where) rows = rows.filter((row) => where.eval(row) === true);
    const grouped = rows.map(toGrouped).keyBy((r) => keyText(r.g));
    const aggregate = (retracting ? retractingGroupAggregate : groupAggregate)(this.calls.map((c) => c.call));

    if (!assigner) {
      // Continuous: every change of a group is a change of its row (Flink's GroupAggFunction, without mini-batch).
      // A group whose rows were all taken back is gone (-D), as one HAVING filters out.
      const visible = (r: GroupResult): Row | null => (r.$rows === 0 || (having && having.eval(r) !== true) ? null : (project(outputs, r, {}) as Row));
      if (!ranking) {
        // A DynamoDB sink takes the new row alone; a query reading these results takes back the old one (-U).
        const upsert = q.sink.sink.kind === 'dynamodb' && this.reader === 'sink';
        return {
          stream: grouped.process(continuousAggregate(aggregate, visible, upsert, q.stateTtlMs)).map((c) => ({ key: c.key, [CHANGE_KIND_FIELD]: c.op, ...c.row })),
          sink: upsertSink(q.sink.sink),
        };
      }
      // A Top-N of the groups: its input updates, by the group key.
      return this.rankedJob(
        grouped
          .process(continuousAggregate(aggregate, (r) => { const row = visible(r); return row && ranking.input(r, row); }, true, q.stateTtlMs))
          .map((c): RankInput => (c.op === '-D' ? { ...c.row, u: c.key, d: true } : { ...c.row, u: c.key })),
        ranking,
      );
    }
    let results = grouped.window(assigner).aggregate(aggregate);
    if (having) results = results.filter((r) => having.eval(r) === true);
    if (!ranking) return { stream: results.map((r) => project(outputs, r, { key: r.key, windowStart: r.windowStart, windowEnd: r.windowEnd })), sink: q.sink.sink };
    return this.rankedJob(results.map((r) => ranking.input(r, project(outputs, r, {}))), ranking);
  }

  /** What a row gives the aggregates, evaluated before the shuffle: each one's argument, and those whose FILTER leaves the row out. */
  private aggregateInputs(): (row: Row) => Pick<GroupedRow, 'v' | 'skip'> {
    const args = this.calls.map((c) => c.arg && { eval: c.arg.eval, portable: toPortable(c.arg) });
    const filters = this.calls.map((c) => c.filter?.eval);
    return (row) => {
      const skipped = filters.flatMap((f, i) => (f && f(row) !== true ? [i] : []));
      return { v: args.map((a) => (a ? a.portable(a.eval(row)) : null)), ...(skipped.length > 0 && { skip: skipped }) };
    };
  }

  // ——— OVER aggregation ———

  /** Each row with the aggregates of its frame, emitted once the watermark passes it (over.ts): one keyed stage, by PARTITION BY. */
  private overJob(builder: JobBuilder, where: Compiled<Row> | undefined): Results {
    const q = this.q;
    if (q.having) this.problems.add(sqlError('HAVING needs GROUP BY', startOf(q.having)));
    if (q.topN) this.problems.add(sqlError('a Top-N of an OVER aggregation is not supported yet — rank the rows of the table, or aggregate them OVER a window', q.topN.pos));
    const items = this.expandStars(q.select);
    const window = this.problems.attempt(() => this.overWindow(items), undefined);
    const partition = (window?.partitionBy ?? []).map((e) => this.problems.attempt(() => compileExpression(e, this.rowScope('PARTITION BY')), undefined));
    const outputs = this.outputs(items, this.overScope());
    this.problems.check();

    // Ordered by a PROCTIME() column, a row's time is its arrival, which the stage knows.
    const byArrival = isProcTime(window!.orderBy[0]!.expr);
    const time = byArrival ? undefined : q.source.rowtime!.column;
    const keys = partition.map((c) => ({ eval: c!.eval, portable: toPortable(c!) }));
    const aggregateInputs = this.aggregateInputs();
    // The row's columns the select list reads cross the shuffle with it, as portable values (a DECIMAL as its text).
    const columns = [...this.used].map((name) => {
      const column = this.columns.get(name)!;
      return { name, to: toPortable(column), from: fromPortable(column) };
    });
    const toInput = (row: Row): OverInput => {
      const t = time === undefined ? 0 : row[time];
      if (typeof t !== 'number') throw new RowError(`the event-time column '${time}' is NULL`);
      return {
        k: keyText(keys.map((k) => k.portable(k.eval(row)))),
        t,
        r: Object.fromEntries(columns.map((c) => [c.name, c.to(row[c.name] ?? null)])),
        ...aggregateInputs(row),
      };
    };
    const toRecord = (out: OverOutput): OverRecord => ({ row: Object.fromEntries(columns.map((c) => [c.name, c.from(out.r[c.name] ?? null)])), $g: [], $a: out.a });
    let rows = this.rows(builder);
    if (where) rows = rows.filter((row) => where.eval(row) === true);
    const frame = window!.frame;
    // A bounded frame takes back the rows that leave it: its accumulators keep what they need to (MIN and MAX their values).
    const aggregate = (frame.preceding === undefined ? groupAggregate : retractingGroupAggregate)(this.calls.map((c) => c.call));
    const stream = rows
      .map(toInput)
      .keyBy((r) => r.k)
      .process(overAggregate(frame, aggregate, q.stateTtlMs, byArrival ? 'processing' : 'event'))
      .map((out) => project(outputs, toRecord(out), {}));
    return { stream, sink: q.sink.sink };
  }

  /** The one window of the query's OVER aggregates, checked as Flink's streaming OVER aggregation has it. */
  private overWindow(items: readonly SelectItem[]): OverWindow {
    const q = this.q;
    const calls = items.flatMap((i) => overAggregates(i.expr));
    const first = calls[0]!;
    const window = first.over!;
    const at = window.pos ?? first.pos;
    if (q.join) throw sqlError(`an OVER aggregation over a join's rows is not supported yet — aggregate OVER one table's rows`, at);
    const problems = new SqlProblems();
    const text = showOverWindow(window);
    for (const c of calls.slice(1)) {
      if (showOverWindow(c.over!) !== text) {
        problems.add(sqlError(`${show(c)}: every OVER aggregate of a query must be on the same window, as in Flink — write OVER (${text}) here too, or compute the other window in a query of its own`, c.over!.pos ?? c.pos));
      }
    }
    const rowtime = q.source.rowtime?.column;
    const orderHint = rowtime ? `write ORDER BY ${rowtime}` : `declare WATERMARK FOR ts AS ts - INTERVAL '2' SECOND in CREATE TABLE ${q.source.name}, then ORDER BY ts`;
    const [order, ...more] = window.orderBy;
    if (!order) problems.add(sqlError(`${show(first)}: an OVER window in a stream needs ORDER BY its event-time column (Flink orders OVER windows by a time attribute) — ${orderHint}`, at));
    else if (isProcTime(order.expr)) {
      if (order.descending) problems.add(sqlError('ORDER BY a PROCTIME() column DESC in an OVER window is not supported — rows come in arrival order: write it ascending, as Flink does', startOf(order.expr) ?? at));
    } else {
      const column = order.expr.kind === 'column' ? problems.attempt(() => this.column(order.expr as ColumnExpr, 'ORDER BY'), undefined) : undefined;
      if (order.expr.kind !== 'column' || (column && column.name !== rowtime)) {
        const why = rowtime ? `not the event-time column: the WATERMARK of ${q.source.name} is on ${rowtime}` : `${q.source.name} has no event-time column`;
        problems.add(sqlError(`ORDER BY ${show(order.expr)} in an OVER window: ${why} — an OVER window in a stream is ordered by event time (${orderHint})`, startOf(order.expr) ?? at));
      } else if (order.descending) {
        problems.add(sqlError(`ORDER BY ${rowtime} DESC in an OVER window is not supported — rows come in time order, so a stream's OVER window is ordered by ascending time, as in Flink: write ORDER BY ${rowtime}`, order.expr.pos ?? at));
      }
      if (more.length > 0) problems.add(sqlError(`ORDER BY ${show(more[0]!.expr)}: an OVER window in a stream is ordered by its event-time column alone, as in Flink`, startOf(more[0]!.expr) ?? at));
    }
    problems.check();
    return window;
  }

  /** The select list of an OVER aggregation: the row's columns, and its frame's aggregates. */
  private overScope(): Scope<OverRecord> {
    const rows = this.rowScope('SELECT');
    return {
      clause: 'SELECT',
      functions: this.q.functions,
      column: (e) => {
        const c = rows.column(e);
        return { ...c, eval: (r) => c.eval(r.row) };
      },
      call: (e) => {
        if (AGGREGATES.has(e.name)) throw sqlError(`${show(e)} without OVER beside OVER aggregates is not supported — every aggregate of an OVER aggregation is over the window: ${show(e)} OVER (…)`, e.pos);
        return undefined;
      },
      over: (e) => this.aggregate({ ...e, over: undefined }),
      windowProperty: (e) => {
        throw sqlError(`${show(e)} belongs to a window aggregation; an OVER aggregation gives each row its frame's aggregates, without a window of its own`, e.pos);
      },
    };
  }

  // ——— Top-N ———

  /** The Top-N's PARTITION BY and ORDER BY compiled where the ranked query's select list is. */
  private ranking<C extends object>(scope: Scope<C>): Ranking<C> {
    const q = this.q;
    const topN = q.topN!;
    const problems = new SqlProblems();
    const windowBounds = topN.partitionBy.map((e) => this.windowPropertyOf(e));
    const perWindow = windowBounds.includes('start') && windowBounds.includes('end');
    if (!perWindow && windowBounds.some((p) => p !== undefined)) {
      problems.add(sqlError(`a Top-N per window partitions by both window_start and window_end (PARTITION BY window_start, window_end[, …])`, startOf(topN.partitionBy[windowBounds.findIndex((p) => p !== undefined)]!)));
    }
    if (perWindow && q.window?.processingTime) {
      problems.add(sqlError('a Top-N per window of processing-time (PROCTIME()) windows is not supported yet — rank event-time windows, or rank continuously', topN.pos));
    }
    const partition = topN.partitionBy
      .filter((_, i) => !perWindow || windowBounds[i] === undefined)
      .map((e) => problems.attempt(() => compileExpression(e, { ...scope, clause: 'PARTITION BY' }), undefined));
    const order = topN.orderBy.map((k) =>
      problems.attempt(() => {
        const c = compileExpression(k.expr, { ...scope, clause: 'ORDER BY' });
        if (c.type === 'INTERVAL') throw sqlError(`ORDER BY ${show(k.expr)}: an INTERVAL does not order rows`, startOf(k.expr));
        return c;
      }, undefined),
    );
    this.checkColumnCount(topN.columns.length);
    const rankSelected = topN.columns.some((c) => c.source === topN.rankName);
    const numbered = topN.rankFunction === 'ROW_NUMBER';
    if (!numbered && q.sink.sink.kind === 'dynamodb') {
      problems.add(
        sqlError(
          `a ${topN.rankFunction}() Top-N writes to DynamoDB by a unique key it does not have (tied rows share a rank) — write to a Kinesis sink, or number the rows with ROW_NUMBER()`,
          topN.pos,
        ),
      );
    } else if (topN.limit > 1 && !rankSelected && q.sink.sink.kind === 'dynamodb') {
      problems.add(
        sqlError(
          `a Top-${topN.limit} without its rank column writes to DynamoDB by a unique key it does not have — select ${topN.rankName} (the key is then the partition and the rank), or write to a Kinesis sink`,
          topN.pos,
        ),
      );
    }
    problems.check();
    const time = q.source.rowtime?.column;
    const [first] = topN.orderBy;
    // ORDER BY the event-time column, first row only: Flink's deduplication, where DESC keeps the last row.
    const deduplication = numbered && !q.grouped && !q.window && topN.limit === 1 && topN.orderBy.length === 1 && first!.expr.kind === 'column' && first!.expr.name === time;
    const partitionValues = partition.map((c) => ({ eval: c!.eval, portable: toPortable(c!) }));
    const orderValues = order.map((c) => (c!.type === 'DECIMAL' ? ((context: C) => { const v = c!.eval(context); return v === null ? null : decimalToNumber(v as bigint, decimalOf(c!).scale); }) : c!.eval));
    return {
      perWindow,
      rankSelected,
      options: {
        limit: topN.limit,
        rankFunction: topN.rankFunction,
        descending: topN.orderBy.map((k) => k.descending),
        nullsFirst: topN.orderBy.map((k) => k.nullsFirst),
        newestFirstOnTies: deduplication && first!.descending,
        // Tied rows share a RANK: only ROW_NUMBER's rank names one row.
        identity: numbered && (rankSelected || topN.limit === 1) ? 'rank' : 'row',
        rankSelected,
        upsert: q.sink.sink.kind === 'dynamodb',
        ttlMs: q.stateTtlMs,
      },
      input: (context, columns) => {
        const p = partitionValues.map((v) => v.portable(v.eval(context)));
        const w = perWindow ? { w: [(context as Partial<WindowMeta>).windowStart!, (context as Partial<WindowMeta>).windowEnd!] as [number, number] } : {};
        return { k: keyText(p), p, o: orderValues.map((o) => o(context)), r: columns, ...w };
      },
    };
  }

  /** The Top-N stage after the ranked query's rows, then the outer select list to the sink. */
  private rankedJob<C extends object>(inputs: DataStream<RankInput>, ranking: Ranking<C>): Results {
    const q = this.q;
    const topN = q.topN!;
    const columns = topN.columns.map((c, i) => {
      const name = this.outputName(q.sink.columns[i]?.name ?? c.name, false);
      return c.source === topN.rankName ? { name, value: (change: RankChange) => change.rank } : { name, value: (change: RankChange) => change.row[c.source] ?? null };
    });
    const partitions = inputs.keyBy((r) => r.k);
    const ranked: DataStream<RankChange> = ranking.perWindow ? partitions.process(windowTopN(ranking.options)) : partitions.process(continuousTopN(ranking.options));
    const stream = ranked.map((change) => {
        // The unique key: the partition and the rank when the rank is selected; else the partition (for N > 1 then
        // no unique key, but a Kinesis sink still keeps a partition's changes in order on one shard).
        const record: Record<string, unknown> = { key: keyText(ranking.rankSelected ? [...change.p, change.rank] : change.p) };
        if (change.window) {
          record.windowStart = change.window[0];
          record.windowEnd = change.window[1];
        } else record[CHANGE_KIND_FIELD] = change.op;
        for (const c of columns) record[c.name] = c.value(change);
        return record;
      });
    return { stream, sink: ranking.perWindow ? q.sink.sink : upsertSink(q.sink.sink) };
  }

  /** Flink's changelog mode of the query: append-only, or updating by a unique key. */
  private changelog(): Changelog {
    const q = this.q;
    const sink = q.sink.sink.kind === 'dynamodb' ? 'upsert' : 'retract';
    const keys = q.groupBy.filter((e) => !(e.kind === 'call' && ['TUMBLE', 'HOP', 'SESSION'].includes(e.name)) && !this.windowPropertyOf(e)).map(show);
    const windowKey = q.window ? ['window_start', 'window_end'] : [];
    const windowed = q.window !== undefined || (q.over !== undefined && resultWindow(q) !== undefined);
    const continuous = !windowed && (q.grouped || q.select.some((i) => i.expr.kind !== 'star' && hasAggregate(i.expr)));
    const topN = q.topN;
    if (topN) {
      const bounds = topN.partitionBy.map((e) => this.windowPropertyOf(e));
      const partition = topN.partitionBy.filter((_, i) => bounds[i] === undefined).map(show);
      const rankSelected = topN.columns.some((c) => c.source === topN.rankName);
      const perWindow = bounds.includes('start') && bounds.includes('end');
      const uniqueKey = [...(perWindow ? windowKey : []), ...partition, ...(rankSelected ? [topN.rankName] : [])];
      // Tied rows share a RANK (DENSE_RANK): then no column names a row, nor does the rank.
      const numbered = topN.rankFunction === 'ROW_NUMBER';
      const withoutKey = !numbered || (topN.limit > 1 && !rankSelected);
      if (perWindow) return { mode: 'append-only', kinds: ['+I'], uniqueKey: withoutKey ? [] : uniqueKey, sink };
      // Rows named by their rank change in place (-U, +U); rows named by themselves come and go (+I, -D). An
      // updating input (a continuous GROUP BY) also updates rows in place, and deletes them (HAVING).
      // A RANK row whose rank changes (a row ranked ahead of it) updates in place.
      // An updating input (a continuous GROUP BY, an outer join) also takes rows back.
      const updatingInput = continuous || q.join?.updating === true;
      const kinds: RowKind[] = withoutKey && !(updatingInput || (!numbered && rankSelected)) ? ['+I', '-D'] : withoutKey || updatingInput ? ['+I', '-U', '+U', '-D'] : ['+I', '-U', '+U'];
      return { mode: 'updating', kinds, uniqueKey: withoutKey ? [] : uniqueKey, sink };
    }
    if (windowed) return { mode: 'append-only', kinds: ['+I'], uniqueKey: [...keys, ...windowKey], sink };
    if (continuous) {
      // A group goes (-D) when HAVING drops it, or when an updating input takes back all its rows.
      return { mode: 'updating', kinds: q.having || this.input?.updating || q.join?.updating ? ['+I', '-U', '+U', '-D'] : ['+I', '-U', '+U'], uniqueKey: keys, sink };
    }
    // An outer join's rows: a row sent with NULLs is deleted when its match comes (Flink's StreamingJoinOperator).
    if (q.join?.updating) return { mode: 'updating', kinds: ['+I', '-D'], uniqueKey: [], sink };
    return { mode: 'append-only', kinds: ['+I'], uniqueKey: [], sink };
  }

  // ——— the window ———

  private window(): WindowAssignerSpec | undefined {
    const w = this.q.window;
    if (!w) return undefined;
    if (this.q.join) throw sqlError(`a ${w.kind} window over a join's rows is not supported yet — window each table and join the windows (a window join), or aggregate the joined rows without a window`, w.pos);
    const source = this.q.source;
    const clock: TimeWindowOptions = w.processingTime ? { time: 'processing' } : {};
    // Windows by arrival time (on a PROCTIME() column) need no event time.
    const time = w.processingTime ? undefined : this.column({ kind: 'column', name: w.timeColumn, pos: w.timePos ?? w.pos }, w.kind);
    if (time && !source.rowtime) {
      throw sqlError(`${w.kind} needs an event-time column: declare WATERMARK FOR ${time.name} AS ${time.name} - INTERVAL '2' SECOND in CREATE TABLE ${source.name}`, w.timePos ?? w.pos);
    }
    if (time && time.name !== source.rowtime!.column) {
      throw sqlError(`${w.kind}(${time.name}, …): ${time.name} is not the event-time column — the WATERMARK of ${source.name} is on ${source.rowtime!.column}`, w.timePos ?? w.pos);
    }
    const positive = (what: string, ms: number): void => {
      if (!Number.isInteger(ms) || ms <= 0) throw sqlError(`the ${w.kind} ${what} must be a positive whole number of milliseconds`, w.pos);
    };
    switch (w.kind) {
      case 'TUMBLE':
        positive('size', w.sizeMs);
        return tumbling(w.sizeMs, clock);
      case 'HOP':
        positive('slide', w.slideMs);
        positive('size', w.sizeMs);
        if (w.sizeMs % w.slideMs !== 0) {
          throw sqlError(`HOP size ${w.sizeMs} ms is not a multiple of its slide ${w.slideMs} ms — HOP(ts, slide, size) takes the slide first; pick a slide that divides the size`, w.pos);
        }
        return sliding(w.sizeMs, w.slideMs, clock);
      case 'CUMULATE': {
        positive('step', w.slideMs);
        positive('size', w.sizeMs);
        const usage = 'CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL step, INTERVAL size) takes the step first';
        if (w.slideMs > w.sizeMs) throw sqlError(`CUMULATE step ${w.slideMs} ms is larger than its size ${w.sizeMs} ms — ${usage}`, w.pos);
        if (w.sizeMs % w.slideMs !== 0) throw sqlError(`CUMULATE size ${w.sizeMs} ms is not a multiple of its step ${w.slideMs} ms — ${usage}; pick a step that divides the size`, w.pos);
        return cumulative(w.sizeMs, w.slideMs, clock);
      }
      case 'SESSION':
        positive('gap', w.gapMs);
        return session(w.gapMs, clock);
    }
  }

  // ——— names ———

  private column(e: ColumnExpr, clause: string): Column {
    const q = this.q;
    const looked = q.lookup && this.lookupColumn(q.lookup, e);
    if (looked) return looked;
    if (q.join) {
      const joined = q.join.column(e, clause);
      this.used.add(joined.name);
      return joined;
    }
    if (e.qualifier !== undefined && e.qualifier !== q.source.name && e.qualifier !== q.sourceAlias) {
      throw sqlError(`unknown table ${e.qualifier} in ${e.qualifier}.${e.name} — the query reads ${q.source.name}${q.sourceAlias ? ` (as ${q.sourceAlias})` : ''}`, e.pos);
    }
    const col = this.columns.get(e.name);
    if (!col) {
      const caseless = [...this.columns.keys()].find((n) => n.toLowerCase() === e.name.toLowerCase());
      const hint = caseless ? ` — did you mean ${caseless}? (names are case-sensitive)` : ` — its columns are ${[...this.columns.keys()].join(', ')}`;
      throw sqlError(`unknown column ${e.name} in ${clause}${hint}`, e.pos);
    }
    this.used.add(col.name);
    return col;
  }

  /** A lookup table's column (`s.value`, or a name only it has), named as the enriched row holds it. */
  private lookupColumn(join: LookupJoin, e: ColumnExpr): Column | undefined {
    if (e.qualifier !== join.alias && (e.qualifier !== undefined || this.columns.has(e.name))) return undefined;
    const column = join.table.columns.find((c) => c.name === e.name);
    if (!column && e.qualifier === undefined) return undefined;
    if (!column) throw sqlError(`unknown column ${e.name} in ${join.alias} — the lookup table ${join.table.name} has ${join.table.columns.map((c) => c.name).join(', ')}`, e.pos);
    return { ...column, name: lookupField(join, column.name) };
  }

  /** `*` and `t.*` as the source's columns. */
  private expandStars(items: readonly SelectItem[]): SelectItem[] {
    const q = this.q;
    return items.flatMap((item): SelectItem[] => {
      if (item.expr.kind !== 'star') return [item];
      const qualifier = item.expr.qualifier;
      if (q.join) return this.problems.attempt(() => q.join!.star(qualifier, item.expr.pos), []);
      if (qualifier !== undefined && qualifier !== q.source.name && qualifier !== q.sourceAlias) {
        this.problems.add(sqlError(`unknown table ${qualifier} in ${qualifier}.* — the query reads ${q.source.name}${q.sourceAlias ? ` (as ${q.sourceAlias})` : ''}`, item.expr.pos));
        return [];
      }
      return q.source.columns.map((col) => ({ expr: { kind: 'column', name: col.name, pos: item.expr.pos }, pos: item.pos }));
    });
  }

  /** Where a row's fields are the columns: WHERE, aggregate arguments, the select list without GROUP BY. */
  private rowScope(clause: string): Scope<Row> {
    return {
      clause,
      functions: this.q.functions,
      column: (e) => {
        const col = this.column(e, clause);
        const name = col.name;
        return { type: col.type, decimal: col.decimal, eval: (row) => row[name] ?? null };
      },
      call: () => undefined,
      windowProperty: (e) => {
        throw sqlError(`${show(e)} is only available in the select list and HAVING of a windowed query`, e.pos);
      },
    };
  }

  /** Where names are the group's: key columns and expressions, aggregates, the window's start and end. */
  private groupScope(clause: string): Scope<WindowRecord> {
    const window = this.q.window;
    const property = (p: WindowProperty, at: Expr): Compiled<WindowRecord> => {
      if (!window) throw sqlError(`${show(at)} needs a window: GROUP BY TUMBLE(ts, …), HOP(…) or SESSION(…), or FROM TABLE(TUMBLE(…))`, at.pos);
      return { type: 'TIMESTAMP', eval: p === 'start' ? (r) => r.windowStart! : p === 'end' ? (r) => r.windowEnd! : (r) => r.windowEnd! - 1 };
    };
    const key = (index: number): Compiled<WindowRecord> => {
      const k = this.keys[index]!.value;
      const value = fromPortable(k);
      return { type: k.type, decimal: k.decimal, eval: (r) => value(r.$g[index] ?? null) };
    };
    return {
      clause,
      functions: this.q.functions,
      known: (e) => {
        if (e.kind === 'column' || e.kind === 'literal') return undefined;
        const index = this.keys.findIndex((k) => k.column === undefined && k.text === show(e));
        return index === -1 ? undefined : key(index);
      },
      column: (e) => {
        const windowColumn = WINDOW_COLUMNS[e.name];
        if (windowColumn && window && !this.columns.has(e.name)) {
          if (window.form === 'group-window') {
            const fn = `${window.kind}_${windowColumn === 'rowtime' ? 'ROWTIME' : windowColumn.toUpperCase()}`;
            throw sqlError(`${e.name} belongs to FROM TABLE(${window.kind}(…)); with GROUP BY ${window.kind}(…) write ${fn}(${window.timeColumn}, …)`, e.pos);
          }
          return property(windowColumn, e);
        }
        const col = this.column(e, clause);
        const index = this.keys.findIndex((k) => k.column === col.name);
        if (index === -1) throw sqlError(`column ${col.name} is neither in GROUP BY nor inside an aggregate`, e.pos);
        return key(index);
      },
      call: (e) => {
        const windowFunction = /^(TUMBLE|HOP|SESSION)_(START|END|ROWTIME|PROCTIME)$/.exec(e.name);
        if (windowFunction) return property(this.windowFunction(e, windowFunction[1]!, windowFunction[2]!), e);
        if (!AGGREGATES.has(e.name)) return undefined;
        return this.aggregate(e);
      },
      windowProperty: (e) => property(e.property, e),
    };
  }

  /** TUMBLE_START(ts, INTERVAL '5' SECOND) and the like: must name the GROUP BY window exactly. */
  private windowFunction(e: CallExpr, kind: string, part: string): WindowProperty {
    const w = this.q.window;
    if (part === 'PROCTIME') throw sqlError(`${e.name} is not supported — shardflow windows are in event time`, e.pos);
    if (!w) throw sqlError(`${e.name}(…) needs GROUP BY ${kind}(…)`, e.pos);
    if (w.form !== 'group-window') {
      throw sqlError(`${e.name}(…) goes with GROUP BY ${kind}(…); with FROM TABLE(${w.kind}(…)) select window_${part === 'ROWTIME' ? 'time' : part.toLowerCase()}`, e.pos);
    }
    const expected = w.kind === 'HOP' ? [w.slideMs, w.sizeMs] : [w.kind === 'TUMBLE' ? w.sizeMs : w.gapMs];
    const [time, ...intervals] = e.args;
    const matches =
      kind === w.kind &&
      ((time?.kind === 'column' && time.name === w.timeColumn) || (w.processingTime === true && time?.kind === 'call' && time.name === 'PROCTIME')) &&
      intervals.length === expected.length &&
      intervals.every((a, i) => a.kind === 'interval' && a.ms === expected[i]);
    if (!matches) throw sqlError(`${show(e)} does not match the GROUP BY window ${windowText(w)}`, e.pos);
    return part === 'START' ? 'start' : part === 'END' ? 'end' : 'rowtime';
  }

  private aggregate(e: CallExpr): Compiled<WindowRecord> {
    const fn = e.name as AggregateName;
    if (e.star && fn !== 'COUNT') throw sqlError(`${fn}(*) is not valid — only COUNT takes *`, e.pos);
    if (e.star && e.distinct) throw sqlError('COUNT(DISTINCT *) is not valid — count distinct values of a column: COUNT(DISTINCT userId)', e.pos);
    if (!e.star && e.args.length !== 1) throw sqlError(`${fn} takes one argument, found ${e.args.length}`, e.pos);
    const text = show(e);
    let index = this.calls.findIndex((c) => c.text === text);
    if (index === -1) {
      const arg = e.star ? undefined : compileExpression(e.args[0]!, this.rowScope(`${fn}(…)`));
      if (arg && (fn === 'SUM' || fn === 'AVG') && arg.type !== 'INT' && arg.type !== 'DOUBLE' && arg.type !== 'DECIMAL' && arg.type !== 'NULL') {
        throw sqlError(`${text}: ${fn} needs a number, found ${arg.type}`, e.pos);
      }
      if (arg && (fn === 'MIN' || fn === 'MAX') && (arg.type === 'BOOLEAN' || arg.type === 'INTERVAL')) throw sqlError(`${text}: ${fn} of a ${arg.type} is not supported`, e.pos);
      const filter = e.filter && this.condition(e.filter, this.rowScope(`${fn}(…) FILTER`), 'FILTER (WHERE …)');
      const decimal = arg?.type === 'DECIMAL' ? decimalOf(arg) : undefined;
      index = this.calls.push({ call: { fn, star: e.star, distinct: e.distinct, decimal }, text, arg, filter }) - 1;
    }
    const { call, arg } = this.calls[index]!;
    const type = aggregateResultType(call, arg ?? { type: 'INT' });
    const value = fromPortable(type);
    const i = index;
    return { ...type, eval: (r) => value(r.$a[i] ?? null) };
  }

  private condition<C>(e: Expr, scope: Scope<C>, clause: string): Compiled<C> {
    const compiled = compileExpression(e, scope);
    if (compiled.type !== 'BOOLEAN' && compiled.type !== 'NULL') throw sqlError(`${clause} ${show(e)} is ${compiled.type}, not a condition`, startOf(e));
    return compiled;
  }

  // ——— the select list ———

  private outputs<C>(items: readonly SelectItem[], scope: Scope<C>): OutputColumn<C>[] {
    const q = this.q;
    // A Top-N's columns are named by its outer select list (rankedJob); these are the ranked query's. A join's
    // side is read by the join, not written: its columns keep their own names.
    const ranked = q.topN !== undefined;
    const sinkColumns = ranked || this.joinInput ? [] : q.sink.columns;
    if (!ranked && !this.joinInput) this.checkColumnCount(items.length);
    const seen = new Set<string>();
    return items.flatMap((item, i): OutputColumn<C>[] => {
      // The ROW_NUMBER item is the Top-N's rank; anywhere else compiling it says where it belongs.
      if (item.expr.kind === 'over' && ranked) return [];
      const compiled = this.problems.attempt(() => compileExpression(item.expr, scope), undefined);
      if (!compiled) return [];
      const property = this.windowPropertyOf(item.expr);
      const defaultName =
        item.expr.kind === 'column' ? item.expr.name : property ? `window_${property === 'rowtime' ? 'time' : property}` : `EXPR$${i}`;
      const declared = sinkColumns[i]?.name ?? item.alias ?? defaultName;
      const at = item.pos ?? item.expr.pos;
      const carried =
        !ranked && !this.joinInput &&
        ((property === 'start' && (declared === 'window_start' || declared === 'windowStart')) || (property === 'end' && (declared === 'window_end' || declared === 'windowEnd')));
      const name = ranked || this.joinInput ? declared : this.outputName(declared, carried);
      if (compiled.type === 'INTERVAL') {
        this.problems.add(sqlError(`${show(item.expr)} is an INTERVAL, not a column value — add it to a TIMESTAMP`, at));
        return [];
      }
      if (seen.has(name)) {
        this.problems.add(sqlError(`the column name ${name} appears twice in the select list — give one an alias`, at));
        return [];
      }
      seen.add(name);
      const value = compiled.eval;
      const scale = compiled.type === 'DECIMAL' ? decimalOf(compiled).scale : 0;
      // DECIMAL is written as a JSON number (its nearest double), as Flink's JSON format writes it.
      const written = compiled.type === 'DECIMAL' ? (c: C): SqlValue => { const v = value(c); return v === null ? null : decimalToNumber(v as bigint, scale); } : value;
      // A join reads a DECIMAL result as the number it is written as.
      this.resultColumns.push({ name, type: compiled.type === 'DECIMAL' ? 'DOUBLE' : compiled.type, declared: compiled.type, notNull: false });
      return [{ name, value: written, carried }];
    });
  }

  /** The sink table's columns, when it declares them, must be as many as the query's. */
  private checkColumnCount(count: number): void {
    const q = this.q;
    const sinkColumns = q.sink.columns;
    if (sinkColumns.length > 0 && sinkColumns.length !== count) {
      this.problems.add(
        sqlError(`INSERT INTO ${q.sink.name}: the query has ${count} column${count === 1 ? '' : 's'}, the table ${sinkColumns.length} (${sinkColumns.map((c) => c.name).join(', ')})`, q.pos),
      );
    }
  }

  /** A column's name in the written record: the record's own fields keep their meaning, a column named like one is written as `id_`. */
  private outputName(declared: string, carried: boolean): string {
    const reserved = RESERVED_OUTPUTS.includes(declared) || (this.updating && declared === CHANGE_KIND_FIELD);
    return reserved && !carried ? `${declared}_` : declared;
  }

  /** Whether a select item is the window's start, end or rowtime, however it was written. */
  private windowPropertyOf(e: Expr): WindowProperty | undefined {
    if (!this.q.window) return undefined;
    if (e.kind === 'windowProperty') return e.property;
    if (e.kind === 'column' && !this.columns.has(e.name)) return WINDOW_COLUMNS[e.name];
    const m = e.kind === 'call' ? /^(?:TUMBLE|HOP|SESSION)_(START|END|ROWTIME)$/.exec(e.name) : null;
    return m ? (m[1] === 'START' ? 'start' : m[1] === 'END' ? 'end' : 'rowtime') : undefined;
  }

  // ——— the source ———

  /** The rows the query reads: its table's records, read as its columns; the joined rows; or the subquery's results, which are rows already. */
  private rows(builder: JobBuilder): DataStream<Row> {
    if (this.q.join) return this.q.join.rows(builder, this.used);
    if (this.input) return this.input.stream(builder) as DataStream<Row>;
    const lookup = this.q.lookup;
    if (!lookup) return tableRecords(builder, this.q.source).map(this.decoder());
    // The key's columns are read from the record too: compiled before the decoder is made.
    const enrich = lookupRow(lookup, this.lookupKeys(lookup));
    return tableRecords(builder, this.q.source)
      .map(this.decoder())
      .mapAsync((row) => enrich(row), { readsTables: [lookup.table.tableName], retries: 2 })
      .filter((row): boolean => row !== NO_MATCH) as DataStream<Row>;
  }

  /** The values a row looks up, each as its key column's type: a number for a numeric key, text for a STRING one. */
  private lookupKeys(lookup: LookupJoin): (row: Row) => SqlValue[] {
    const keys = lookup.keys.map(({ column, expr, written }) => {
      const compiled = compileExpression(expr, this.rowScope('ON'));
      const fits = compiled.type === 'NULL' || compiled.type === column.type || (isNumeric(compiled.type) && isNumeric(column.type));
      if (!fits) {
        throw sqlError(`ON ${show(written)} = ${lookup.alias}.${column.name}: ${compiled.type} beside ${column.declared} — CAST one side so that both are text or both numbers`, startOf(written) ?? lookup.pos);
      }
      return converted(compiled, column);
    });
    return (row) => keys.map((k) => k(row));
  }

  /**
   * The window of an aggregation over a window aggregation's results, grouped by its window's columns: the
   * results of one window carry its last millisecond as their time, so a tumbling window of the inner
   * window's slide holds exactly one inner window's results (Flink keeps the window the same way).
   */
  private resultsWindow(): WindowAssignerSpec | undefined {
    const windowed = resultWindow(this.q);
    if (!windowed) return undefined;
    const w = windowed.window;
    if (w.kind === 'SESSION' || w.processingTime) {
      throw sqlError(`an aggregation per window over the results of a ${w.processingTime ? 'processing-time' : 'SESSION'} window is not supported yet — aggregate the results of TUMBLE, HOP or CUMULATE windows`, this.q.over!.pos);
    }
    // HOP and CUMULATE windows end at multiples of their slide (step), each end one window's.
    return tumbling(w.kind === 'TUMBLE' ? w.sizeMs : w.slideMs);
  }

  /** Reads the columns the query uses from a JSON record, as their declared types (projection pushdown). */
  private decoder(): (record: unknown) => Row {
    return readColumns(this.q.source.columns.filter((c) => this.used.has(c.name)));
  }
}

/** A view's PROCTIME() column, inlined: the rows' arrival time. */
const isProcTime = (e: Expr): boolean => e.kind === 'call' && e.name === 'PROCTIME' && e.args.length === 0;

function project<C>(outputs: readonly OutputColumn<C>[], context: C, base: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const o of outputs) if (!o.carried) out[o.name] = o.value(context);
  return out;
}

function windowText(w: NonNullable<LogicalQuery['window']>): string {
  const interval = (ms: number): string => `INTERVAL '${ms / 1000}' SECOND`;
  const args = w.kind === 'HOP' ? [w.slideMs, w.sizeMs] : [w.kind === 'TUMBLE' ? w.sizeMs : w.gapMs];
  return `${w.kind}(${w.timeColumn}, ${args.map(interval).join(', ')})`;
}
