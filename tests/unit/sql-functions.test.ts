/**
 * Expressions with Flink's semantics, each through a compiled job on the harness: CASE, CAST and the
 * conditional, string, math and date/time functions; exact DECIMAL arithmetic with Flink's result types;
 * TIMESTAMP ± INTERVAL. The expected values are Flink's (its documentation's examples where it has them).
 */
import { compileSql, scalarFunction, SqlError } from 'shardflow';
import { harness } from 'shardflow/testing';
import { avgType, decimalArithmetic, decimalResultType, decimalText, parseDecimal, sumType } from '../../lib/sql/decimal';

const TABLE = `CREATE TABLE t (s STRING, n INT, big BIGINT, d DOUBLE, amount DECIMAL(10, 2), b BOOLEAN, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
  WITH ('connector' = 'kinesis');
CREATE TABLE out WITH ('connector' = 'print');`;

type Row = { s?: string | null; n?: number | null; big?: number | null; d?: number | null; amount?: number | string | null; b?: boolean | null; ts?: number | string };

/** The value of `expr` for one row, through a compiled job. */
async function valueOf(expr: string, row: Row = {}): Promise<unknown> {
  const h = harness(compileSql(`${TABLE}\nINSERT INTO out SELECT ${expr} AS v FROM t`));
  await h.send({ ts: 0, ...row });
  const dead = h.deadLetters().map((d) => d.reason);
  if (dead.length > 0) throw new Error(dead.join('; '));
  return h.results()[0]!.v;
}

function problemOf(expr: string): string {
  try {
    compileSql(`${TABLE}\nINSERT INTO out SELECT ${expr} AS v FROM t`);
  } catch (e) {
    if (e instanceof SqlError) return e.problem;
    throw e;
  }
  throw new Error(`no error for ${expr}`);
}

describe('conditional expressions', () => {
  const grade = "CASE WHEN n > 2 THEN 'many' WHEN n > 0 THEN 'some' ELSE 'none' END";
  test.each([
    [grade, { n: 3 }, 'many'],
    [grade, { n: 1 }, 'some'],
    [grade, { n: null }, 'none'], // NULL > 2 is not TRUE
    ["CASE s WHEN 'a' THEN 1 WHEN 'b' THEN 2 END", { s: 'b' }, 2],
    ["CASE s WHEN 'a' THEN 1 WHEN 'b' THEN 2 END", { s: 'c' }, null],
    ['CASE WHEN b THEN 1 ELSE 2.5 END', { b: true }, 1], // INT and DECIMAL meet in DECIMAL
    ["COALESCE(s, 'none')", { s: null }, 'none'],
    ["COALESCE(NULL, s, 'none')", { s: 'x' }, 'x'],
    ["IF(n > 1, 'big', 'small')", { n: null }, 'small'],
    ['NULLIF(n, 0)', { n: 0 }, null],
    ['NULLIF(n, 0)', { n: 4 }, 4],
  ])('%s with %j is %j', async (expr, row, expected) => {
    expect(await valueOf(expr, row)).toEqual(expected);
  });

  test('branches of types that do not meet are an error at CASE', () => {
    expect(problemOf("CASE WHEN b THEN 1 ELSE 'x' END")).toBe('the branches of CASE have types that do not meet: INT, STRING — CAST them to one type');
  });
});

describe('CAST', () => {
  test.each([
    ["CAST('42' AS INT)", {}, 42],
    ['CAST(-1.5 AS INT)', {}, -1], // toward zero
    ['CAST(d AS BIGINT)', { d: 2.9 }, 2],
    ['CAST(n AS STRING)', { n: 3 }, '3'],
    ['CAST(2.50 AS STRING)', {}, '2.50'],
    ['CAST(d AS STRING)', { d: 1 }, '1.0'], // Java's Double.toString
    ['CAST(b AS STRING)', { b: true }, 'TRUE'],
    ['CAST(ts AS STRING)', { ts: 1001 }, '1970-01-01 00:00:01.001'],
    ["CAST('2024-01-01 12:00:00' AS TIMESTAMP(3))", {}, Date.UTC(2024, 0, 1, 12)],
    ["CAST('1.005' AS DECIMAL(5, 2))", {}, 1.01], // HALF_UP
    ['CAST(123.456 AS DECIMAL(4, 1))', {}, 123.5],
    ['CAST(12345.6 AS DECIMAL(4, 1))', {}, null], // too many digits: NULL, as in Flink
    ["TRY_CAST('x' AS INT)", {}, null],
    ["CAST('yes' AS BOOLEAN)", {}, true],
  ])('%s with %j is %j', async (expr, row, expected) => {
    expect(await valueOf(expr, row)).toEqual(expected);
  });

  test('a value CAST cannot convert sends the record to the dead letters, naming it', async () => {
    await expect(valueOf('CAST(s AS INT)', { s: 'many' })).rejects.toThrow('CAST("many" AS INT) failed: not a valid INT (TRY_CAST gives NULL instead)');
  });

  test('CAST of a number to TIMESTAMP is refused, as in Flink, with the function that does it', () => {
    expect(problemOf('CAST(big AS TIMESTAMP(3))')).toBe('CAST of a number to TIMESTAMP is not supported (as in Flink) — use TO_TIMESTAMP_LTZ(epoch, 3) for epoch milliseconds');
  });
});

