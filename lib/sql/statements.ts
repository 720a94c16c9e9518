/**
 * A SQL script's statements as one logical query: CREATE TABLE declares the source and sink tables
 * (the catalog), SET names the job, the one INSERT INTO is the query. Windows written in GROUP BY
 * (TUMBLE(ts, …)) or in FROM (TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), …))) become one window spec.
 */
import { dynamoSink, kinesisSink, logSink, type SinkSpec } from '../api/sink';
import type { StreamMode } from '../api/settings';
import type { Expr, SelectQuery, Statement, TableOption, WindowSpec } from './ast';
import type { LogicalQuery, SinkTable, SourceTable } from './query';
import { SqlProblems, sqlError, type SourcePosition } from './sql-error';
import { optionDurationMs, type Column } from './types';
import { and, JoinedTables } from './joins';
import type { LookupTable } from './lookup';
import type { FunctionDeclaration } from './user-functions';
import { flatten, type Catalog, type FlatQuery } from './views';

type CreateTable = Extract<Statement, { kind: 'createTable' }>;
type Insert = Extract<Statement, { kind: 'insert' }>;

/** shardflow's own key: the mode of every Kinesis stream the job creates (`job(name, { streamMode })`). */
const STREAM_MODE_KEY = 'shardflow.stream-mode';
/** Flink's configuration keys that mean something here, and shardflow's own. */
const SET_KEYS = ['pipeline.name', 'table.exec.source.idle-timeout', 'table.exec.state.ttl', STREAM_MODE_KEY];
/** The WITH options each connector takes. */
const CONNECTOR_OPTIONS: Record<string, string[]> = {
  kinesis: ['connector', 'stream', 'format', 'shards', 'scan.watermark.idle-timeout'],
  dynamodb: ['connector', 'table-name', 'lookup.cache', 'lookup.partial-cache.max-rows', 'lookup.partial-cache.expire-after-write'],
  print: ['connector'],
};

/** The name a job gets from its sink table when no SET 'pipeline.name' gives one: `click_counts` → `click-counts`. */
export const jobNameFromTable = (table: string): string => table.replace(/_/g, '-');

export function queryFromStatements(statements: readonly Statement[]): LogicalQuery {
  const tables = new Map<string, CreateTable>();
  const views = new Map<string, SelectQuery>();
  const functions = new Map<string, FunctionDeclaration>();
  const settings = new Map<string, { value: string; pos: SourcePosition }>();
  const problems = new SqlProblems();
  let insert: Insert | undefined;
  for (const s of statements) {
    switch (s.kind) {
      case 'createTable':
      case 'createView':
        if (tables.has(s.name) || views.has(s.name)) problems.add(sqlError(`${s.name} is declared twice`, s.pos));
        else if (s.kind === 'createTable') tables.set(s.name, s);
        else views.set(s.name, s.query);
        break;
      case 'createFunction':
        if (functions.has(s.name.toUpperCase())) problems.add(sqlError(`the function ${s.name} is declared twice`, s.pos));
        else functions.set(s.name.toUpperCase(), s);
        break;
      case 'set':
        if (!SET_KEYS.includes(s.key)) problems.add(sqlError(`SET '${s.key}' is not supported — known keys: ${SET_KEYS.join(', ')}`, s.pos));
        settings.set(s.key, { value: s.value, pos: s.pos });
        break;
      case 'insert':
        if (insert) problems.add(sqlError('a second INSERT is not supported — one INSERT per job: write a job per query', s.pos));
        else {
          insert = s;
          // WITH's named queries are views of the query.
          for (const cte of s.ctes ?? []) {
            if (tables.has(cte.name) || views.has(cte.name)) problems.add(sqlError(`WITH ${cte.name}: ${cte.name} is declared already (${tables.has(cte.name) ? 'a table' : 'a view or an earlier WITH query'}) — give the query another name`, cte.pos));
            else views.set(cte.name, cte.query);
          }
        }
        break;
    }
  }
  // Every declared table's options are checked, used or not: a typo should not wait for the day it is used.
  for (const ddl of tables.values()) {
    problems.attempt(() => {
      const known = CONNECTOR_OPTIONS[connectorOf(ddl).value];
      if (known) options(ddl, known, `${connectorOf(ddl).value} table`);
    }, undefined);
  }
  const streamMode = problems.attempt(() => streamModeOf(settings.get(STREAM_MODE_KEY), tables.values()), undefined);
  // A script of CREATE statements only is most likely unfinished: its other problems come first.
  if (!insert && !problems.any) {
    const last = statements[statements.length - 1];
    problems.add(sqlError('the script has no INSERT INTO <sink> SELECT …: a job needs one', last?.pos ?? { line: 1, column: 1 }));
  }
  problems.check();
  if (!insert) throw new Error('unreachable: a script without INSERT has a problem');
  const functionDeclarations = [...functions.values()];
  const subquery = (query: SelectQuery): LogicalQuery => logicalQuery(flatten(query, catalog), insert!, tables, settings);
  const catalog: Catalog = {
    columnsOf: (t) => tables.get(t)?.columns.map((c) => c.name),
    view: (v) => views.get(v),
    join: (query, from) => joinedQuery(query, from, tables, views, settings, subquery, insert!.table),
    lookupTable: (name, pos) => {
      const ddl = tables.get(name);
      if (name === insert!.table) throw sqlError(`the job reads and writes ${name}: write the results to another table`, pos);
      if (!ddl) throw sqlError(`unknown table ${name}: declare it with CREATE TABLE ${name} (…) WITH ('connector' = 'dynamodb', 'table-name' = '…')`, pos);
      return lookupTable(ddl);
    },
  };
  const q = flatten(insert.query, catalog);
  const unionAll = (insert.unionAll ?? []).map((branch) => logicalQuery(flatten(branch, catalog), insert!, tables, settings));
  return { ...logicalQuery(q, insert, tables, settings), ...(unionAll.length > 0 && { unionAll }), ...(streamMode && { streamMode }), functionDeclarations };
}

