/**
 * OVER aggregation in SQL (Flink's event-time OVER windows): Flink's own harness cases transcribed, the
 * results on Nexmark bids against sqlite3's window functions, late rows, and the queries refused by name.
 *
 * The Flink cases are OverWindowHarnessTest's row-time ones (flink-table-planner-blink, the
 * `testRowTime{Bounded,Unbounded}{Range,Rows}Over` tests): the same elements, watermarks and expected rows.
 * `processWatermark(w)` → `h.watermark(w)`, `processElement(binaryrow(ts, b, c))` → `h.send({ rowtime: ts, b, c })`.
 * Flink compares the whole output sorted at the end; here, after every watermark, the output so far must be
 * exactly the expected rows at or before it (a row is emitted once the watermark passes its time). Their
 * processing-time state-retention steps (`setProcessingTime`, Flink's idle state retention) have no
 * counterpart here: they are left out, with the rows whose result depends on them.
 */
import { changelogOf, compileSql, describeChangelog, planJob, SqlError, type JobDefinition } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';
import { nexmarkRows, type Bid } from '../../lib/nexmark';
import { byJson, columnsOf, sqliteOnBids } from './sql-reference';

const T = `CREATE TABLE T (rowtime TIMESTAMP(3), b STRING, c BIGINT, WATERMARK FOR rowtime AS rowtime)
  WITH ('connector' = 'kinesis', 'stream' = 't');
CREATE TABLE out WITH ('connector' = 'kinesis', 'stream' = 'out');`;

const BID = `CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, \`dateTime\` TIMESTAMP(3), extra STRING,
  WATERMARK FOR \`dateTime\` AS \`dateTime\` - INTERVAL '4' SECOND) WITH ('connector' = 'kinesis', 'stream' = 'bids');
CREATE TABLE out WITH ('connector' = 'kinesis', 'stream' = 'out');`;

/** Flink's query: min(c) and max(c) over one window, per b. */
const minMaxOver = (frame: string): JobDefinition =>
  compileSql(`${T}
INSERT INTO out SELECT rowtime, b, c,
  MIN(c) OVER (PARTITION BY b ORDER BY rowtime ${frame}) AS mn,
  MAX(c) OVER (PARTITION BY b ORDER BY rowtime ${frame}) AS mx
FROM T`);

/** The rows written so far, without the fields the sink owns. */
const written = (h: Harness): Record<string, unknown>[] => (h.results() as Record<string, unknown>[]).map((r) => columnsOf(r));

type Step = { watermark: number } | { rowtime: number; b: string; c: number };
type Expected = [rowtime: number, b: string, c: number, mn: number, mx: number];

const w = (watermark: number): Step => ({ watermark });
const row = (rowtime: number, b: string, c: number): Step => ({ rowtime, b, c });

/** The elements and watermarks of Flink's row-time cases (all four share them), up to watermark 19000. */
const FLINK_STEPS: Step[] = [
  w(800), row(801, 'aaa', 1),
  w(2500), row(2501, 'bbb', 10),
  w(4000), row(4001, 'aaa', 2), row(4001, 'aaa', 3), row(4001, 'bbb', 20),
  w(4800), row(4801, 'aaa', 4),
  w(6500), row(6501, 'aaa', 5), row(6501, 'aaa', 6), row(6501, 'bbb', 30),
  w(7000), row(7001, 'aaa', 7),
  w(8000), row(8001, 'aaa', 8),
  w(12000), row(12001, 'aaa', 9), row(12001, 'aaa', 10), row(12001, 'bbb', 40),
  w(19000),
];

/** Drives the steps one element per batch; after each watermark, the output must be the expected rows up to it. */
async function runFlinkCase(definition: JobDefinition, steps: readonly Step[], expected: readonly Expected[]): Promise<void> {
  const h = harness(definition);
  const asRecord = ([rowtime, b, c, mn, mx]: Expected): Record<string, unknown> => ({ rowtime, b, c, mn, mx });
  for (const step of steps) {
    if ('watermark' in step) {
      await h.watermark(step.watermark);
      const due = expected.filter((e) => e[0] <= step.watermark).map(asRecord);
      expect(byJson(written(h))).toEqual(byJson(due));
    } else {
      await h.send(step);
    }
  }
  expect(h.deadLetters()).toEqual([]);
  expect(h.results()).toHaveLength(expected.length);
}

