/**
 * The SQL parser and the errors users meet: every construct the subset lacks is named, with the line
 * and column where it was written.
 */
import { compileSql, SqlError } from 'shardflow';
import { parseExpression, parseSql } from '../../lib/sql';

const CLICKS = `CREATE TABLE clicks (userId STRING, page STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'kinesis', 'stream' = 'clicks');
CREATE TABLE pages (page STRING, title STRING) WITH ('connector' = 'kinesis');
CREATE TABLE out WITH ('connector' = 'dynamodb', 'table-name' = 'sql-out');
`;
/** Lines CLICKS takes: a query after it starts on line 5. */
const QUERY_LINE = 5;

/** The SqlError compiling `sql` throws. */
function errorOf(sql: string): SqlError {
  try {
    compileSql(sql);
  } catch (e) {
    if (e instanceof SqlError) return e;
    throw e;
  }
  throw new Error(`no error for:\n${sql}`);
}

describe('statements', () => {
  test('CREATE TABLE reads columns, types, NOT NULL, the watermark and the options', () => {
    const [create] = parseSql(`CREATE TABLE IF NOT EXISTS bids (
      auction BIGINT NOT NULL, price DECIMAL(10, 2), url VARCHAR(200), at TIMESTAMP(3) WITHOUT TIME ZONE,
      WATERMARK FOR at AS at - INTERVAL '500' MILLISECOND
    ) WITH ('connector' = 'kinesis', 'stream' = 'nexmark-bids')`);
    expect(create).toEqual({
      kind: 'createTable',
      name: 'bids',
      columns: [
        { name: 'auction', type: 'INT', declared: 'BIGINT', notNull: true, decimal: { precision: 19, scale: 0 }, pos: { line: 2, column: 7 } },
        { name: 'price', type: 'DECIMAL', declared: 'DECIMAL(10, 2)', notNull: false, decimal: { precision: 10, scale: 2 }, pos: { line: 2, column: 32 } },
        { name: 'url', type: 'STRING', declared: 'VARCHAR(200)', notNull: false, pos: { line: 2, column: 54 } },
        { name: 'at', type: 'TIMESTAMP', declared: 'TIMESTAMP(3) WITHOUT TIME ZONE', notNull: false, pos: { line: 2, column: 72 } },
      ],
      watermark: { column: 'at', delayMs: 500, pos: { line: 3, column: 7 } },
      options: [
        { key: 'connector', value: 'kinesis', pos: { line: 4, column: 13 } },
        { key: 'stream', value: 'nexmark-bids', pos: { line: 4, column: 38 } },
      ],
      pos: { line: 1, column: 1 },
    });
  });

  test('keywords are case-insensitive, names case-sensitive, comments ignored', () => {
    const statements = parseSql(`-- a job
      set 'pipeline.name' = 'my-job'; /* the sink */
      insert into Out select UserId, count(*) as N from Clicks group by UserId, tumble(ts, interval '5' seconds);`);
    expect(statements.map((s) => s.kind)).toEqual(['set', 'insert']);
    const insert = statements[1] as Extract<(typeof statements)[number], { kind: 'insert' }>;
    expect(insert.table).toBe('Out');
    expect(insert.query.items).toMatchObject([{ expr: { kind: 'column', name: 'UserId' } }, { expr: { kind: 'call', name: 'COUNT', star: true }, alias: 'N' }]);
    expect(insert.query.groupBy[1]).toMatchObject({ kind: 'call', name: 'TUMBLE', args: [{ kind: 'column', name: 'ts' }, { kind: 'interval', ms: 5000 }] });
  });

  test('expressions follow SQL precedence: NOT, AND, OR; comparisons; * before +', () => {
    expect(parseExpression("a + b * 2 > 3 AND NOT c LIKE 'x%' OR d IS NULL")).toMatchObject({
      kind: 'binary',
      op: 'OR',
      left: {
        kind: 'binary',
        op: 'AND',
        left: { kind: 'binary', op: '>', left: { op: '+', right: { op: '*' } } },
        right: { kind: 'unary', op: 'NOT', operand: { kind: 'like', negated: false } },
      },
      right: { kind: 'isNull', negated: false },
    });
    expect(parseExpression('x NOT IN (1, 2) AND y NOT BETWEEN 1 AND 5')).toMatchObject({
      left: { kind: 'in', negated: true, list: [{ value: 1 }, { value: 2 }] },
      right: { kind: 'between', negated: true },
    });
    expect(parseExpression("`select` = 'it''s'")).toMatchObject({ left: { kind: 'column', name: 'select' }, right: { value: "it's" } });
  });

  test('intervals: singular and plural units, fractions', () => {
    const ms = (text: string): number => (parseExpression(text) as { ms: number }).ms;
    expect(ms("INTERVAL '5' SECOND")).toBe(5000);
    expect(ms("INTERVAL '10' MINUTES")).toBe(600_000);
    expect(ms("INTERVAL '0.5' SECOND")).toBe(500);
    expect(ms("INTERVAL '1' HOUR")).toBe(3_600_000);
    expect(ms("INTERVAL '2' DAYS")).toBe(172_800_000);
  });
});