/**
 * `SET 'shardflow.stream-mode'`: 'provisioned' or 'on-demand' for every stream the job creates. An
 * on-demand stream takes no shard count, so a Kinesis table's 'shards' is an error then.
 */
function streamModeOf(set: { value: string; pos: SourcePosition } | undefined, tables: Iterable<CreateTable>): StreamMode | undefined {
  if (!set) return undefined;
  const mode = set.value.trim().toLowerCase();
  if (mode !== 'provisioned' && mode !== 'on-demand') {
    throw sqlError(`SET '${STREAM_MODE_KEY}' = '${set.value}' is not a stream mode — use 'provisioned' (the shards each table declares) or 'on-demand' (Kinesis scales each stream by itself)`, set.pos);
  }
  if (mode === 'on-demand') {
    for (const ddl of tables) {
      const shards = ddl.options.find((o) => o.key === 'shards');
      if (shards) throw sqlError(`'shards' = '${shards.value}' on table ${ddl.name}, but SET '${STREAM_MODE_KEY}' = 'on-demand': an on-demand stream has no shard count — drop 'shards' (Kinesis starts the stream at 4 shards and scales it), or SET '${STREAM_MODE_KEY}' = 'provisioned'`, shards.pos);
    }
  }
  return mode;
}

/**
 * FROM a JOIN b as one query over the joined row. An inner join's condition (ON and WHERE) filters the pairs;
 * an outer join's ON decides which rows match and its WHERE filters the joined rows, NULLs and all: so
 * `LEFT JOIN p … WHERE p.id IS NULL` keeps the rows without a match.
 */