describe("Flink's OverWindowHarnessTest, row-time cases", () => {
  test('testRowTimeBoundedRangeOver: RANGE 4 s; rows of one time get the same aggregates', async () => {
    // Flink's case starts with its own elements (rowtime 2, 3, 4001…); it runs through the same harness steps.
    const steps: Step[] = [
      w(1), row(2, 'aaa', 1),
      w(2), row(3, 'bbb', 10),
      w(4000), row(4001, 'aaa', 2),
      w(4001), row(4002, 'aaa', 3),
      w(4002), row(4003, 'aaa', 4),
      w(4800), row(4801, 'bbb', 25),
      w(6500), row(6501, 'aaa', 5), row(6501, 'aaa', 6), row(6501, 'bbb', 30),
      w(7000), row(7001, 'aaa', 7),
      w(8000), row(8001, 'aaa', 8),
      w(12000), row(12001, 'aaa', 9), row(12001, 'aaa', 10), row(12001, 'bbb', 40),
      w(19000),
      w(20000), row(20001, 'ccc', 1), row(20002, 'ccc', 2),
      w(20010),
    ];
    await runFlinkCase(minMaxOver("RANGE BETWEEN INTERVAL '4' SECOND PRECEDING AND CURRENT ROW"), steps, [
      [2, 'aaa', 1, 1, 1],
      [3, 'bbb', 10, 10, 10],
      [4001, 'aaa', 2, 1, 2],
      [4002, 'aaa', 3, 1, 3],
      [4003, 'aaa', 4, 2, 4],
      [4801, 'bbb', 25, 25, 25],
      [6501, 'aaa', 5, 2, 6],
      [6501, 'aaa', 6, 2, 6],
      [7001, 'aaa', 7, 2, 7],
      [8001, 'aaa', 8, 2, 8],
      [6501, 'bbb', 30, 25, 30],
      [12001, 'aaa', 9, 8, 10],
      [12001, 'aaa', 10, 8, 10],
      [12001, 'bbb', 40, 40, 40],
      [20001, 'ccc', 1, 1, 1],
      [20002, 'ccc', 2, 1, 2],
    ]);
  });

  test('testRowTimeBoundedRowsOver: ROWS 2 preceding; rows of one time count one by one, in arrival order', async () => {
    await runFlinkCase(minMaxOver('ROWS BETWEEN 2 PRECEDING AND CURRENT ROW'), [...FLINK_STEPS, w(20000), row(20001, 'ccc', 1), row(20002, 'ccc', 2), w(20010)], [
      [801, 'aaa', 1, 1, 1],
      [2501, 'bbb', 10, 10, 10],
      [4001, 'aaa', 2, 1, 2],
      [4001, 'aaa', 3, 1, 3],
      [4001, 'bbb', 20, 10, 20],
      [4801, 'aaa', 4, 2, 4],
      [6501, 'aaa', 5, 3, 5],
      [6501, 'aaa', 6, 4, 6],
      [6501, 'bbb', 30, 10, 30],
      [7001, 'aaa', 7, 5, 7],
      [8001, 'aaa', 8, 6, 8],
      [12001, 'aaa', 9, 7, 9],
      [12001, 'aaa', 10, 8, 10],
      [12001, 'bbb', 40, 20, 40],
      [20001, 'ccc', 1, 1, 1],
      [20002, 'ccc', 2, 1, 2],
    ]);
  });

  // The unbounded cases: a row at the watermark (20000 at watermark 20000) is late, and dropped.
  const unboundedTail: Step[] = [w(20000), row(20000, 'ccc', 1), row(20001, 'ccc', 1), row(20002, 'ccc', 2), w(20010)];

  test('testRowTimeUnboundedRangeOver: rows of one time share their aggregates; a row at the watermark is dropped', async () => {
    await runFlinkCase(minMaxOver('RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW'), [...FLINK_STEPS, ...unboundedTail], [
      [801, 'aaa', 1, 1, 1],
      [2501, 'bbb', 10, 10, 10],
      [4001, 'aaa', 2, 1, 3],
      [4001, 'aaa', 3, 1, 3],
      [4001, 'bbb', 20, 10, 20],
      [4801, 'aaa', 4, 1, 4],
      [6501, 'aaa', 5, 1, 6],
      [6501, 'aaa', 6, 1, 6],
      [6501, 'bbb', 30, 10, 30],
      [7001, 'aaa', 7, 1, 7],
      [8001, 'aaa', 8, 1, 8],
      [12001, 'aaa', 9, 1, 10],
      [12001, 'aaa', 10, 1, 10],
      [12001, 'bbb', 40, 10, 40],
      [20001, 'ccc', 1, 1, 1],
      [20002, 'ccc', 2, 1, 2],
    ]);
  });

  test('testRowTimeUnboundedRowsOver: each row of one time adds to the aggregates of the next', async () => {
    await runFlinkCase(minMaxOver('ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW'), [...FLINK_STEPS, ...unboundedTail], [
      [801, 'aaa', 1, 1, 1],
      [2501, 'bbb', 10, 10, 10],
      [4001, 'aaa', 2, 1, 2],
      [4001, 'aaa', 3, 1, 3],
      [4001, 'bbb', 20, 10, 20],
      [4801, 'aaa', 4, 1, 4],
      [6501, 'aaa', 5, 1, 5],
      [6501, 'aaa', 6, 1, 6],
      [6501, 'bbb', 30, 10, 30],
      [7001, 'aaa', 7, 1, 7],
      [8001, 'aaa', 8, 1, 8],
      [12001, 'aaa', 9, 1, 9],
      [12001, 'aaa', 10, 1, 10],
      [12001, 'bbb', 40, 10, 40],
      [20001, 'ccc', 1, 1, 1],
      [20002, 'ccc', 2, 1, 2],
    ]);
  });

  test('the default frame (ORDER BY alone) is RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW', async () => {
    const h = harness(minMaxOver(''));
    for (const step of FLINK_STEPS.slice(0, 8)) await ('watermark' in step ? h.watermark(step.watermark) : h.send(step));
    await h.watermark(4001);
    // Both rows of aaa at 4001 see max 3, as RANGE peers.
    expect(byJson(written(h).filter((r) => r.b === 'aaa'))).toEqual(
      byJson([{ rowtime: 801, b: 'aaa', c: 1, mn: 1, mx: 1 }, { rowtime: 4001, b: 'aaa', c: 2, mn: 1, mx: 3 }, { rowtime: 4001, b: 'aaa', c: 3, mn: 1, mx: 3 }]),
    );
  });
});