describe('string functions', () => {
  test.each([
    ['LOWER(s)', { s: 'AbC' }, 'abc'],
    ['UPPER(s)', { s: 'AbC' }, 'ABC'],
    ['LOWER(s)', { s: null }, null],
    ["TRIM('  a b  ')", {}, 'a b'],
    ["TRIM(LEADING 'x' FROM 'xxaxx')", {}, 'axx'],
    ["TRIM(TRAILING 'x' FROM 'xxaxx')", {}, 'xxa'],
    ["TRIM(BOTH 'xy' FROM 'xyaxy')", {}, 'a'],
    ["SUBSTRING('hello', 2)", {}, 'ello'],
    ["SUBSTRING('hello', 2, 3)", {}, 'ell'],
    ["SUBSTRING('hello' FROM 2 FOR 2)", {}, 'el'],
    ["SUBSTRING('hello', -3)", {}, 'llo'],
    ["SUBSTR('hello', 0, 2)", {}, 'he'],
    ["CHAR_LENGTH('héllo😀')", {}, 6], // code points
    ["CONCAT('a', s, 'c')", { s: 'b' }, 'abc'],
    ["CONCAT('a', s)", { s: null }, null],
    ["CONCAT_WS('-', 'a', s, 'b')", { s: null }, 'a-b'],
    ["SPLIT_INDEX('a,b,,c', ',', 2)", {}, ''],
    ["SPLIT_INDEX('a,b,,c', ',', 3)", {}, 'c'],
    ["SPLIT_INDEX('a,b,,c', ',', 4)", {}, null],
    ["REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2)", {}, 'bar'],
    ["REGEXP_EXTRACT('foothebar', 'x(.*)', 1)", {}, null],
    ["REGEXP_REPLACE('foobar', 'oo|ar', '')", {}, 'fb'],
    ["s LIKE 'a%'", { s: 'abc' }, true],
  ])('%s with %j is %j', async (expr, row, expected) => {
    expect(await valueOf(expr, row)).toEqual(expected);
  });

  test('an invalid regular expression is an error where it is written', () => {
    expect(problemOf("REGEXP_EXTRACT(s, '(', 1)")).toBe("REGEXP_EXTRACT: '(' is not a valid regular expression");
  });

  test('a function of the wrong type says which argument', () => {
    expect(problemOf('UPPER(n)')).toBe('the arguments of UPPER: expected STRING, found INT');
  });
});

describe('math functions', () => {
  test.each([
    ['MOD(7, 3)', 1],
    ['MOD(-7, 3)', -1], // the dividend's sign, as Java
    ['ABS(-2.5)', 2.5],
    ['FLOOR(2.7)', 2],
    ['FLOOR(-2.5)', -3],
    ['CEIL(2.1)', 3],
    ['ROUND(2.345, 2)', 2.35],
    ['ROUND(-2.5)', -3], // HALF_UP: away from zero
    ['ROUND(125, -1)', 130],
    ['ROUND(1234.5678, -2)', 1200],
    ['POWER(2, 10)', 1024],
  ])('%s is %j', async (expr, expected) => {
    expect(await valueOf(expr)).toEqual(expected);
  });
});

