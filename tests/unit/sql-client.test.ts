/**
 * `shardflow sql`'s logic without a terminal: statements split as typed, declarations kept, queries
 * composed over them with errors told where the user wrote them, and result rows as a changelog and as a
 * table.
 */
import { compileSql, planJob } from 'shardflow';
import { describePlan } from '../../lib/plan/describe';
import { changelogOf, describeChangelog } from '../../lib/sql/changelog';
import { ResultTable } from '../../lib/cli/result-table';
import { classify, splitStatements, SqlClientError, SqlSession } from '../../lib/cli/sql-session';

const CLICKS = `CREATE TABLE clicks (userId STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'kinesis', 'stream' = 'clicks')`;
const COUNTS = `SELECT userId, SUM(clicks) AS clicks FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)`;

const errorLines = (run: () => unknown): readonly string[] => {
  try {
    run();
  } catch (e) {
    if (e instanceof SqlClientError) return e.lines;
    throw e;
  }
  throw new Error('expected a SqlClientError');
};

test('statements end at a semicolon outside quotes and comments; the rest waits for more lines', () => {
  expect(splitStatements("SELECT 'a;b' FROM t; -- x;\nSELECT `c;` /* ; */ FROM u;\nSELECT 1")).toEqual({
    statements: ["SELECT 'a;b' FROM t", '-- x;\nSELECT `c;` /* ; */ FROM u'],
    rest: '\nSELECT 1',
  });
  expect(splitStatements("SELECT 'it''s;' FROM t;").statements).toEqual(["SELECT 'it''s;' FROM t"]);
  expect(splitStatements('CREATE TABLE t (\n  a INT\n').statements).toEqual([]);
});

test('statements are told apart by their first words, comments aside', () => {
  expect(classify('-- counts\nselect 1').kind).toBe('select');
  expect(classify('EXPLAIN PLAN FOR SELECT a FROM t')).toEqual({ kind: 'explain', text: 'EXPLAIN PLAN FOR SELECT a FROM t', query: 'SELECT a FROM t' });
  expect(classify('explain select a from t')).toMatchObject({ query: 'select a from t' });
  expect(classify('show tables').kind).toBe('showTables');
  expect(classify('quit').kind).toBe('quit');
  expect(classify('DROP TABLE t').kind).toBe('unknown');
});

test('declarations accumulate; a name declared twice is refused with the first declaration named', () => {
  const session = new SqlSession();
  expect(session.declare(CLICKS)).toBe('table clicks created');
  expect(session.declare("SET 'pipeline.name' = 'counts'")).toBe("set 'pipeline.name' = 'counts'");
  expect(session.declare('CREATE VIEW busy AS SELECT userId, clicks, ts FROM clicks WHERE clicks > 2')).toBe('view busy created');
  expect(session.tables()).toEqual(['clicks', 'busy']);
  expect(errorLines(() => session.declare(CLICKS))).toEqual([`clicks is declared already (${CLICKS.split('\n')[0]!.slice(0, 79)}…) — choose another name`]);
  expect(errorLines(() => session.declare('CREATE TABLE broken (a INT WITH ()'))[0]).toMatch(/^line 1, column \d+: /);
});

test('EXPLAIN prints what `shardflow plan` prints for the same script, the SELECT writing to the client’s results table', () => {
  const session = new SqlSession();
  session.declare(CLICKS);
  const script = `${CLICKS};\nCREATE TABLE sql_client_results WITH ('connector' = 'dynamodb', 'table-name' = 'sql-client-results');\nINSERT INTO sql_client_results ${COUNTS};`;
  const job = compileSql(script);
  expect(session.explain(COUNTS)).toBe(`${describePlan(planJob(job))}\n${describeChangelog(changelogOf(job)!)}`);
  expect(session.explain(COUNTS)).toMatch(/tumbling\(5s\)/);
});

test('a mistake in the query is told at its line and column in the query as typed; one in an earlier declaration names it', () => {
  const session = new SqlSession();
  session.declare(CLICKS);
  expect(errorLines(() => session.compile('SELECT userId,\n  nope FROM clicks'))).toEqual([expect.stringMatching(/^line 2, column 3: unknown column nope\b/)]);
  session.declare("CREATE TABLE typo (a INT) WITH ('connector' = 'kinesis', 'strem' = 'x')");
  expect(errorLines(() => session.compile(COUNTS))).toEqual([expect.stringMatching(/^in CREATE TABLE typo \(a INT\) WITH \('connector' = 'kinesis', 'strem' = 'x'\) \(declared earlier\), line 1, column \d+: .*strem/)]);
});

describe('the result rows', () => {
  const item = (user: string, windowStart: number, clicks: number): Record<string, unknown> => ({ key: user, windowStart, windowEnd: windowStart + 5000, userId: user, clicks });

  test('as a changelog: +I for a new row, +U for a row whose values changed, window bounds first as timestamps', () => {
    const table = new ResultTable();
    const first = table.update([item('ann', 0, 2), item('bob', 0, 1)]);
    expect(table.headerLine()).toBe('op | window_start | window_end | userId | clicks');
    expect(first.map((c) => table.changeLine(c))).toEqual(['+I | 1970-01-01 00:00:00.000 | 1970-01-01 00:00:05.000 | ann | 2', '+I | 1970-01-01 00:00:00.000 | 1970-01-01 00:00:05.000 | bob | 1']);
    expect(table.update([item('ann', 0, 3)]).map((c) => table.changeLine(c))).toEqual(['+U | 1970-01-01 00:00:00.000 | 1970-01-01 00:00:05.000 | ann | 3']);
    expect(table.size).toBe(2);
  });

  test('as a table for the terminal: aligned columns, the newest rows that fit, clipped to the width', () => {
    const table = new ResultTable();
    table.update([item('ann', 0, 2), item('bob', 0, 10), item('cy', 5000, 7)]);
    table.update([item('ann', 0, 3)]);
    const lines = table.render(200, 6, '3 rows');
    expect(lines).toEqual([
      'window_start            │ window_end              │ userId │ clicks',
      '────────────────────────┼─────────────────────────┼────────┼───────',
      '1970-01-01 00:00:00.000 │ 1970-01-01 00:00:05.000 │ bob    │ 10    ',
      '1970-01-01 00:00:05.000 │ 1970-01-01 00:00:10.000 │ cy     │ 7     ',
      '(1 older rows above) 3 rows',
    ]);
    expect(table.render(20, 30, 'x').every((l) => l.length <= 20)).toBe(true);
    expect(table.render(200, 30, 'all').slice(2, 5).map((l) => l.split('│')[2]!.trim())).toEqual(['ann', 'bob', 'cy']);
    expect(table.render(200, 30, 'all')[2]).toMatch(/│ 3 +$/);
  });
});