function joinedQuery(
  query: SelectQuery,
  from: Extract<SelectQuery['from'], { kind: 'join' }>,
  tables: ReadonlyMap<string, CreateTable>,
  views: ReadonlyMap<string, SelectQuery>,
  settings: ReadonlyMap<string, { value: string; pos: SourcePosition }>,
  subquery: (query: SelectQuery) => LogicalQuery,
  sink: string,
): FlatQuery {
  const idle = settings.get('table.exec.source.idle-timeout');
  const ttl = settings.get('table.exec.state.ttl');
  const outer = from.type === 'LEFT' || from.type === 'RIGHT' || from.type === 'FULL';
  const condition = outer ? from.on : and(from.on, query.where);
  const cumulate = cumulateIn(from);
  if (cumulate) throw sqlError('a join of CUMULATE windows (or of their results) is not supported yet — join TUMBLE or HOP windows', cumulate.pos);
  const join = new JoinedTables(from, condition, {
    source: (name, pos) => {
      const ddl = tables.get(name);
      if (name === sink) throw sqlError(`the job reads and writes ${name}: write the results to another table`, pos);
      if (!ddl) throw sqlError(`unknown table ${name}: declare it with CREATE TABLE ${name} (…) WITH ('connector' = 'kinesis', …)`, pos);
      return sourceTable(ddl, idle && { ms: durationOption(idle.value, 'table.exec.source.idle-timeout', idle.pos), pos: idle.pos });
    },
    isView: (name) => views.has(name),
    subquery,
    stateTtlMs: ttl && durationOption(ttl.value, 'table.exec.state.ttl', ttl.pos),
  });
  return { table: join.source.name, tablePos: from.pos, items: query.items, where: outer ? query.where : condition, groupBy: query.groupBy, having: query.having, pos: query.pos, join };
}

function logicalQuery(q: FlatQuery, insert: Insert, tables: ReadonlyMap<string, CreateTable>, settings: ReadonlyMap<string, { value: string; pos: SourcePosition }>): LogicalQuery {
  if (q.over) return aggregationOfResults(q, q.over, insert, tables, settings);
  const fromName = q.table;
  const sourceDdl = tables.get(fromName);
  if (!sourceDdl && !q.join) throw sqlError(`unknown table ${fromName}: declare it with CREATE TABLE ${fromName} (…) WITH ('connector' = 'kinesis', …)`, q.tablePos);
  const idle = settings.get('table.exec.source.idle-timeout');
  const source = q.join?.source ?? sourceTable(sourceDdl!, idle && { ms: durationOption(idle.value, 'table.exec.source.idle-timeout', idle.pos), pos: idle.pos });
  const sinkDdl = tables.get(insert.table);
  if (!sinkDdl) throw sqlError(`unknown table ${insert.table}: declare it with CREATE TABLE ${insert.table} (…) WITH ('connector' = 'dynamodb')`, insert.pos);
  if (sinkDdl === sourceDdl) throw sqlError(`the job reads and writes ${insert.table}: write the results to another table`, insert.pos);
  const sink = sinkTable(sinkDdl);

  let window: LogicalQuery['window'];
  const groupBy: Expr[] = [];
  if (q.windowTvf) {
    window = { ...q.windowTvf, form: 'table-function' };
    const seen = new Set<string>();
    for (const e of q.groupBy) {
      if (e.kind === 'column' && (e.name === 'window_start' || e.name === 'window_end')) seen.add(e.name);
      else if (e.kind === 'column' && e.name === 'window_time') throw sqlError('GROUP BY window_time is not supported — group by window_start, window_end', e.pos);
      else groupBy.push(e);
    }
    if (q.groupBy.length === 0) throw sqlError(`a ${window.kind} table function needs GROUP BY window_start, window_end[, keys] (Flink's window aggregation)`, q.tablePos);
    for (const column of ['window_start', 'window_end']) {
      if (!seen.has(column)) throw sqlError(`GROUP BY must list window_start and window_end with FROM TABLE(${window.kind}(…)) (${column} is missing)`, q.groupBy[0]?.pos ?? q.pos);
    }
  } else {
    for (const e of q.groupBy) {
      if (e.kind === 'call' && ['TUMBLE', 'HOP', 'SESSION', 'CUMULATE'].includes(e.name)) {
        if (window) throw sqlError(`a second window (${e.name}) in GROUP BY is not supported — group by one window`, e.pos);
        window = { ...groupWindow(e), form: 'group-window' };
      } else {
        groupBy.push(e);
      }
    }
  }

  const setName = settings.get('pipeline.name');
  const ttl = settings.get('table.exec.state.ttl');
  return {
    jobName: setName?.value ?? jobNameFromTable(sink.name),
    jobNamePos: setName?.pos ?? insert.pos,
    source,
    join: q.join,
    lookup: q.lookup,
    sourceAlias: q.alias,
    where: q.where,
    window,
    groupBy,
    grouped: q.groupBy.length > 0,
    select: q.items,
    having: q.having,
    topN: q.topN,
    stateTtlMs: ttl && durationOption(ttl.value, 'table.exec.state.ttl', ttl.pos),
    sink,
    pos: q.pos,
  };
}