describe('an OVER aggregation is append-only, one keyed stage after the rows', () => {
  test('its plan and changelog', () => {
    const definition = minMaxOver('ROWS BETWEEN 2 PRECEDING AND CURRENT ROW');
    expect(planJob(definition).stages.map((s) => s.keyed?.kind ?? 'stateless')).toEqual(['stateless', 'process']);
    expect(describeChangelog(changelogOf(definition)!)).toBe('changelog: append-only [+I], no unique key');
  });

  test('rows behind the watermark are dropped, rows ahead wait for it', async () => {
    const h = harness(minMaxOver("RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW"));
    await h.send({ rowtime: 1000, b: 'a', c: 5 });
    await h.watermark(3000);
    await h.send({ rowtime: 2000, b: 'a', c: 1 }); // late: behind the watermark
    await h.send({ rowtime: 3000, b: 'a', c: 2 }); // late: at the watermark
    await h.send({ rowtime: 3001, b: 'a', c: 7 });
    expect(written(h)).toEqual([{ rowtime: 1000, b: 'a', c: 5, mn: 5, mx: 5 }]);
    await h.watermark(3001);
    expect(written(h)).toEqual([
      { rowtime: 1000, b: 'a', c: 5, mn: 5, mx: 5 },
      { rowtime: 3001, b: 'a', c: 7, mn: 5, mx: 7 },
    ]);
  });

  test('DECIMAL columns and sums cross the shuffle exactly', async () => {
    const h = harness(
      compileSql(`CREATE TABLE pay (id STRING, amount DECIMAL(10, 2), ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'kinesis', 'stream' = 'pay');
CREATE TABLE out WITH ('connector' = 'kinesis', 'stream' = 'out');
INSERT INTO out SELECT amount, SUM(amount) OVER (ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair FROM pay`),
    );
    for (const [amount, ts] of [[0.1, 1], [0.2, 2], [0.3, 3]] as const) await h.send({ id: 'p', amount, ts });
    await h.watermark(3);
    // In doubles 0.1 + 0.2 is 0.30000000000000004.
    expect(written(h)).toEqual([
      { amount: 0.1, pair: 0.1 },
      { amount: 0.2, pair: 0.3 },
      { amount: 0.3, pair: 0.5 },
    ]);
  });

  test('a RANGE frame lets go of its state once its last row has left it', async () => {
    const h = harness(minMaxOver("RANGE BETWEEN INTERVAL '1' SECOND PRECEDING AND CURRENT ROW"));
    await h.send({ rowtime: 1000, b: 'a', c: 5 });
    await h.watermark(1500);
    expect(JSON.stringify(await h.state())).toContain('"accumulator"');
    await h.watermark(2001);
    expect(JSON.stringify(await h.state())).not.toContain('"accumulator"');
    await h.send({ rowtime: 2500, b: 'a', c: 3 });
    await h.watermark(2500);
    expect(written(h)).toEqual([
      { rowtime: 1000, b: 'a', c: 5, mn: 5, mx: 5 },
      { rowtime: 2500, b: 'a', c: 3, mn: 3, mx: 3 },
    ]);
  });
});