describe('date and time', () => {
  const ts = Date.UTC(2024, 2, 5, 7, 8, 9, 12); // Tuesday
  test.each([
    ["DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss.SSS')", '2024-03-05 07:08:09.012'],
    ["DATE_FORMAT(ts, 'EEE, d MMM yyyy h a')", 'Tue, 5 Mar 2024 7 AM'],
    ["DATE_FORMAT(ts, 'yyyy''T''HH')", '2024T07'],
    ['HOUR(ts)', 7],
    ['MINUTE(ts)', 8],
    ['EXTRACT(YEAR FROM ts)', 2024],
    ['EXTRACT(DOW FROM ts)', 3], // Sunday is 1
    ["ts + INTERVAL '1' HOUR", ts + 3_600_000],
    ["ts - INTERVAL '90' SECOND", ts - 90_000],
    ["ts > TIMESTAMP '2024-03-05 07:00:00' + INTERVAL '8' MINUTE", true],
    ["TO_TIMESTAMP('2024-03-05 07:08:09')", Date.UTC(2024, 2, 5, 7, 8, 9)],
    ["TO_TIMESTAMP('05/03/2024', 'dd/MM/yyyy')", Date.UTC(2024, 2, 5)],
    ["TO_TIMESTAMP('30/02/2024', 'dd/MM/yyyy')", null],
    ["TO_TIMESTAMP('nope')", null],
    ['TO_TIMESTAMP_LTZ(big, 3)', ts],
  ])('%s is %j', async (expr, expected) => {
    expect(await valueOf(expr, { ts, big: ts })).toEqual(expected);
  });

  test('CURRENT_TIMESTAMP is the time each record is processed (Flink in streaming), not its event time', async () => {
    const before = Date.now();
    const now = (await valueOf('CURRENT_TIMESTAMP', { ts: 0 })) as number;
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  test('an unsupported DATE_FORMAT letter is named', () => {
    expect(problemOf("DATE_FORMAT(ts, 'yyyy-ww')")).toBe("DATE_FORMAT format 'yyyy-ww': the letter w is not supported (supported: y M d D E a H h m s S; quote text: 'T')");
  });

  test('TIMESTAMP - TIMESTAMP says what to write instead', () => {
    expect(problemOf('ts - ts')).toBe('ts - ts: the difference of two TIMESTAMPs is not supported — compare them, or add an INTERVAL to one');
  });
});

describe('DECIMAL', () => {
  test.each([
    ['0.908 * big', { big: 2098 }, 1904.984], // doubles give 1904.9840000000002
    ['0.1 + 0.2', {}, 0.3],
    ['1.0 / 3', {}, 0.333333333333], // DECIMAL(13, 12)
    ['amount * 3', { amount: 19.99 }, 59.97],
    ['amount + d', { amount: 0.1, d: 0.2 }, 0.30000000000000004], // with a DOUBLE it is a DOUBLE
    ["amount", { amount: '12.345' }, 12.35], // read at the column's scale, HALF_UP
    ['amount / 0', { amount: 1 }, null],
  ])('%s with %j is %j', async (expr, row, expected) => {
    expect(await valueOf(expr, row)).toEqual(expected);
  });

  test("Flink's result types (LogicalTypeMerging): + - * / % and SUM, AVG", () => {
    const t = (precision: number, scale: number) => ({ precision, scale });
    expect(decimalResultType('*', t(3, 3), t(19, 0))).toEqual(t(23, 3)); // Nexmark q1's DECIMAL(23, 3)
    expect(decimalResultType('+', t(10, 2), t(5, 4))).toEqual(t(13, 4));
    expect(decimalResultType('/', t(2, 1), t(10, 0))).toEqual(t(13, 12));
    expect(decimalResultType('%', t(10, 2), t(5, 0))).toEqual(t(7, 2));
    expect(decimalResultType('*', t(38, 10), t(38, 10))).toEqual(t(38, 6)); // past 38 digits the scale gives way, to 6
    expect(sumType(t(10, 2))).toEqual(t(38, 2));
    expect(avgType(t(10, 2))).toEqual(t(38, 6));
    expect(avgType(t(30, 20))).toEqual(t(38, 20));
  });

  test('arithmetic on unscaled values rounds HALF_UP once, and overflow is NULL', () => {
    const d = (text: string, scale: number): bigint => parseDecimal(text, scale)!;
    expect(decimalText(decimalArithmetic('/', d('2', 0), { precision: 1, scale: 0 }, d('3', 0), { precision: 1, scale: 0 }, { precision: 8, scale: 6 })!, 6)).toBe('0.666667');
    expect(decimalText(decimalArithmetic('-', d('-1.005', 3), { precision: 4, scale: 3 }, d('0', 0), { precision: 1, scale: 0 }, { precision: 4, scale: 2 })!, 2)).toBe('-1.01');
    expect(decimalArithmetic('*', d('99', 0), { precision: 2, scale: 0 }, d('99', 0), { precision: 2, scale: 0 }, { precision: 3, scale: 0 })).toBeNull();
  });
});

describe('user functions: CREATE FUNCTION name AS a TypeScript module', () => {
  const script = (query: string, declaration = "CREATE FUNCTION f AS './f.ts';"): string => `${declaration}\n${TABLE}\nINSERT INTO out ${query}`;
  const padded = scalarFunction('STRING', (s, n) => (typeof s === 'string' && typeof n === 'number' ? s.padStart(n, '*') : null));

  test('a call gets its arguments as JS values and its result is read as the declared type', async () => {
    const exact = scalarFunction('DECIMAL(10, 2)', (amount) => (typeof amount === 'number' ? amount * 3 : null));
    // Names are case-insensitive, as in Flink.
    const h = harness(compileSql(script("SELECT F(s, n) AS p FROM t WHERE f(s, 2) <> 'xx'"), { functions: { f: padded } }));
    await h.sendBatch([{ s: 'ab', n: 4, ts: 0 }, { s: 'xx', n: 4, ts: 0 }]);
    expect(h.results()).toEqual([{ p: '**ab' }]);
    const tripled = harness(compileSql(script('SELECT f(amount) + 0.01 AS a FROM t'), { functions: { f: exact } }));
    await tripled.send({ amount: '1.10', ts: 0 });
    expect(tripled.results()).toEqual([{ a: 3.31 }]);
  });

  test('a result that does not fit its type, or a function that throws, sends the row to the dead letters', async () => {
    const h = harness(
      compileSql(script('SELECT f(s) AS v FROM t'), {
        functions: {
          f: scalarFunction('BIGINT', (s) => {
            if (s === 'boom') throw new Error('no booms');
            return s;
          }),
        },
      }),
    );
    await h.sendBatch([{ s: '12', ts: 0 }, { s: 'many', ts: 0 }, { s: 'boom', ts: 0 }]);
    expect(h.results()).toEqual([{ v: 12 }]);
    expect(h.deadLetters().map((d) => d.reason)).toEqual([
      "map#2 threw: column 'F(…)' BIGINT: \"many\" is not an integer",
      'map#2 threw: F threw: no booms',
    ]);
  });

  test.each([
    ['a Java class', "CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar';", {}, "CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar': a Java class cannot run here — write it in TypeScript and name its module: CREATE FUNCTION count_char AS './count_char.ts' (docs/sql.md, \"User functions\")"],
    ['a default export that is not a scalar function', "CREATE FUNCTION f AS './f.ts';", { f: (s: string) => s }, "CREATE FUNCTION f: the default export of './f.ts' is not a scalar function — export default scalarFunction('BIGINT', (…) => …) (from 'shardflow')"],
    ['a result type that is not a SQL type', "CREATE FUNCTION f AS './f.ts';", { f: scalarFunction('VARBINARY', () => null) }, "CREATE FUNCTION f: its result type 'VARBINARY' is not a SQL type here — use STRING, INT, BIGINT, DOUBLE, DECIMAL(p, s), BOOLEAN or TIMESTAMP(3)"],
    ['LANGUAGE', "CREATE FUNCTION f AS 'F' LANGUAGE JAVA;", {}, "LANGUAGE JAVA is not supported — a function is a TypeScript (or JavaScript) module: CREATE FUNCTION f AS './f.ts'"],
  ])('%s is an error at the declaration', (_what, declaration, functions, problem) => {
    try {
      compileSql(script('SELECT s FROM t', declaration), { functions });
      throw new Error('no error');
    } catch (e) {
      if (!(e instanceof SqlError)) throw e;
      expect(e.problem).toBe(problem);
      expect(e.line).toBe(1);
    }
  });

  test('a module that does not load names its path', () => {
    expect(() => compileSql(script('SELECT s FROM t', "CREATE FUNCTION f AS './no-such-module.ts';"), { file: '/tmp/jobs/q.sql' })).toThrow(
      /^\/tmp\/jobs\/q\.sql, line 1, column 22: CREATE FUNCTION f: \/tmp\/jobs\/no-such-module\.ts does not load: .*Cannot find module/,
    );
  });
});
