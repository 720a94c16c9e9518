/**
 * SQL (and the Table API) compiled to jobs: the plan they make, the exact results they give through the
 * harness, what happens to records that do not fit, and the errors for queries that cannot run.
 */
import { soleOutput } from '../../lib/plan/plan';
import * as path from 'node:path';
import { $, compileSql, dynamoSink, from, job, kinesisSource, kinesisTable, planJob, SqlError, Tumble, tumbling, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { loadJob } from '../../lib/cli/load-job';

const ROOT = path.resolve(__dirname, '../..');

/** A clicks table, a sink, and the query given. */
const sql = (query: string, sink = "CREATE TABLE out WITH ('connector' = 'dynamodb', 'table-name' = 'sql-out');"): string => `
  CREATE TABLE clicks (userId STRING, page STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
    WITH ('connector' = 'kinesis', 'stream' = 'clicks');
  ${sink}
  ${query}`;

type Click = { userId: string | null; page?: string | null; clicks: number | string | null; ts: number | string };
const click = (userId: string | null, clicks: number | string | null, ts: number | string, page: string | null = 'home'): Click => ({ userId, page, clicks, ts });

/** Runs a job on events (one batch), fires everything, and returns the results table sorted by key and window. */
async function run(definition: JobDefinition, events: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; dead: string[] }> {
  const h = harness(definition);
  await h.sendBatch(events);
  await h.finish();
  const rows = h.table().map(({ ...r }) => r).sort((a, b) => String(a.key).localeCompare(String(b.key)) || Number(a.windowStart) - Number(b.windowStart));
  return { rows, dead: h.deadLetters().map((d) => d.reason) };
}

function errorOf(text: string): SqlError {
  try {
    compileSql(text);
  } catch (e) {
    if (e instanceof SqlError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('the plan', () => {
  test('the click-count example compiles to the same stages as the DataStream job', () => {
    const fromSql = planJob(loadJob(path.join(ROOT, 'examples/click-counts.sql')));
    const fromTs = planJob(loadJob(path.join(ROOT, 'examples/click-counts.ts')));
    expect(fromSql.job).toBe('click-counts-sql');
    expect(fromSql.eventTime).toEqual(fromTs.eventTime);
    expect(fromSql.stages.map((s) => [s.input.kind, s.keyed?.kind, s.keyed?.kind === 'window' && s.keyed.assigner, soleOutput(s)!.kind])).toEqual(
      fromTs.stages.map((s) => [s.input.kind, s.keyed?.kind, s.keyed?.kind === 'window' && s.keyed.assigner, soleOutput(s)!.kind]),
    );
    expect(fromSql.sinks).toEqual([{ kind: 'dynamodb', name: 'click-counts-sql', table: 'click-counts-sql', options: {} }]);
    expect(fromSql.stages[0]!.input).toMatchObject({ kind: 'source', stream: 'clicks', shards: 1 });
  });

  test('HOP(ts, slide, size) is sliding(size, slide); SESSION(ts, gap) is session(gap)', () => {
    const assigner = (group: string): unknown => {
      const plan = planJob(compileSql(sql(`INSERT INTO out SELECT COUNT(*) AS n FROM clicks GROUP BY userId, ${group}`)));
      const keyed = plan.stages[1]!.keyed!;
      return keyed.kind === 'window' ? keyed.assigner : undefined;
    };
    expect(assigner("HOP(ts, INTERVAL '1' SECOND, INTERVAL '5' SECOND)")).toEqual({ kind: 'sliding', sizeMs: 5000, slideMs: 1000 });
    expect(assigner("SESSION(ts, INTERVAL '30' SECOND)")).toEqual({ kind: 'session', gapMs: 30_000 });
    expect(assigner("TUMBLE(ts, INTERVAL '1' MINUTE)")).toEqual({ kind: 'tumbling', sizeMs: 60_000 });
  });

  test("the job is named by SET 'pipeline.name', else by the sink table (with - for _)", () => {
    expect(compileSql(sql("INSERT INTO click_totals SELECT userId FROM clicks", "CREATE TABLE click_totals WITH ('connector' = 'print');")).name).toBe('click-totals');
    expect(compileSql(`SET 'pipeline.name' = 'mine';` + sql('INSERT INTO out SELECT userId FROM clicks')).name).toBe('mine');
  });
});

describe('window results', () => {
  test('carry key, windowStart, windowEnd and the select list by alias; TUMBLE_START is windowStart', async () => {
    const job = compileSql(
      sql(`INSERT INTO out
        SELECT userId, TUMBLE_START(ts, INTERVAL '5' SECOND) AS window_start, TUMBLE_END(ts, INTERVAL '5' SECOND) AS ends,
               SUM(clicks) AS clicks, COUNT(*) AS n, SUM(clicks) * 10 / COUNT(*) AS tenths, AVG(clicks) AS mean, MIN(page) AS first_page
        FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)`),
    );
    const { rows } = await run(job, [click('ann', 1, 1000, 'b'), click('ann', 2, 4999, 'a'), click('bob', 5, 2000), click('ann', 7, 5000)]);
    expect(rows).toEqual([
      { key: 'ann', windowStart: 0, windowEnd: 5000, userId: 'ann', ends: 5000, clicks: 3, n: 2, tenths: 15, mean: 1.5, first_page: 'a' },
      { key: 'ann', windowStart: 5000, windowEnd: 10000, userId: 'ann', ends: 10000, clicks: 7, n: 1, tenths: 70, mean: 7, first_page: 'home' },
      { key: 'bob', windowStart: 0, windowEnd: 5000, userId: 'bob', ends: 5000, clicks: 5, n: 1, tenths: 50, mean: 5, first_page: 'home' },
    ]);
  });

  test('a sink with declared columns names the select list in order, as Flink’s INSERT does', async () => {
    const job = compileSql(
      sql(
        "INSERT INTO out SELECT userId, TUMBLE_START(ts, INTERVAL '5' SECOND), SUM(clicks) FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)",
        "CREATE TABLE out (user_id STRING, window_start TIMESTAMP(3), total BIGINT) WITH ('connector' = 'dynamodb', 'table-name' = 'sql-out');",
      ),
    );
    expect((await run(job, [click('ann', 2, 10)])).rows).toEqual([{ key: 'ann', windowStart: 0, windowEnd: 5000, user_id: 'ann', total: 2 }]);
  });

  test('the window table-valued function: window_start and window_end are the result’s windowStart and windowEnd', async () => {
    const job = compileSql(
      sql(`INSERT INTO out SELECT window_start, window_end, window_time, userId, COUNT(*) AS n
           FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '4' SECOND))
           GROUP BY window_start, window_end, userId`),
    );
    expect((await run(job, [click('ann', 1, 2500)])).rows).toEqual([
      { key: 'ann', windowStart: 0, windowEnd: 4000, window_time: 3999, userId: 'ann', n: 1 },
      { key: 'ann', windowStart: 2000, windowEnd: 6000, window_time: 5999, userId: 'ann', n: 1 },
    ]);
  });

  test('several group columns make a JSON key; no group column makes the key "all"', async () => {
    const byTwo = compileSql(sql("INSERT INTO out SELECT userId, page, COUNT(*) AS n FROM clicks GROUP BY userId, page, TUMBLE(ts, INTERVAL '5' SECOND)"));
    expect((await run(byTwo, [click('ann', 1, 1, 'home'), click('ann', 1, 2, 'cart'), click('ann', 1, 3, 'home')])).rows).toEqual([
      { key: '["ann","cart"]', windowStart: 0, windowEnd: 5000, userId: 'ann', page: 'cart', n: 1 },
      { key: '["ann","home"]', windowStart: 0, windowEnd: 5000, userId: 'ann', page: 'home', n: 2 },
    ]);
    const global = compileSql(sql("INSERT INTO out SELECT COUNT(DISTINCT userId) AS users, MAX(clicks) AS top FROM clicks GROUP BY TUMBLE(ts, INTERVAL '5' SECOND)"));
    expect((await run(global, [click('ann', 1, 1), click('bob', 4, 2), click('ann', 2, 3)])).rows).toEqual([{ key: 'all', windowStart: 0, windowEnd: 5000, users: 2, top: 4 }]);
  });

  test('aggregates skip NULLs: COUNT(x) counts values, SUM of none is NULL, COUNT(DISTINCT) counts each value once', async () => {
    const job = compileSql(
      sql("INSERT INTO out SELECT COUNT(*) AS rows_, COUNT(clicks) AS counted, SUM(clicks) AS total, COUNT(DISTINCT page) AS pages FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)"),
    );
    const { rows } = await run(job, [click('ann', null, 1, 'a'), click('ann', null, 2, null), click('bob', 3, 3, 'a'), click('bob', 3, 4, 'a'), click('bob', null, 5, 'b')]);
    expect(rows).toEqual([
      { key: 'ann', windowStart: 0, windowEnd: 5000, rows_: 2, counted: 0, total: null, pages: 1 },
      { key: 'bob', windowStart: 0, windowEnd: 5000, rows_: 3, counted: 2, total: 6, pages: 2 },
    ]);
  });

  test('HAVING keeps the groups whose condition is TRUE', async () => {
    const job = compileSql(sql("INSERT INTO out SELECT COUNT(*) AS n FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND) HAVING COUNT(*) > 1 AND MAX(clicks) < 10"));
    const { rows } = await run(job, [click('ann', 1, 1), click('ann', 1, 2), click('bob', 1, 3), click('cid', 1, 4), click('cid', 10, 5)]);
    expect(rows).toEqual([{ key: 'ann', windowStart: 0, windowEnd: 5000, n: 2 }]);
  });

  test('sessions per key merge, and their results carry the merged window', async () => {
    const job = compileSql(sql("INSERT INTO out SELECT SUM(clicks) AS clicks, SESSION_END(ts, INTERVAL '3' SECOND) AS ended FROM clicks GROUP BY userId, SESSION(ts, INTERVAL '3' SECOND)"));
    const { rows } = await run(job, [click('ann', 1, 1000), click('ann', 2, 6000), click('ann', 4, 3500), click('bob', 1, 1000)]);
    expect(rows).toEqual([
      { key: 'ann', windowStart: 1000, windowEnd: 9000, clicks: 7, ended: 9000 },
      { key: 'bob', windowStart: 1000, windowEnd: 4000, clicks: 1, ended: 4000 },
    ]);
  });
});

describe('WHERE', () => {
  const counted = async (where: string, events: Click[]): Promise<Record<string, unknown>[]> =>
    (await run(compileSql(sql(`INSERT INTO out SELECT COUNT(*) AS n FROM clicks WHERE ${where} GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)`)), events)).rows.map((r) => ({
      [String(r.key)]: r.n,
    }));
  const events = [click('ann', 1, 1, 'home'), click('ann', 5, 2, 'cart'), click('bob', 3, 3, 'help'), click('bob', null, 4, null), click('cid', 8, 5, 'home_2')];

  test.each([
    ["page = 'home'", [{ ann: 1 }]],
    ["page <> 'home'", [{ ann: 1 }, { bob: 1 }, { cid: 1 }]],
    ["page LIKE 'h%'", [{ ann: 1 }, { bob: 1 }, { cid: 1 }]],
    ["page LIKE 'home\\_%' ESCAPE '\\'", [{ cid: 1 }]],
    ["page NOT LIKE '_ome%'", [{ ann: 1 }, { bob: 1 }]],
    ['clicks BETWEEN 2 AND 5', [{ ann: 1 }, { bob: 1 }]],
    ["userId IN ('ann', 'cid') AND NOT clicks > 5", [{ ann: 2 }]],
    ['clicks * 2 + 1 >= 11 OR page IS NULL', [{ ann: 1 }, { bob: 1 }, { cid: 1 }]],
    ['clicks IS NOT NULL AND clicks % 2 = 1', [{ ann: 2 }, { bob: 1 }]],
    ['clicks > 2 OR clicks <= 2', [{ ann: 2 }, { bob: 1 }, { cid: 1 }]], // NULL is neither: bob's NULL row is dropped
    ["ts >= TIMESTAMP '1970-01-01 00:00:00.003'", [{ bob: 2 }, { cid: 1 }]],
  ])('%s', async (where, expected) => {
    expect(await counted(where, events)).toEqual(expected);
  });
});

describe('records', () => {
  const job = () => compileSql(sql("INSERT INTO out SELECT SUM(clicks) AS clicks FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)"));

  test('TIMESTAMP(3) columns read epoch ms and ISO-8601 strings (UTC without a zone)', async () => {
    const { rows, dead } = await run(job(), [click('ann', 1, 4999), click('ann', 2, '1970-01-01T00:00:05.000Z'), click('ann', 4, '1970-01-01 00:00:04.5'), click('ann', 8, '1970-01-01T01:00:05+01:00')]);
    expect(dead).toEqual([]);
    expect(rows).toEqual([
      { key: 'ann', windowStart: 0, windowEnd: 5000, clicks: 5 },
      { key: 'ann', windowStart: 5000, windowEnd: 10000, clicks: 10 },
    ]);
  });

  test('a field that does not fit its column, a bad timestamp or a NULL group key go to the dead letters, the rest counts', async () => {
    const { rows, dead } = await run(job(), [click('ann', 1, 1), click('ann', 'many', 2), click('ann', 1.5, 3), click('ann', '2', 4), click('ann', 1, 'yesterday'), click(null, 1, 5), 'not json']);
    expect(rows).toEqual([{ key: 'ann', windowStart: 0, windowEnd: 5000, clicks: 3 }]);
    expect(dead).toEqual([
      `map#1 threw: column 'clicks' INT: "many" is not an integer`,
      "map#1 threw: column 'clicks' INT: 1.5 is not an integer",
      `eventTime threw: the event-time column 'ts' is "yesterday", not a timestamp (epoch ms or ISO-8601)`,
      "map#2 threw: GROUP BY column 'userId' is NULL",
      'eventTime threw: the record is not a JSON object',
    ]);
  });
});

describe('queries without GROUP BY', () => {
  test('filter and project every row to the sink', async () => {
    const job = compileSql(sql("INSERT INTO out SELECT userId AS who, clicks * 2 AS doubled, ts FROM clicks WHERE page LIKE 'c%'", "CREATE TABLE out WITH ('connector' = 'kinesis', 'stream' = 'doubled');"));
    const h = harness(job);
    await h.sendBatch([click('ann', 1, 1000, 'home'), click('bob', 3, '1970-01-01T00:00:02Z', 'cart')]);
    expect(h.results()).toEqual([{ who: 'bob', doubled: 6, ts: 2000 }]);
    expect(planJob(job).stages).toHaveLength(1);
  });

  test('SELECT * writes every declared column', async () => {
    const h = harness(compileSql(sql('INSERT INTO out SELECT * FROM clicks', "CREATE TABLE out WITH ('connector' = 'print');")));
    await h.send({ ...click('ann', 1, 7), extra: 'dropped' });
    expect(h.results()).toEqual([{ userId: 'ann', page: 'home', clicks: 1, ts: 7 }]);
  });
});

describe('the Table API', () => {
  const clicks = kinesisTable('clicks', { columns: { userId: 'STRING', page: 'STRING', clicks: 'INT', ts: 'TIMESTAMP(3)' }, watermark: { column: 'ts', outOfOrderness: '2s' } });
  const events = [click('ann', 1, 1000), click('ann', 2, 4000, 'cart'), click('bob', 5, 2000), click('ann', 7, 6000), click('bob', 1, 7000, 'cart')];

  test('gives the SQL query’s results and plan', async () => {
    const fromApi = from(clicks)
      .where($('page').isEqual('home').or("page = 'cart' AND clicks > 1"))
      .window(Tumble.over('5s').on('ts').as('w'))
      .groupBy('w', 'userId')
      .select($('userId'), $('w').start().as('window_start'), $('clicks').sum().as('clicks'), 'COUNT(DISTINCT page) AS pages')
      .where('clicks > 1')
      .insertInto(dynamoSink('sql-out'), { job: 'out' });
    const fromSql = compileSql(
      sql(`INSERT INTO out SELECT userId, window_start, SUM(clicks) AS clicks, COUNT(DISTINCT page) AS pages
           FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND))
           WHERE page = 'home' OR (page = 'cart' AND clicks > 1)
           GROUP BY window_start, window_end, userId HAVING SUM(clicks) > 1`),
    );
    const expected = [
      { key: 'ann', windowStart: 0, windowEnd: 5000, userId: 'ann', clicks: 3, pages: 2 },
      { key: 'ann', windowStart: 5000, windowEnd: 10000, userId: 'ann', clicks: 7, pages: 1 },
      { key: 'bob', windowStart: 0, windowEnd: 5000, userId: 'bob', clicks: 5, pages: 1 },
    ];
    expect((await run(fromApi, events)).rows).toEqual(expected);
    expect((await run(fromSql, events)).rows).toEqual(expected);
    expect(planJob(fromApi).stages.map((s) => s.keyed?.kind)).toEqual(planJob(fromSql).stages.map((s) => s.keyed?.kind));
  });

  test('the DataStream job it stands for gives the same results', async () => {
    const fromApi = from(clicks).window(Tumble.over('5s').on('ts')).groupBy('userId').select($('clicks').sum().as('clicks')).insertInto(dynamoSink('sql-out'));
    const byHand = job('by-hand')
      .source(kinesisSource<{ userId: string; clicks: number; ts: number }>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s' }))
      .keyBy('userId')
      .window(tumbling('5s'))
      .sum('clicks')
      .sink(dynamoSink('sql-out'));
    expect((await run(fromApi, events)).rows).toEqual((await run(byHand, events)).rows);
  });

  test('errors name the call and the problem', () => {
    expect(() => from(clicks).where('clicks >').insertInto(dynamoSink('sql-out'))).toThrow("where('clicks >'), line 1, column 9: expected an expression, found the end of the text");
    expect(() => from(clicks).window(Tumble.over('5s').on('ts')).groupBy('userId').select('user').insertInto(dynamoSink('sql-out'))).toThrow(
      'Table API, line 1, column 1: unknown column user in SELECT — its columns are userId, page, clicks, ts',
    );
    expect(() => from(clicks).window(Tumble.over('5s').on('ts').as('w')).groupBy('userId').select($('v').end())).toThrow("$('v') is not the window: the window is 'w'");
  });
});

describe('queries that cannot run get a SqlError at the place', () => {
  test.each([
    ['an unknown column', 'INSERT INTO out SELECT userid FROM clicks', 'userid', 'unknown column userid in SELECT — did you mean userId? (names are case-sensitive)'],
    ['a column neither grouped nor aggregated', "INSERT INTO out SELECT page, COUNT(*) AS n FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)", 'page', 'column page is neither in GROUP BY nor inside an aggregate'],
    ['an aggregate in WHERE', "INSERT INTO out SELECT COUNT(*) AS n FROM clicks WHERE SUM(clicks) > 1 GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)", 'SUM', 'SUM(clicks) is not allowed in WHERE — filter aggregates with HAVING'],
    ['a nested aggregate', "INSERT INTO out SELECT SUM(COUNT(*)) AS n FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)", 'COUNT', 'COUNT(*) is not allowed in SUM(…)'],
    ['ROW_NUMBER() not filtered on', 'INSERT INTO out SELECT userId, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY ts) AS rn FROM clicks', 'ROW_NUMBER', "ROW_NUMBER() OVER (…) is supported as Flink's Top-N or deduplication, a select item of a subquery filtered on it: SELECT … FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY … ORDER BY … DESC) AS rn FROM …) WHERE rn <= N"],
    ['a Top-N filtered on another column', 'INSERT INTO out SELECT userId FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY clicks DESC) AS rn FROM clicks) WHERE clicks > 3', 'clicks > 3', 'WHERE clicks > 3 on a Top-N is not supported — filter on the rank alone: WHERE rn <= N (or rn = 1 to deduplicate); filter the rows inside the subquery'],
    ['a Top-N without ORDER BY', 'INSERT INTO out SELECT userId FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId) AS rn FROM clicks) WHERE rn <= 3', 'ROW_NUMBER', 'ROW_NUMBER() OVER (…) in a Top-N needs ORDER BY: the order the rows are ranked in'],
    ['a Top-3 without its rank to DynamoDB', 'INSERT INTO out SELECT userId, clicks FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY clicks DESC) AS rn FROM clicks) WHERE rn <= 3', 'ROW_NUMBER', 'a Top-3 without its rank column writes to DynamoDB by a unique key it does not have — select rn (the key is then the partition and the rank), or write to a Kinesis sink'],
    ['an expression over a Top-N', 'INSERT INTO out SELECT clicks * 2 AS c FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY clicks DESC) AS rn FROM clicks) WHERE rn = 1', 'clicks * 2', 'clicks * 2: the query over a Top-N selects its columns — compute clicks * 2 in the subquery, beside rn'],
    ['PROCTIME() as a value', 'INSERT INTO out SELECT userId, PROCTIME() AS p FROM clicks', 'PROCTIME', 'PROCTIME() is supported as the time of a window only — declare it in a view (SELECT *, PROCTIME() AS p FROM t) and window on it: TUMBLE(TABLE v, DESCRIPTOR(p), …) or GROUP BY TUMBLE(p, …)'],
    ['a window bound in a continuous aggregate', 'INSERT INTO out SELECT userId, window_start, COUNT(*) AS n FROM clicks GROUP BY userId', 'window_start', 'unknown column window_start in SELECT — its columns are userId, page, clicks, ts'],
    ['a HOP size that is not a multiple of the slide', "INSERT INTO out SELECT COUNT(*) AS n FROM clicks GROUP BY HOP(ts, INTERVAL '2' SECOND, INTERVAL '5' SECOND)", 'HOP', 'HOP size 5000 ms is not a multiple of its slide 2000 ms — HOP(ts, slide, size) takes the slide first; pick a slide that divides the size'],
    ['TUMBLE_END of another window', "INSERT INTO out SELECT TUMBLE_END(ts, INTERVAL '10' SECOND) AS e FROM clicks GROUP BY TUMBLE(ts, INTERVAL '5' SECOND)", 'TUMBLE_END', "TUMBLE_END(ts, INTERVAL '10' SECOND) does not match the GROUP BY window TUMBLE(ts, INTERVAL '5' SECOND)"],
    ['window_start with a GROUP BY window', "INSERT INTO out SELECT window_start FROM clicks GROUP BY TUMBLE(ts, INTERVAL '5' SECOND)", 'window_start', "window_start belongs to FROM TABLE(TUMBLE(…)); with GROUP BY TUMBLE(…) write TUMBLE_START(ts, …)"],
    ['a window on a column without a WATERMARK', "INSERT INTO out SELECT COUNT(*) AS n FROM clicks GROUP BY TUMBLE(page, INTERVAL '5' SECOND)", 'page', 'TUMBLE(page, …): page is not the event-time column — the WATERMARK of clicks is on ts'],
    ['comparing a number with a string', "INSERT INTO out SELECT userId FROM clicks WHERE clicks = 'many'", '=', "clicks = 'many' compares INT with STRING"],
    ['SUM of a string', "INSERT INTO out SELECT SUM(page) AS s FROM clicks GROUP BY TUMBLE(ts, INTERVAL '5' SECOND)", 'SUM', 'SUM(page): SUM needs a number, found STRING'],
    ['a name used twice', "INSERT INTO out SELECT userId, page AS userId FROM clicks", 'page', 'the column name userId appears twice in the select list — give one an alias'],
    ['WHERE that is not a condition', 'INSERT INTO out SELECT userId FROM clicks WHERE clicks + 1', 'clicks +', 'WHERE clicks + 1 is INT, not a condition'],
    ['an unknown table', 'INSERT INTO out SELECT userId FROM click', 'click\n', "unknown table click: declare it with CREATE TABLE click (…) WITH ('connector' = 'kinesis', …)"],
    ['window TVF without window_end in GROUP BY', "INSERT INTO out SELECT COUNT(*) AS n FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND)) GROUP BY window_start", 'window_start\n', 'GROUP BY must list window_start and window_end with FROM TABLE(TUMBLE(…)) (window_end is missing)'],
    ['a SESSION TVF not partitioned by the keys', "INSERT INTO out SELECT userId, COUNT(*) AS n FROM TABLE(SESSION(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND)) GROUP BY window_start, window_end, userId", 'SESSION(TABLE', 'SESSION(TABLE … PARTITION BY (none)) must partition by the GROUP BY keys (userId): sessions here are per key'],
  ])('%s', (_what, query, marker, problem) => {
    const text = sql(query + '\n');
    const e = errorOf(text);
    const offset = text.indexOf(marker, text.indexOf('INSERT'));
    const before = text.slice(0, offset).split('\n');
    expect({ problem: e.problem, line: e.line, column: e.column }).toEqual({ problem, line: before.length, column: before[before.length - 1]!.length + 1 });
  });

  test('a job name AWS cannot use', () => {
    const e = errorOf(sql("INSERT INTO out SELECT userId FROM clicks", "CREATE TABLE out WITH ('connector' = 'dynamodb');").replace('INSERT INTO out', "SET 'pipeline.name' = 'my job';\nINSERT INTO out"));
    expect(e.problem).toBe("the job name 'my job' is not usable in AWS resource names — use letters, digits and dashes, starting with a letter, at most 40 characters (SET 'pipeline.name' = 'my-job')");
  });

  test('a sink whose declared columns do not match the query', () => {
    const e = errorOf(sql('INSERT INTO out SELECT userId FROM clicks', "CREATE TABLE out (a STRING, b INT) WITH ('connector' = 'dynamodb');"));
    expect(e.problem).toBe('INSERT INTO out: the query has 1 column, the table 2 (a, b)');
  });
});

describe('queries as Flink writes them', () => {
  const events = [click('ann', 1, 1000, 'home'), click('bob', 3, 2000, 'home'), click('ann', 2, 3000, 'cart'), click('cid', 5, 4000, 'help'), click('ann', 4, 6000, 'home')];

  test('GROUP BY an expression, aggregates with FILTER (WHERE …), HAVING', async () => {
    const job = compileSql(
      sql(`INSERT INTO out SELECT UPPER(page) AS p, COUNT(*) AS n, COUNT(*) FILTER (WHERE clicks > 1) AS big, SUM(clicks) FILTER (WHERE userId = 'ann') AS ann_clicks
           FROM clicks GROUP BY UPPER(page), TUMBLE(ts, INTERVAL '5' SECOND) HAVING COUNT(*) > 1 OR UPPER(page) = 'HELP'`),
    );
    expect((await run(job, events)).rows).toEqual([
      { key: 'HELP', windowStart: 0, windowEnd: 5000, p: 'HELP', n: 1, big: 1, ann_clicks: null },
      { key: 'HOME', windowStart: 0, windowEnd: 5000, p: 'HOME', n: 2, big: 1, ann_clicks: 1 },
    ]);
  });

  test('a derived table that projects and filters, aggregated by the outer query', async () => {
    const derived = compileSql(
      sql(`INSERT INTO out SELECT who, SUM(doubled) AS total
           FROM (SELECT userId AS who, clicks * 2 AS doubled, ts FROM clicks WHERE page <> 'cart') AS c
           WHERE c.doubled > 2 GROUP BY who, TUMBLE(ts, INTERVAL '5' SECOND)`),
    );
    const inline = compileSql(
      sql(`INSERT INTO out SELECT userId AS who, SUM(clicks * 2) AS total FROM clicks
           WHERE page <> 'cart' AND clicks * 2 > 2 GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)`),
    );
    const { rows } = await run(derived, events);
    expect(rows).toEqual([
      { key: 'ann', windowStart: 5000, windowEnd: 10000, who: 'ann', total: 8 },
      { key: 'bob', windowStart: 0, windowEnd: 5000, who: 'bob', total: 6 },
      { key: 'cid', windowStart: 0, windowEnd: 5000, who: 'cid', total: 10 },
    ]);
    expect((await run(inline, events)).rows).toEqual(rows);
    expect(planJob(derived).stages.map((s) => s.keyed?.kind)).toEqual(planJob(inline).stages.map((s) => s.keyed?.kind));
  });

  test('a filter on an aggregating derived table is its HAVING', async () => {
    const outer = compileSql(
      sql(`INSERT INTO out SELECT userId, n FROM (
             SELECT userId, COUNT(*) AS n, window_start, window_end FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND))
             GROUP BY userId, window_start, window_end) WHERE n >= 2`),
    );
    const having = compileSql(
      sql(`INSERT INTO out SELECT userId, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND))
           GROUP BY userId, window_start, window_end HAVING COUNT(*) >= 2`),
    );
    const { rows } = await run(outer, events);
    expect(rows).toEqual([{ key: 'ann', windowStart: 0, windowEnd: 5000, userId: 'ann', n: 2 }]);
    expect((await run(having, events)).rows).toEqual(rows);
  });

  test('CREATE VIEW, and a window table function over the view', async () => {
    const job = compileSql(
      sql(`CREATE VIEW big_clicks AS SELECT *, clicks * 10 AS tenfold FROM clicks WHERE clicks > 1;
           INSERT INTO out SELECT userId, SUM(tenfold) AS s FROM TABLE(TUMBLE(TABLE big_clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND))
           GROUP BY userId, window_start, window_end`),
    );
    expect((await run(job, events)).rows).toEqual([
      { key: 'ann', windowStart: 0, windowEnd: 5000, userId: 'ann', s: 20 },
      { key: 'ann', windowStart: 5000, windowEnd: 10000, userId: 'ann', s: 40 },
      { key: 'bob', windowStart: 0, windowEnd: 5000, userId: 'bob', s: 30 },
      { key: 'cid', windowStart: 0, windowEnd: 5000, userId: 'cid', s: 50 },
    ]);
  });

  test('WITH … AS (SELECT …) after INSERT INTO: named queries, each reading the ones before, as CREATE VIEW does', async () => {
    const withQuery = compileSql(
      sql(`INSERT INTO out WITH big_clicks AS (SELECT *, clicks * 10 AS tenfold FROM clicks WHERE clicks > 1),
             bigger AS (SELECT userId, ts, tenfold FROM big_clicks WHERE tenfold > 20)
           SELECT userId, SUM(tenfold) AS s FROM TABLE(TUMBLE(TABLE bigger, DESCRIPTOR(ts), INTERVAL '5' SECOND))
           GROUP BY userId, window_start, window_end`),
    );
    expect((await run(withQuery, events)).rows).toEqual([
      { key: 'ann', windowStart: 5000, windowEnd: 10000, userId: 'ann', s: 40 },
      { key: 'bob', windowStart: 0, windowEnd: 5000, userId: 'bob', s: 30 },
      { key: 'cid', windowStart: 0, windowEnd: 5000, userId: 'cid', s: 50 },
    ]);
    expect(() => compileSql(sql('INSERT INTO out WITH clicks AS (SELECT * FROM clicks) SELECT * FROM clicks'))).toThrow(/WITH clicks: clicks is declared already \(a table\) — give the query another name/);
  });

  test('SELECT *, expr and t.* write every column and the expression', async () => {
    const withExpr = harness(compileSql(sql('INSERT INTO out SELECT *, clicks + 1 AS more FROM clicks', "CREATE TABLE out WITH ('connector' = 'print');")));
    await withExpr.send(click('ann', 1, 7));
    expect(withExpr.results()).toEqual([{ userId: 'ann', page: 'home', clicks: 1, ts: 7, more: 2 }]);
    const qualified = harness(compileSql(sql("INSERT INTO out SELECT c.*, 'x' AS tag FROM clicks AS c", "CREATE TABLE out WITH ('connector' = 'print');")));
    await qualified.send(click('bob', 2, 8, 'cart'));
    expect(qualified.results()).toEqual([{ userId: 'bob', page: 'cart', clicks: 2, ts: 8, tag: 'x' }]);
  });

  test('columns named id and key (Nexmark’s) are written as id_ and key_: the record’s own id and key keep their meaning', async () => {
    const job = compileSql(
      sql('INSERT INTO out SELECT clicks AS id, userId AS key, page FROM clicks', "CREATE TABLE out WITH ('connector' = 'dynamodb', 'table-name' = 'sql-out');"),
    );
    const h = harness(job);
    await h.send(click('ann', 4, 7));
    expect(h.results()).toEqual([{ id_: 4, key_: 'ann', page: 'home' }]);
    const declared = compileSql(
      sql("INSERT INTO out SELECT userId, COUNT(*) FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)", "CREATE TABLE out (key STRING, id BIGINT) WITH ('connector' = 'dynamodb', 'table-name' = 'sql-out');"),
    );
    expect((await run(declared, [click('ann', 1, 1)])).rows).toEqual([{ key: 'ann', windowStart: 0, windowEnd: 5000, key_: 'ann', id_: 1 }]);
  });
});

describe('every problem is reported, each where it is', () => {
  test('problems in several clauses of a query', () => {
    const text = sql(`INSERT INTO out
SELECT userid, UPPERCASE(page) AS p
FROM clicks
WHERE clicks = 'many'`);
    const e = errorOf(text);
    const line = (marker: string): number => text.slice(0, text.indexOf(marker)).split('\n').length;
    expect(e.problems.map((p) => [p.line, p.problem])).toEqual([
      [line('SELECT userid'), 'unknown column userid in SELECT — did you mean userId? (names are case-sensitive)'],
      [line('SELECT userid'), 'the function UPPERCASE is not supported — see docs/sql.md for the functions there are (COUNT, SUM, MIN, MAX, AVG, CASE, CAST, COALESCE, UPPER, SUBSTRING, DATE_FORMAT, …)'],
      [line('WHERE'), "clicks = 'many' compares INT with STRING"],
    ]);
    expect(e.message.split('\n')).toHaveLength(3);
    expect(e.message.split('\n')[2]).toBe(`line ${line('WHERE')}, column 14: clicks = 'many' compares INT with STRING`);
  });

  test('problems in several statements, and unsupported constructs read past', () => {
    const text = `CREATE TABLE clicks (userId STRING, n FANCYTYPE) WITH ('connector' = 'kinesis');
CREATE TABLE pages (page STRING) WITH ('connector' = 'kinesis');
CREATE TABLE out WITH ('connector' = 'print');
INSERT INTO out SELECT c.userId, SUM(n) OVER w AS s
FROM clicks c JOIN pages p ON c.userId = p.page ORDER BY s`;
    const e = errorOf(text);
    expect(e.problems.map((p) => `${p.line}:${p.column} ${p.problem.split(' — ')[0]}`)).toEqual([
      '1:39 type FANCYTYPE is not supported',
      '4:46 unknown window w in OVER w',
      '5:49 ORDER BY is not supported',
    ]);
  });
});

test('every problem of a Top-N is reported at once, each where it is written', () => {
  const text = sql(`INSERT INTO out SELECT userid, clicks + 1 AS c
FROM (SELECT *, RANK() OVER (PARTITION BY userId) AS rn FROM clicks)
WHERE rn <= 3 AND clicks > 0`);
  const e = errorOf(text);
  const line = (marker: string): number => text.slice(0, text.indexOf(marker)).split('\n').length;
  expect(e.problems.map((p) => `${p.line - line('INSERT') + 1}:${p.column} ${p.problem.split(' — ')[0]}`)).toEqual([
    '1:26 unknown column userid in the subquery',
    '1:34 clicks + 1: the query over a Top-N selects its columns',
    '2:17 RANK() OVER (…) in a Top-N needs ORDER BY: the order the rows are ranked in',
    '3:7 WHERE rn <= 3 AND clicks > 0 on a Top-N is not supported',
  ]);
});
