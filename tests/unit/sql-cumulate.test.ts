/**
 * Flink SQL's cumulating window table function, FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), step, size))
 * with GROUP BY window_start, window_end[, keys]: compiled to the cumulative window assigner. The example of
 * Flink's docs (Window TVF — CUMULATE) with its printed results, Nexmark bids against sqlite3, and the
 * errors, named as the other windows' are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileSql, planJob, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { nexmarkRows } from '../../lib/nexmark';
import { changelogOf } from '../../lib/sql';
import { byJson, columnsOf, sqliteOnBids } from './sql-reference';

const BID_DDL = fs.readFileSync(path.join(__dirname, '../fixtures/nexmark/ddl_kinesis.sql'), 'utf8');
const BIDS = nexmarkRows('bid', { count: 3000, eventsPerSecond: 25, seed: 11 });

const compile = (query: string): JobDefinition => compileSql(`${BID_DDL}\nCREATE TABLE out_table WITH ('connector' = 'print');\nINSERT INTO out_table ${query};`);

const cumulate = (step: string, size: string): string => `TABLE(CUMULATE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL ${step}, INTERVAL ${size}))`;

/** Each stage's keyed operator: the window assigner's kind and sizes, or none. */
const stagesOf = (definition: JobDefinition): string[] =>
  planJob(definition).stages.map((s) => {
    const k = s.keyed;
    if (k?.kind !== 'window') return k?.kind ?? 'stateless';
    return k.assigner.kind === 'cumulative' ? `cumulative ${k.assigner.sizeMs}/${k.assigner.stepMs}` : k.assigner.kind;
  });

async function recordsOf(definition: JobDefinition): Promise<Record<string, unknown>[]> {
  const h = harness(definition, { watermarks: 'strategy' });
  for (let i = 0; i < BIDS.length; i += 200) await h.sendBatch(BIDS.slice(i, i + 200));
  await h.finish();
  expect(h.deadLetters()).toEqual([]);
  expect(h.late()).toEqual([]);
  return h.results() as Record<string, unknown>[];
}

/** sqlite3: each bid in the windows [period start, period start + n × step) that end after it, n = 1 … size / step. */
const cumulatingBids = (stepMs: number, sizeMs: number): string =>
  `WITH RECURSIVE steps(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM steps WHERE n < ${sizeMs / stepMs}),
   windowed AS (SELECT bid.*, t - t % ${sizeMs} AS ws, t - t % ${sizeMs} + n * ${stepMs} AS we FROM bid, steps WHERE t - t % ${sizeMs} + n * ${stepMs} > t)`;

describe('FROM TABLE(CUMULATE(…)) GROUP BY window_start, window_end', () => {
  test("Flink's documented example: SUM(price) of the Bid table, 2 minute steps of 10 minute windows", async () => {
    const definition = compileSql(`
      CREATE TABLE Bid (bidtime TIMESTAMP(3), price DECIMAL(10, 2), item STRING, WATERMARK FOR bidtime AS bidtime - INTERVAL '1' SECOND)
        WITH ('connector' = 'kinesis', 'stream' = 'bids');
      CREATE TABLE sums WITH ('connector' = 'print');
      INSERT INTO sums
      SELECT window_start, window_end, SUM(price) AS price
        FROM TABLE(CUMULATE(TABLE Bid, DESCRIPTOR(bidtime), INTERVAL '2' MINUTES, INTERVAL '10' MINUTES))
        GROUP BY window_start, window_end;`);
    const h = harness(definition);
    const bid = (time: string, price: number, item: string) => ({ bidtime: `2020-04-15 ${time}`, price, item });
    await h.sendBatch([bid('08:05', 4, 'C'), bid('08:07', 2, 'A'), bid('08:09', 5, 'D'), bid('08:11', 3, 'B'), bid('08:13', 1, 'E'), bid('08:17', 6, 'F')]);
    await h.finish();
    const at = (time: string): number => Date.parse(`2020-04-15T${time}:00Z`);
    expect(h.results().map((r) => [r.windowStart, r.windowEnd, r.price])).toEqual([
      [at('08:00'), at('08:06'), 4],
      [at('08:00'), at('08:08'), 6],
      [at('08:00'), at('08:10'), 11],
      [at('08:10'), at('08:12'), 3],
      [at('08:10'), at('08:14'), 4],
      [at('08:10'), at('08:16'), 4],
      [at('08:10'), at('08:18'), 10],
      [at('08:10'), at('08:20'), 10],
    ]);
  });

  test('bids, total and top price per auction on Nexmark bids: one cumulative window stage, append-only, equal to sqlite3', async () => {
    const definition = compile(`
      SELECT auction, window_start AS ws, window_end AS we, COUNT(*) AS bids, SUM(price) AS total, MAX(price) AS top
      FROM ${cumulate("'2' SECOND", "'10' SECOND")}
      GROUP BY auction, window_start, window_end`);
    expect(stagesOf(definition)).toEqual(['stateless', 'cumulative 10000/2000']);
    expect(changelogOf(definition)).toMatchObject({ mode: 'append-only', uniqueKey: ['auction', 'window_start', 'window_end'] });
    const records = await recordsOf(definition);
    const expected = sqliteOnBids(BIDS, `${cumulatingBids(2000, 10000)} SELECT auction, ws, we, COUNT(*) AS bids, SUM(price) AS total, MAX(price) AS top FROM windowed GROUP BY auction, ws, we;`);
    expect(expected.length).toBeGreaterThan(500);
    expect(byJson(records.map((r) => columnsOf(r)))).toEqual(byJson(expected));
  });

  test('grouped by the window alone, with WHERE and HAVING', async () => {
    const definition = compile(`
      SELECT window_start AS ws, window_end AS we, COUNT(DISTINCT bidder) AS bidders, SUM(price) AS total
      FROM ${cumulate("'5' SECOND", "'1' MINUTE")}
      WHERE price > 1000
      GROUP BY window_start, window_end HAVING COUNT(*) > 3`);
    const records = await recordsOf(definition);
    const expected = sqliteOnBids(
      BIDS,
      `${cumulatingBids(5000, 60000)} SELECT ws, we, COUNT(DISTINCT bidder) AS bidders, SUM(price) AS total FROM windowed WHERE price > 1000 GROUP BY ws, we HAVING COUNT(*) > 3;`,
    );
    expect(expected.length).toBeGreaterThan(20); // 2 minutes of bids: 24 windows of 5 s steps
    expect(byJson(records.map((r) => columnsOf(r)))).toEqual(byJson(expected));
  });

  test('an aggregation of its results grouped by their window columns: window by window, equal to sqlite3', async () => {
    const definition = compile(`
      SELECT MAX(num) AS maxn, COUNT(*) AS auctions, starttime, endtime
      FROM (SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
            FROM ${cumulate("'2' SECOND", "'10' SECOND")} GROUP BY auction, window_start, window_end)
      GROUP BY starttime, endtime`);
    expect(stagesOf(definition)).toEqual(['stateless', 'cumulative 10000/2000', 'tumbling']);
    expect(changelogOf(definition)?.mode).toBe('append-only');
    const records = await recordsOf(definition);
    const expected = sqliteOnBids(
      BIDS,
      `${cumulatingBids(2000, 10000)} SELECT MAX(num) AS maxn, COUNT(*) AS auctions, ws AS starttime, we AS endtime FROM (SELECT auction, COUNT(*) AS num, ws, we FROM windowed GROUP BY auction, ws, we) GROUP BY ws, we;`,
    );
    expect(expected.length).toBeGreaterThan(50); // 2 minutes of bids: 60 windows of 2 s steps
    expect(byJson(records.map((r) => columnsOf(r)))).toEqual(byJson(expected));
  });
});