/**
 * An aggregation over an aggregating subquery's results: its rows are the subquery's result records (their
 * columns known once the subquery is compiled), its GROUP BY plain keys. Grouped by the subquery's window
 * columns, the compiler aggregates them window by window (result-window.ts); else continuously.
 */
function aggregationOfResults(
  q: FlatQuery,
  over: NonNullable<FlatQuery['over']>,
  insert: Insert,
  tables: ReadonlyMap<string, CreateTable>,
  settings: ReadonlyMap<string, { value: string; pos: SourcePosition }>,
): LogicalQuery {
  const inner = logicalQuery(over.query, insert, tables, settings);
  for (const e of q.groupBy) {
    if (e.kind === 'call' && ['TUMBLE', 'HOP', 'SESSION', 'CUMULATE'].includes(e.name)) {
      throw sqlError(`a window (${e.name}) over an aggregation's results is not supported — group by the subquery's window_start and window_end columns`, e.pos);
    }
  }
  const ttl = settings.get('table.exec.state.ttl');
  return {
    ...inner,
    source: { name: q.alias ?? '(subquery)', stream: inner.source.stream, columns: [] },
    over: { query: inner, pos: over.pos },
    join: undefined,
    sourceAlias: q.alias,
    where: q.where,
    window: undefined,
    groupBy: q.groupBy,
    grouped: q.groupBy.length > 0,
    select: q.items,
    having: q.having,
    topN: q.topN,
    stateTtlMs: ttl && durationOption(ttl.value, 'table.exec.state.ttl', ttl.pos),
    pos: q.pos,
  };
}

/** A CUMULATE window table function in a FROM clause or its subqueries: the joins take none yet (their windows share a start). */
function cumulateIn(from: SelectQuery['from']): WindowSpec | undefined {
  switch (from.kind) {
    case 'windowTvf':
      return from.window.kind === 'CUMULATE' ? from.window : undefined;
    case 'subquery':
      return cumulateIn(from.query.from);
    case 'join':
      return cumulateIn(from.left) ?? cumulateIn(from.right);
    case 'table':
      return undefined;
  }
}

/** TUMBLE(ts, size), HOP(ts, slide, size), SESSION(ts, gap) in GROUP BY. */
function groupWindow(e: Extract<Expr, { kind: 'call' }>): WindowSpec {
  const name = e.name;
  if (name === 'CUMULATE') {
    throw sqlError(
      'CUMULATE is a window table function, not a GROUP BY window (as in Flink) — write FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL step, INTERVAL size)) … GROUP BY window_start, window_end',
      e.pos,
    );
  }
  const usage = name === 'TUMBLE' ? 'TUMBLE(ts, INTERVAL size)' : name === 'HOP' ? 'HOP(ts, INTERVAL slide, INTERVAL size)' : 'SESSION(ts, INTERVAL gap)';
  const [time, ...intervals] = e.args;
  // A view's PROCTIME() column, inlined: the window is by processing time.
  const processingTime = time?.kind === 'call' && time.name === 'PROCTIME' && time.args.length === 0;
  if (e.star || e.distinct || (time?.kind !== 'column' && !processingTime)) throw sqlError(`${name} takes the time column first: ${usage}`, e.pos);
  const wanted = name === 'HOP' ? 2 : 1;
  for (const a of intervals) if (a.kind !== 'interval') throw sqlError(`${name} takes INTERVALs after the time column: ${usage}`, a.pos ?? e.pos);
  if (intervals.length > wanted) throw sqlError(`a window offset is not supported — windows are aligned to the epoch: ${usage}`, intervals[wanted]?.pos ?? e.pos);
  if (intervals.length < wanted) throw sqlError(`${name} needs ${wanted === 2 ? 'a slide and a size' : 'an INTERVAL'}: ${usage}`, e.pos);
  const ms = intervals.map((a) => (a.kind === 'interval' ? a.ms : 0));
  return {
    kind: name as WindowSpec['kind'],
    timeColumn: time.kind === 'column' ? time.name : 'PROCTIME()',
    timePos: time.pos,
    processingTime,
    sizeMs: name === 'HOP' ? ms[1]! : name === 'TUMBLE' ? ms[0]! : 0,
    slideMs: name === 'HOP' ? ms[0]! : 0,
    gapMs: name === 'SESSION' ? ms[0]! : 0,
    partitionBy: [],
    pos: e.pos,
  };
}