// ——— on Nexmark bids, against sqlite3's window functions ———

/** 2,000 events at 10 per second: bids 100 ms apart (no two of a bidder at one time), several per bidder. */
const BIDS: Bid[] = nexmarkRows('bid', { count: 2000, eventsPerSecond: 10, seed: 3 });

async function overOnBids(select: string): Promise<Record<string, unknown>[]> {
  const h = harness(compileSql(`${BID}\nINSERT INTO out ${select}`), { watermarks: 'strategy' });
  for (let i = 0; i < BIDS.length; i += 100) await h.sendBatch(BIDS.slice(i, i + 100));
  await h.finish();
  expect(h.deadLetters()).toEqual([]);
  return written(h);
}

describe('OVER aggregates on Nexmark bids equal sqlite3 window functions', () => {
  const aggregates = (over: string): string =>
    `COUNT(*) OVER ${over} AS n, SUM(price) OVER ${over} AS total, MIN(price) OVER ${over} AS low, MAX(price) OVER ${over} AS high, AVG(price) OVER ${over} AS mean`;

  test.each([
    ['ROWS BETWEEN 3 PRECEDING AND CURRENT ROW', 'ROWS BETWEEN 3 PRECEDING AND CURRENT ROW'],
    ["RANGE BETWEEN INTERVAL '20' SECOND PRECEDING AND CURRENT ROW", 'RANGE BETWEEN 20000 PRECEDING AND CURRENT ROW'],
    ['ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW', 'ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW'],
    ['', 'RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW'],
  ])("per bidder, frame '%s'", async (frame, sqliteFrame) => {
    const records = await overOnBids(`SELECT bidder, price, \`dateTime\`, ${aggregates(`(PARTITION BY bidder ORDER BY \`dateTime\` ${frame})`)} FROM bid`);
    const expected = sqliteOnBids(BIDS, `SELECT bidder, price, t AS dateTime, ${aggregates('w')} FROM bid WINDOW w AS (PARTITION BY bidder ORDER BY t ${sqliteFrame});`);
    expect(records).toHaveLength(BIDS.length);
    expect(byJson(records)).toEqual(byJson(expected));
    // The frames do reach back past the row itself.
    expect(records.some((r) => (r.n as number) > 1)).toBe(true);
  });

  test('without PARTITION BY, with a filter, DISTINCT and FILTER, and the aggregates in expressions', async () => {
    const over = "(ORDER BY `dateTime` RANGE BETWEEN INTERVAL '5' SECOND PRECEDING AND CURRENT ROW)";
    const records = await overOnBids(
      `SELECT auction, price - MIN(price) OVER ${over} AS above_low, COUNT(DISTINCT bidder) OVER ${over} AS bidders, COUNT(*) FILTER (WHERE price > 1000) OVER ${over} AS big FROM bid WHERE auction % 3 = 0`,
    );
    const expected = sqliteOnBids(
      BIDS,
      // sqlite3 has no DISTINCT in a window function: the frame's distinct bidders by a subquery.
      `SELECT auction, price - MIN(price) OVER w AS above_low,
         (SELECT COUNT(DISTINCT f.bidder) FROM bid f WHERE f.auction % 3 = 0 AND f.t BETWEEN bid.t - 5000 AND bid.t) AS bidders,
         COUNT(*) FILTER (WHERE price > 1000) OVER w AS big
       FROM bid WHERE auction % 3 = 0 WINDOW w AS (ORDER BY t RANGE BETWEEN 5000 PRECEDING AND CURRENT ROW);`,
    );
    expect(records.length).toBeGreaterThan(100);
    expect(byJson(records)).toEqual(byJson(expected));
  });
});

// ——— refused, by name, where written ———

describe('OVER windows Flink does not run in a stream, or shardflow not yet, are refused by name', () => {
  const CLICKS = `CREATE TABLE clicks (userId STRING, clicks INT, ts TIMESTAMP(3), other TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'kinesis', 'stream' = 'clicks');
CREATE TABLE pages (page STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'kinesis', 'stream' = 'pages');
CREATE TABLE out WITH ('connector' = 'kinesis', 'stream' = 'out');
`;
  /** The problems of a query, each as `line:column message` (line 1 is the INSERT). */
  function problems(query: string): string[] {
    try {
      compileSql(`${CLICKS}INSERT INTO out ${query}`);
    } catch (e) {
      if (e instanceof SqlError) return e.problems.map((p) => `${p.line - 3}:${p.column} ${p.problem}`);
      throw e;
    }
    throw new Error('the query compiled');
  }
  const over = (window: string): string => `SELECT userId, SUM(clicks) OVER (${window}) AS s FROM clicks`;

  test.each([
    ['ORDER BY another column', over('PARTITION BY userId ORDER BY other'), /^1:79 ORDER BY other in an OVER window: not the event-time column: the WATERMARK of clicks is on ts — .*write ORDER BY ts/],
    ['DESC', over('PARTITION BY userId ORDER BY ts DESC'), /^1:79 ORDER BY ts DESC in an OVER window is not supported — .*ascending time, as in Flink/],
    ['no ORDER BY', over('PARTITION BY userId'), /^1:44 SUM\(clicks\) OVER \(PARTITION BY userId RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW\): an OVER window in a stream needs ORDER BY its event-time column/],
    ['two ORDER BY keys', over('ORDER BY ts, clicks'), /^1:63 ORDER BY clicks: an OVER window in a stream is ordered by its event-time column alone/],
    ['FOLLOWING', over('ORDER BY ts ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING'), /^1:91 a frame that ends after the current row \(FOLLOWING\) is not supported — .*end the frame at CURRENT ROW/],
    ['a frame starting after the row', over('ORDER BY ts ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING'), /^1:77 ROWS … FOLLOWING is not supported/],
    ['RANGE n PRECEDING', over('ORDER BY ts RANGE BETWEEN 10 PRECEDING AND CURRENT ROW'), /^1:76 RANGE BETWEEN 10 PRECEDING is not supported — .*INTERVAL '10' SECOND PRECEDING/],
    [
      'two different windows',
      "SELECT SUM(clicks) OVER (ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS a, MAX(clicks) OVER (ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS b FROM clicks",
      /^1:114 MAX\(clicks\) OVER \(ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW\): every OVER aggregate of a query must be on the same window, as in Flink/,
    ],
    ['with GROUP BY', 'SELECT userId, SUM(clicks) OVER (ORDER BY ts) AS s FROM clicks GROUP BY userId', /^1:32 SUM\(clicks\) OVER \(ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW\) beside GROUP BY is not supported/],
    ['beside an aggregate without OVER', 'SELECT COUNT(*) AS n, SUM(clicks) OVER (ORDER BY ts) AS s FROM clicks', /beside aggregates without OVER is not supported/],
    ['a window WINDOW does not define', 'SELECT SUM(clicks) OVER w AS s FROM clicks', /^1:41 unknown window w in OVER w — define it after the query: WINDOW w AS/],
    ['a window defined twice', 'SELECT SUM(clicks) OVER w AS s FROM clicks WINDOW w AS (ORDER BY ts), w AS (ORDER BY ts)', /the window w is defined twice in WINDOW/],
    ['LAG', 'SELECT LAG(clicks) OVER (ORDER BY ts) AS l FROM clicks', /^1:24 LAG\(…\) OVER \(…\) is not supported — an OVER window takes the aggregates COUNT, SUM, MIN, MAX and AVG/],
    ['in WHERE', 'SELECT userId FROM clicks WHERE SUM(clicks) OVER (ORDER BY ts) > 3', /^1:49 SUM\(clicks\) OVER \(.*\) is not allowed in WHERE/],
    ["over a join's rows", 'SELECT c.userId, SUM(c.clicks) OVER (ORDER BY c.ts) AS s FROM clicks c JOIN pages p ON c.userId = p.page', /an OVER aggregation over a join's rows is not supported yet/],
    [
      'over a Top-N (Nexmark q6)',
      'SELECT userId, SUM(clicks) OVER (PARTITION BY userId ORDER BY ts) AS s FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY clicks DESC) AS rn FROM clicks) WHERE rn <= 1',
      /^1:32 an OVER aggregation over a subquery, a Top-N, whose rows update, is not supported — .*Flink refuses an OVER on an updating input too/,
    ],
    [
      'a filter of its results',
      'SELECT userId FROM (SELECT userId, SUM(clicks) OVER (ORDER BY ts) AS s FROM clicks) WHERE s > 10',
      /^1:107 a filter of an OVER aggregation's results \(a subquery\) is not supported yet/,
    ],
  ])('%s', (_, query, message) => {
    expect(problems(query)).toContainEqual(expect.stringMatching(message));
  });

  test('OVER w names a window of the WINDOW clause (Flink\'s named windows): the same as writing it in place', async () => {
    const rows = [1, 2, 3, 4, 5, 6].map((i) => ({ userId: i % 2 === 0 ? 'a' : 'b', clicks: i, ts: 1_700_000_000_000 + i * 1000 }));
    const named = compileSql(`${CLICKS}INSERT INTO out SELECT userId, SUM(clicks) OVER w AS s, COUNT(*) OVER w AS n FROM clicks
      WINDOW w AS (PARTITION BY userId ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)`);
    const inPlace = compileSql(`${CLICKS}INSERT INTO out SELECT userId, SUM(clicks) OVER (PARTITION BY userId ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s,
      COUNT(*) OVER (PARTITION BY userId ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS n FROM clicks`);
    const results = async (definition: JobDefinition): Promise<unknown[]> => {
      const h = harness(definition, { watermarks: 'strategy' });
      await h.sendBatch(rows);
      await h.finish();
      return h.results().map((r) => ({ userId: (r as Record<string, unknown>).userId, s: (r as Record<string, unknown>).s, n: (r as Record<string, unknown>).n }));
    };
    const expected = await results(inPlace);
    expect(expected).toContainEqual({ userId: 'a', s: 10, n: 2 });
    expect(await results(named)).toEqual(expected);
  });

  test.each([
    ['RANGE BETWEEN INTERVAL \'2\' SECOND PRECEDING AND CURRENT ROW', [[1, 3, 2], [2, 3, 2], [4, 7, 3], [8, 8, 1], [16, 24, 2]]],
    ['ROWS BETWEEN 1 PRECEDING AND CURRENT ROW', [[1, 1, 1], [2, 3, 2], [4, 6, 2], [8, 12, 2], [16, 24, 2]]],
  ])('ORDER BY a PROCTIME() column: the frame is by arrival (processing time), %s', async (frame, expected) => {
    const T0 = 1_700_000_000_000;
    const definition = compileSql(`${CLICKS}INSERT INTO out SELECT userId, clicks, SUM(clicks) OVER w AS s, COUNT(*) OVER w AS n
      FROM (SELECT *, PROCTIME() AS p FROM clicks) WINDOW w AS (PARTITION BY userId ORDER BY p ${frame})`);
    const h = harness(definition, { watermarks: 'strategy' });
    // Two rows arrive at 1 s (peers in a RANGE frame), then one at 2 s, 5 s and 6 s; their event times go backwards (nothing is late by arrival).
    for (const [arrival, clicks] of [[1000, [1, 2]], [2000, [4]], [5000, [8]], [6000, [16]]] as const) {
      await h.setProcessingTime(T0 + arrival);
      await h.sendBatch(clicks.map((c) => ({ userId: 'a', clicks: c, ts: T0 - c * 1000 })));
    }
    await h.advanceProcessingTime(1000);
    expect(h.late()).toEqual([]);
    expect(h.results().map((r) => [(r as Record<string, unknown>).clicks, (r as Record<string, unknown>).s, (r as Record<string, unknown>).n])).toEqual(expected);
  });

  test('a view of the table, projected and filtered, can be aggregated OVER', async () => {
    const definition = compileSql(`${CLICKS}CREATE VIEW big AS SELECT userId AS u, clicks * 2 AS c2, ts FROM clicks WHERE clicks > 1;
INSERT INTO out SELECT u, SUM(c2) OVER (PARTITION BY u ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM big`);
    const h = harness(definition);
    for (const [clicks, ts] of [[2, 1000], [1, 2000], [3, 3000], [4, 4000]] as const) await h.send({ userId: 'a', clicks, other: 0, ts });
    await h.watermark(5000);
    expect(written(h)).toEqual([
      { u: 'a', s: 4 },
      { u: 'a', s: 10 },
      { u: 'a', s: 14 },
    ]);
  });
});