describe('what CUMULATE is told', () => {
  test.each([
    ['the size before the step', `SELECT window_start, COUNT(*) AS n FROM ${cumulate("'10' SECOND", "'2' SECOND")} GROUP BY window_start, window_end`, /CUMULATE step 10000 ms is larger than its size 2000 ms — CUMULATE\(TABLE t, DESCRIPTOR\(ts\), INTERVAL step, INTERVAL size\) takes the step first/],
    ["a size that is not a multiple of the step (Flink's planner test: 25 minutes, 1 hour)", `SELECT window_start, COUNT(*) AS n FROM ${cumulate("'25' MINUTE", "'1' HOUR")} GROUP BY window_start, window_end`, /CUMULATE size 3600000 ms is not a multiple of its step 1500000 ms/],
    ['one INTERVAL', "SELECT window_start, COUNT(*) AS n FROM TABLE(CUMULATE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND)) GROUP BY window_start, window_end", /CUMULATE needs a step and a size: CUMULATE\(TABLE src, DESCRIPTOR\(ts\), INTERVAL step, INTERVAL size\)/],
    ['an offset', "SELECT window_start, COUNT(*) AS n FROM TABLE(CUMULATE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND, INTERVAL '1' SECOND)) GROUP BY window_start, window_end", /a window offset is not supported/],
    ['CUMULATE in GROUP BY', "SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction, CUMULATE(dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND)", /CUMULATE is a window table function, not a GROUP BY window \(as in Flink\) — write FROM TABLE\(CUMULATE\(/],
    ['GROUP BY without window_end', `SELECT window_start, COUNT(*) AS n FROM ${cumulate("'2' SECOND", "'10' SECOND")} GROUP BY window_start`, /GROUP BY must list window_start and window_end with FROM TABLE\(CUMULATE\(…\)\) \(window_end is missing\)/],
    ['a time column that is not the event time', "SELECT window_start, COUNT(*) AS n FROM TABLE(CUMULATE(TABLE bid, DESCRIPTOR(bidder), INTERVAL '2' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end", /CUMULATE\(bidder, …\): bidder is not the event-time column/],
    [
      'a window join',
      `SELECT a.auction FROM (SELECT * FROM ${cumulate("'2' SECOND", "'10' SECOND")}) AS a JOIN (SELECT * FROM ${cumulate("'2' SECOND", "'10' SECOND")}) AS b ON a.auction = b.auction AND a.window_start = b.window_start AND a.window_end = b.window_end`,
      /a join of CUMULATE windows \(or of their results\) is not supported yet — join TUMBLE or HOP windows/,
    ],
  ])('%s', (_what, query, message) => {
    expect(() => compile(query)).toThrow(message);
  });
});