function options(ddl: CreateTable, known: readonly string[], role: string): Map<string, TableOption> {
  const map = new Map<string, TableOption>();
  for (const o of ddl.options) {
    if (map.has(o.key)) throw sqlError(`option '${o.key}' is given twice`, o.pos);
    if (!known.includes(o.key)) throw sqlError(`option '${o.key}' is not supported for a ${role} — known options: ${known.map((k) => `'${k}'`).join(', ')}`, o.pos);
    map.set(o.key, o);
  }
  return map;
}

function connectorOf(ddl: CreateTable): TableOption {
  const connector = ddl.options.find((o) => o.key === 'connector');
  if (!connector) throw sqlError(`table ${ddl.name} has no 'connector' option: add 'connector' = 'kinesis' (a source) or 'dynamodb' (a sink)`, ddl.pos);
  return connector;
}

function durationOption(value: string, key: string, pos: SourcePosition): number {
  const ms = optionDurationMs(value);
  if (ms === undefined) throw sqlError(`'${key}' = '${value}' is not a duration: write '10 s', '500 ms' or '1 min'`, pos);
  return ms;
}

function shardsOption(o: TableOption | undefined): number | undefined {
  if (!o) return undefined;
  const n = /^\d+$/.test(o.value.trim()) ? Number(o.value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 500) throw sqlError(`'shards' = '${o.value}' is not a shard count from 1 to 500`, o.pos);
  return n;
}

function checkFormat(o: TableOption | undefined): void {
  if (o && o.value.toLowerCase() !== 'json') throw sqlError(`'format' = '${o.value}' is not supported — records are JSON ('format' = 'json')`, o.pos);
}

function sourceTable(ddl: CreateTable, idle: { ms: number; pos: SourcePosition } | undefined): SourceTable {
  const connector = connectorOf(ddl);
  if (connector.value !== 'kinesis') {
    throw sqlError(`table ${ddl.name} is read by the query, but '${connector.value}' is not a source connector — sources are 'connector' = 'kinesis'`, connector.pos);
  }
  const opts = options(ddl, CONNECTOR_OPTIONS.kinesis!, 'kinesis table');
  checkFormat(opts.get('format'));
  if (ddl.columns.length === 0) throw sqlError(`table ${ddl.name} declares no columns: list the fields of its JSON records`, ddl.pos);
  const columns = checkColumns(ddl);
  let rowtime: SourceTable['rowtime'];
  if (ddl.watermark) {
    const column = columns.find((c) => c.name === ddl.watermark!.column);
    if (!column) throw sqlError(`WATERMARK FOR ${ddl.watermark.column}: ${ddl.name} has no such column`, ddl.watermark.pos);
    if (column.type !== 'TIMESTAMP') throw sqlError(`WATERMARK FOR ${column.name}: the column is ${column.declared}, not TIMESTAMP(3)`, ddl.watermark.pos);
    if (ddl.watermark.delayMs < 0) throw sqlError('the watermark delay must not be negative', ddl.watermark.pos);
    rowtime = { column: column.name, outOfOrdernessMs: ddl.watermark.delayMs };
  }
  const idleOption = opts.get('scan.watermark.idle-timeout');
  return {
    name: ddl.name,
    stream: opts.get('stream')?.value ?? ddl.name,
    columns,
    rowtime,
    idleAfterMs: idleOption ? durationOption(idleOption.value, idleOption.key, idleOption.pos) : idle?.ms,
    shards: shardsOption(opts.get('shards')),
  };
}