describe('unsupported constructs are named, with line and column', () => {
  /** Where `marker` first appears in `text` (1-based), as an error should report it. */
  function position(text: string, marker: string): { line: number; column: number } {
    const offset = text.indexOf(marker);
    if (offset === -1) throw new Error(`'${marker}' is not in the text`);
    const before = text.slice(0, offset).split('\n');
    return { line: before.length, column: before[before.length - 1]!.length + 1 };
  }

  // [construct, query after CLICKS, message, the text the error must point at]
  const cases: [string, string, RegExp, string][] = [
    ['NATURAL JOIN', 'INSERT INTO out SELECT userId FROM clicks NATURAL JOIN pages', /^NATURAL JOIN is not supported — name the columns: JOIN … ON a.k = b.k/, 'NATURAL'],
    ['a LEFT JOIN into DynamoDB', 'INSERT INTO out SELECT userId\nFROM clicks\n  LEFT JOIN pages ON clicks.page = pages.page', /^a LEFT JOIN's rows \(\+I, and -D when a row sent with NULLs finds its match\) have no unique key to write to the DynamoDB table out by — write them to a Kinesis sink/, 'LEFT'],
    ['a comma join without an equality', 'INSERT INTO out SELECT userId FROM clicks, pages', /^a join needs an equality of the two tables' columns/, ', pages'],
    ['ORDER BY', "INSERT INTO out SELECT userId, COUNT(*) AS n FROM clicks\nGROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)\nORDER BY n", /^ORDER BY is not supported — a stream has no end to sort at/, 'ORDER'],
    ['LIMIT', 'INSERT INTO out SELECT userId FROM clicks LIMIT 10', /^LIMIT is not supported/, 'LIMIT'],
    ['a subquery in FROM that aggregates, aggregated in a window of its own', "INSERT INTO out SELECT COUNT(*) AS n FROM (SELECT userId, COUNT(*) AS c FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)) AS t GROUP BY c, TUMBLE(ts, INTERVAL '10' SECOND)", /^a window \(TUMBLE\) over an aggregation's results is not supported — group by the subquery's window_start and window_end columns/, "TUMBLE(ts, INTERVAL '10'"],
    ['a subquery in WHERE', 'INSERT INTO out SELECT userId FROM clicks WHERE page IN (SELECT page FROM pages)', /^a subquery is not supported/, 'SELECT page'],
    ['a scalar subquery', 'INSERT INTO out SELECT userId, (SELECT 1) AS one FROM clicks', /^a subquery is not supported/, 'SELECT 1'],
    ['EXISTS', 'INSERT INTO out SELECT userId FROM clicks WHERE EXISTS (SELECT 1 FROM pages)', /^EXISTS \(a subquery\) is not supported/, 'EXISTS'],
    ['an OVER window no WINDOW clause defines', 'INSERT INTO out SELECT userId, SUM(clicks) OVER w AS running FROM clicks', /^unknown window w in OVER w — define it after the query: WINDOW w AS \(PARTITION BY … ORDER BY …\)$/, 'w AS running'],
    ['an OVER window the WINDOW clause does not define', 'INSERT INTO out SELECT userId, SUM(clicks) OVER w2 AS running FROM clicks WINDOW w AS (ORDER BY ts)', /^unknown window w2 in OVER w2 — WINDOW defines w$/, 'w2 AS running'],
    ['a ranking function OVER a named window', 'INSERT INTO out SELECT * FROM (SELECT *, ROW_NUMBER() OVER w AS r FROM clicks) WHERE r <= 3', /^ROW_NUMBER\(\) OVER a named window is not supported — write the window in place/, 'OVER w'],
    ['an OVER frame ending after the current row', 'INSERT INTO out SELECT userId, SUM(clicks) OVER (ORDER BY ts ROWS BETWEEN 2 PRECEDING AND UNBOUNDED FOLLOWING) AS s FROM clicks', /^a frame that ends after the current row \(FOLLOWING\) is not supported — a streaming OVER aggregation emits each row once the watermark passes it/, 'UNBOUNDED FOLLOWING'],
    ['a RANK() Top-N into DynamoDB', 'INSERT INTO out SELECT * FROM (SELECT *, RANK() OVER (PARTITION BY userId ORDER BY clicks DESC) AS r FROM clicks) WHERE r <= 3', /^a RANK\(\) Top-N writes to DynamoDB by a unique key it does not have \(tied rows share a rank\) — write to a Kinesis sink, or number the rows with ROW_NUMBER\(\)$/, 'RANK'],
    ['QUALIFY', 'INSERT INTO out SELECT userId FROM clicks QUALIFY ROW_NUMBER() OVER (ORDER BY clicks) <= 3', /^QUALIFY is not supported — write Top-N as Flink does: SELECT … FROM \(SELECT \*, ROW_NUMBER\(\) OVER/, 'QUALIFY'],
    ['a frame on ROW_NUMBER()', 'INSERT INTO out SELECT * FROM (SELECT *, ROW_NUMBER() OVER (ORDER BY clicks ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS r FROM clicks) WHERE r <= 3', /^a ROWS frame with ROW_NUMBER\(\) is not supported — a ranking function numbers the whole partition/, 'ROWS'],
    ['UNION', 'INSERT INTO out SELECT userId FROM clicks UNION SELECT userId FROM clicks', /^UNION without ALL is not supported/, 'UNION'],
    ['INTERSECT', 'INSERT INTO out SELECT userId FROM clicks INTERSECT SELECT userId FROM clicks', /^INTERSECT is not supported/, 'INTERSECT'],
    ['SELECT DISTINCT *', 'INSERT INTO out SELECT DISTINCT * FROM clicks', /^SELECT DISTINCT \* is not supported — list the columns: SELECT DISTINCT a, b FROM …$/, '* FROM'],
    ['CAST to a type the subset lacks', 'INSERT INTO out SELECT CAST(clicks AS VARBINARY) AS c FROM clicks', /^CAST to VARBINARY is not supported — cast to STRING, INT/, 'VARBINARY'],
    ['an unknown function', 'INSERT INTO out SELECT UPPERCASE(userId) AS u FROM clicks', /^the function UPPERCASE is not supported — see docs\/sql.md/, 'UPPERCASE'],
    ['WITH before INSERT', 'WITH big AS (SELECT * FROM clicks) INSERT INTO out SELECT * FROM big', /^a job writes its results to a table: write INSERT INTO <sink table> WITH … SELECT …$/, 'WITH big'],
    ['WITH RECURSIVE', 'INSERT INTO out WITH RECURSIVE big AS (SELECT * FROM clicks) SELECT * FROM big', /^WITH RECURSIVE is not supported/, 'RECURSIVE'],
    ['CUMULATE in GROUP BY (Flink has it as a table function only)', "INSERT INTO out SELECT COUNT(*) AS n FROM clicks GROUP BY userId, CUMULATE(ts, INTERVAL '1' SECOND, INTERVAL '5' SECOND)", /^CUMULATE is a window table function, not a GROUP BY window \(as in Flink\) — write FROM TABLE\(CUMULATE\(TABLE t, DESCRIPTOR\(ts\), INTERVAL step, INTERVAL size\)\)/, 'CUMULATE'],
    ['CUMULATE with its size first', "INSERT INTO out SELECT window_start, COUNT(*) AS n FROM TABLE(CUMULATE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '1' SECOND)) GROUP BY window_start, window_end", /^CUMULATE step 5000 ms is larger than its size 1000 ms — CUMULATE\(TABLE t, DESCRIPTOR\(ts\), INTERVAL step, INTERVAL size\) takes the step first$/, 'CUMULATE'],
    ['a named TVF argument', "INSERT INTO out SELECT COUNT(*) AS n FROM TABLE(TUMBLE(DATA => TABLE clicks, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL '5' SECOND)) GROUP BY window_start, window_end", /^a named argument is not supported/, 'DATA'],
    ['a window offset', "INSERT INTO out SELECT COUNT(*) AS n FROM clicks GROUP BY TUMBLE(ts, INTERVAL '5' SECOND, INTERVAL '1' SECOND)", /^a window offset is not supported/, "INTERVAL '1'"],
    ['GROUPING SETS', 'INSERT INTO out SELECT COUNT(*) AS n FROM clicks GROUP BY GROUPING SETS ((userId), ())', /^GROUPING SETS is not supported/, 'GROUPING'],
    ['a second INSERT', 'INSERT INTO out SELECT userId FROM clicks;\nINSERT INTO out SELECT page FROM clicks', /^a second INSERT is not supported — one INSERT per job/, 'INSERT INTO out SELECT page'],
    ['a bare SELECT', 'SELECT userId FROM clicks', /^a job writes its results to a table: write INSERT INTO <sink table> SELECT …$/, 'SELECT'],
    ['PROCTIME', "INSERT INTO out SELECT COUNT(*) AS n, TUMBLE_PROCTIME(ts, INTERVAL '5' SECOND) AS p FROM clicks GROUP BY TUMBLE(ts, INTERVAL '5' SECOND)", /^TUMBLE_PROCTIME is not supported — shardflow windows are in event time$/, 'TUMBLE_PROCTIME'],
  ];

  test.each(cases)('%s', (_construct, query, message, marker) => {
    const e = errorOf(CLICKS + query);
    const { line, column } = position(CLICKS + query, marker);
    expect({ problem: e.problem, line: e.line, column: e.column }).toEqual({ problem: expect.stringMatching(message), line, column });
    expect(e.message).toBe(`line ${line}, column ${column}: ${e.problem}`);
    expect(e.message).not.toContain('\n');
  });

  test.each([
    ['a computed column', "CREATE TABLE t (a INT, b AS a + 1) WITH ('connector' = 'kinesis')", /^a computed column is not supported/, 'AS'],
    ['PRIMARY KEY', "CREATE TABLE t (a INT,\n  PRIMARY KEY (a) NOT ENFORCED) WITH ('connector' = 'dynamodb')", /^PRIMARY KEY is not supported — results are keyed by the GROUP BY key and the window start$/, 'PRIMARY'],
    ['a METADATA column', "CREATE TABLE t (a INT, arrival TIMESTAMP(3) METADATA FROM 'timestamp') WITH ('connector' = 'kinesis')", /^a METADATA column is not supported/, 'METADATA'],
    ['an ARRAY type', "CREATE TABLE t (tags ARRAY<STRING>) WITH ('connector' = 'kinesis')", /^type ARRAY is not supported/, 'ARRAY'],
    ['a watermark strategy other than bounded delay', "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts + INTERVAL '1' SECOND) WITH ('connector' = 'kinesis')", /^this watermark strategy is not supported/, 'ts + '],
    ['a function in another language', "CREATE FUNCTION f AS 'com.example.F' LANGUAGE PYTHON", /^LANGUAGE PYTHON is not supported — a function is a TypeScript \(or JavaScript\) module: CREATE FUNCTION f AS '.\/f.ts'$/, 'LANGUAGE'],
    ['STATEMENT SET', 'BEGIN STATEMENT SET;', /^STATEMENT SET is not supported/, 'BEGIN'],
    ['an unknown option', "CREATE TABLE t (a INT) WITH ('connector' = 'kinesis', 'scan.stream.initpos' = 'LATEST')", /^option 'scan.stream.initpos' is not supported for a kinesis table — known options: /, "'scan"],
    ['a SET key', "SET 'parallelism.default' = '4'", /^SET 'parallelism.default' is not supported/, 'SET'],
    ['double quotes', 'SELECT "userId" FROM clicks', /^double quotes are not SQL strings here/, '"'],
    ['an unclosed string', "SET 'pipeline.name' = 'oops", /^the string is not closed/, "'oops"],
  ])('%s', (_construct, sql, message, marker) => {
    const e = errorOf(sql);
    expect({ problem: e.problem, line: e.line, column: e.column }).toEqual({ problem: expect.stringMatching(message), ...position(sql, marker) });
  });

  test('a syntax error says what was expected and what was found', () => {
    const e = errorOf(CLICKS + 'INSERT INTO out SELECT userId, FROM clicks');
    expect(e.message).toBe(`line ${QUERY_LINE}, column 32: expected an expression, found the keyword FROM`);
    expect(errorOf(CLICKS + 'INSERT INTO out SELECT userId clicks').message).toBe(`line ${QUERY_LINE}, column 37: expected FROM after the select list, found the end of the text`);
  });

  test('with a file name, the message starts with it', () => {
    try {
      compileSql(CLICKS + 'INSERT INTO out SELECT * FROM clicks ORDER BY ts', { file: 'q.sql' });
      throw new Error('no error');
    } catch (e) {
      expect((e as SqlError).message).toBe(`q.sql, line ${QUERY_LINE}, column 38: ORDER BY is not supported — a stream has no end to sort at; sort the results table when you read it`);
    }
  });
});
