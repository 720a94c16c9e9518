/**
 * An aggregation over an aggregating subquery's results (`SELECT MAX(num) … FROM (SELECT COUNT(*) AS num …
 * GROUP BY auction, window_start, window_end) GROUP BY …`): grouped by the subquery's window columns it is
 * append-only, window by window; grouped otherwise it is a continuous aggregation whose results update; over
 * a continuous GROUP BY it takes back the rows that update. On Nexmark bids, against sqlite3.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileSql, planJob, SqlError, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { nexmarkRows } from '../../lib/nexmark';
import { changelogOf } from '../../lib/sql';
import { byJson, columnsOf, foldChangelog, sqliteOnBids } from './sql-reference';

const BID_DDL = fs.readFileSync(path.join(__dirname, '../fixtures/nexmark/ddl_kinesis.sql'), 'utf8');
const BIDS = nexmarkRows('bid', { count: 4000, eventsPerSecond: 50, seed: 5 });

const compile = (query: string): JobDefinition => compileSql(`${BID_DDL}\nCREATE TABLE out_table WITH ('connector' = 'print');\nINSERT INTO out_table ${query};`);

async function recordsOf(definition: JobDefinition): Promise<Record<string, unknown>[]> {
  const h = harness(definition, { watermarks: 'strategy' });
  for (let i = 0; i < BIDS.length; i += 200) await h.sendBatch(BIDS.slice(i, i + 200));
  await h.finish();
  expect(h.deadLetters()).toEqual([]);
  return h.results() as Record<string, unknown>[];
}

/** Bids per auction per 10 s tumbling window, as sqlite3 rows (ws: the window start). */
const COUNTS = 'SELECT auction, COUNT(*) AS num, t - t % 10000 AS ws FROM bid GROUP BY auction, t - t % 10000';

describe('an aggregation over a window aggregation’s results', () => {
  test('grouped by its window columns: one stage more, window by window, append-only', async () => {
    const definition = compile(`
      SELECT MAX(num) AS maxn, COUNT(*) AS auctions, starttime
      FROM (SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
            FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end) AS counts
      GROUP BY starttime, endtime`);
    const stages = planJob(definition).stages.map((s) => (s.keyed?.kind === 'window' && s.keyed.assigner.kind === 'tumbling' ? `tumbling ${s.keyed.assigner.sizeMs} ms` : (s.keyed?.kind ?? 'stateless')));
    expect(stages).toEqual(['stateless', 'tumbling 10000 ms', 'tumbling 10000 ms']);
    expect(changelogOf(definition)?.mode).toBe('append-only');
    const records = await recordsOf(definition);
    const expected = sqliteOnBids(BIDS, `SELECT MAX(num) AS maxn, COUNT(*) AS auctions, ws AS starttime FROM (${COUNTS}) GROUP BY ws`);
    expect(expected.length).toBeGreaterThan(5);
    expect(byJson(records.map((r) => columnsOf(r)))).toEqual(byJson(expected));
  });

  test('grouped by other columns: a continuous aggregation of the results, updating (its changelog folds to sqlite3’s)', async () => {
    const definition = compile(`
      SELECT auction, MAX(num) AS busiest
      FROM (SELECT auction, COUNT(*) AS num, window_start, window_end
            FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end)
      GROUP BY auction`);
    expect(changelogOf(definition)?.mode).toBe('updating');
    const records = await recordsOf(definition);
    expect(records.some((r) => r.op === '+U')).toBe(true);
    const expected = sqliteOnBids(BIDS, `SELECT auction, MAX(num) AS busiest FROM (${COUNTS}) GROUP BY auction`);
    expect(byJson(foldChangelog(records))).toEqual(byJson(expected));
  });

  test('over a GROUP BY without a window (updating): each -U and -D takes back what its row added — groups come and go, MIN and MAX fall back', async () => {
    // Auctions by their bid count so far: as an auction's count grows it leaves one group for the next.
    const definition = compile(`
      SELECT n, COUNT(*) AS auctions, MIN(top) AS low, MAX(top) AS high, SUM(top) AS total, COUNT(DISTINCT top) AS tops
      FROM (SELECT auction, COUNT(*) AS n, MAX(price) AS top FROM bid GROUP BY auction)
      GROUP BY n`);
    expect(changelogOf(definition)?.kinds).toEqual(['+I', '-U', '+U', '-D']);
    const records = await recordsOf(definition);
    expect(records.some((r) => r.op === '-D')).toBe(true);
    const expected = sqliteOnBids(
      BIDS,
      'SELECT n, COUNT(*) AS auctions, MIN(top) AS low, MAX(top) AS high, SUM(top) AS total, COUNT(DISTINCT top) AS tops FROM (SELECT auction, COUNT(*) AS n, MAX(price) AS top FROM bid GROUP BY auction) GROUP BY n',
    );
    expect(expected.length).toBeGreaterThan(5);
    expect(byJson(foldChangelog(records))).toEqual(byJson(expected));
  });

  test.each([
    [
      "SELECT MAX(n) AS m FROM (SELECT bidder, COUNT(*) AS n, window_start, window_end FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY bidder, window_start, window_end) GROUP BY window_start, window_end",
      /an aggregation per window over the results of a SESSION window is not supported yet/,
    ],
    ["SELECT COUNT(*) AS c FROM (SELECT auction, price FROM (SELECT auction, price, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn FROM bid) WHERE rn <= 1) GROUP BY price", /a query over a subquery, a Top-N, is not supported yet/],
    ["SELECT MAX(n) AS m FROM (SELECT auction, COUNT(*) AS n, window_start FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end) GROUP BY TUMBLE(window_start, INTERVAL '1' MINUTE)", /a window \(TUMBLE\) over an aggregation's results is not supported/],
  ])('%s is refused by name', (query, expected) => {
    expect(() => compile(query)).toThrow(SqlError);
    expect(() => compile(query)).toThrow(expected);
  });
});