/** A DynamoDB table read FOR SYSTEM_TIME AS OF: its columns, and Flink's lookup cache options. */
function lookupTable(ddl: CreateTable): LookupTable {
  const connector = connectorOf(ddl);
  if (connector.value !== 'dynamodb') {
    throw sqlError(`table ${ddl.name} is read FOR SYSTEM_TIME AS OF (a lookup join), but '${connector.value}' tables cannot be looked up — lookup tables are 'connector' = 'dynamodb'`, connector.pos);
  }
  if (ddl.watermark) throw sqlError(`the lookup table ${ddl.name} has a WATERMARK: a lookup table is read as of processing time, not as a stream — drop the WATERMARK`, ddl.watermark.pos);
  if (ddl.columns.length === 0) throw sqlError(`table ${ddl.name} declares no columns: list the attributes of its items`, ddl.pos);
  const opts = options(ddl, CONNECTOR_OPTIONS.dynamodb!, 'dynamodb table');
  const mode = opts.get('lookup.cache');
  const maxRows = opts.get('lookup.partial-cache.max-rows');
  const expiry = opts.get('lookup.partial-cache.expire-after-write');
  let cache: LookupTable['cache'];
  if (mode && !['NONE', 'PARTIAL'].includes(mode.value.toUpperCase())) throw sqlError(`'lookup.cache' = '${mode.value}' is not supported — 'NONE' (every row looks its item up, the default) or 'PARTIAL' (items kept per function instance)`, mode.pos);
  if (mode?.value.toUpperCase() === 'PARTIAL') {
    const rows = maxRows ? Number(maxRows.value.trim()) : 10_000;
    if (!Number.isInteger(rows) || rows < 1) throw sqlError(`'lookup.partial-cache.max-rows' = '${maxRows!.value}' is not a whole number of rows above 0`, maxRows!.pos);
    cache = { maxRows: rows, ttlMs: expiry ? durationOption(expiry.value, expiry.key, expiry.pos) : Number.POSITIVE_INFINITY };
  } else if (maxRows ?? expiry) {
    const o = (maxRows ?? expiry)!;
    throw sqlError(`'${o.key}' needs 'lookup.cache' = 'PARTIAL'`, o.pos);
  }
  const columns = checkColumns(ddl);
  for (const c of columns) {
    if (!['STRING', 'INT', 'DOUBLE', 'DECIMAL', 'BOOLEAN', 'TIMESTAMP'].includes(c.type)) throw sqlError(`column ${c.name} ${c.declared} of the lookup table ${ddl.name} cannot be read from an item`, ddl.pos);
  }
  return { name: ddl.name, tableName: opts.get('table-name')?.value ?? ddl.name, columns, cache };
}

function sinkTable(ddl: CreateTable): SinkTable {
  const connector = connectorOf(ddl);
  const known = CONNECTOR_OPTIONS[connector.value];
  if (!known) throw sqlError(`'connector' = '${connector.value}' is not supported for a sink — use 'dynamodb', 'kinesis' or 'print'`, connector.pos);
  const opts = options(ddl, known, `${connector.value} table`);
  checkFormat(opts.get('format'));
  let sink: SinkSpec;
  switch (connector.value) {
    case 'dynamodb':
      sink = dynamoSink(opts.get('table-name')?.value ?? ddl.name);
      break;
    case 'kinesis':
      sink = kinesisSink(opts.get('stream')?.value ?? ddl.name);
      break;
    default:
      sink = logSink(ddl.name);
  }
  return { name: ddl.name, sink, columns: checkColumns(ddl) };
}

function checkColumns(ddl: CreateTable): Column[] {
  const seen = new Set<string>();
  for (const c of ddl.columns) {
    if (seen.has(c.name)) throw sqlError(`column ${c.name} is declared twice in ${ddl.name}`, c.pos);
    seen.add(c.name);
  }
  return ddl.columns.map(({ name, type, declared, notNull, decimal }) => ({ name, type, declared, notNull, decimal }));
}
