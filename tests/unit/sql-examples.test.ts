/**
 * The SQL examples on generated data: the click count equals its DataStream twin, the Nexmark-style
 * queries equal sqlite3 on the same bids, and the Table API hot-items job equals the SQL one.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { loadJob } from '../../lib/cli/load-job';
import { demoClicks } from '../../lib/local/demo';
import { nexmarkRows, type Bid } from '../../lib/nexmark';
import hotItemsTableApi from '../../examples/nexmark-hot-items';
import { byJson, columnsOf, sqliteOnBids } from './sql-reference';

const ROOT = path.resolve(__dirname, '../..');
const example = (file: string): JobDefinition => loadJob(path.join(ROOT, 'examples', file));

const sorted = (rows: Record<string, unknown>[]): Record<string, unknown>[] =>
  [...rows].sort((a, b) => String(a.key).localeCompare(String(b.key)) || Number(a.windowStart) - Number(b.windowStart));

/** Sends events in batches of 100 with watermarks by the source's strategy, then ends the input. */
async function resultsOf(definition: JobDefinition, events: readonly unknown[]): Promise<Record<string, unknown>[]> {
  const h = harness(definition, { watermarks: 'strategy' });
  for (let i = 0; i < events.length; i += 100) await h.sendBatch(events.slice(i, i + 100));
  await h.finish();
  expect(h.late()).toEqual([]);
  expect(h.deadLetters()).toEqual([]);
  return sorted(h.table());
}

function sqlite(bids: readonly Bid[], query: string): Record<string, unknown>[] {
  const rows = bids.map((b) => `(${b.auction}, ${b.bidder}, ${b.price}, '${b.channel}', ${b.dateTime})`);
  const script = ['.mode json', 'CREATE TABLE bids (auction INTEGER, bidder INTEGER, price INTEGER, channel TEXT, t INTEGER);', `INSERT INTO bids VALUES ${rows.join(',\n')};`, query].join('\n');
  const out = execFileSync('sqlite3', [':memory:'], { input: script, encoding: 'utf8' }).trim();
  return sorted(out ? (JSON.parse(out) as Record<string, unknown>[]) : []);
}

/** The bids of 2 minutes of Nexmark events at 25 per second. */
const BIDS = nexmarkRows('bid', { count: 3000, eventsPerSecond: 25, seed: 7 });

test('click-counts.sql gives the results of click-counts.ts on the demo clicks', async () => {
  let now = Date.UTC(2024, 0, 1);
  const next = demoClicks({ seed: 3, clock: () => (now += 37) });
  const clicks = Array.from({ length: 1500 }, next);
  const fromSql = await resultsOf(example('click-counts.sql'), clicks);
  const fromTs = await resultsOf(example('click-counts.ts'), clicks);
  expect(fromSql.length).toBeGreaterThan(100);
  // The SQL sink declares (userId, window_start, clicks): userId is a column, window_start is windowStart.
  expect(fromSql).toEqual(fromTs.map((r) => ({ ...r, userId: r.key })));
});

test('nexmark-hot-items.sql: auctions with 3+ bids per sliding window, as sqlite3 computes them (window_end is windowEnd)', async () => {
  const results = await resultsOf(example('nexmark-hot-items.sql'), BIDS);
  expect(results.length).toBeGreaterThan(50);
  expect(results).toEqual(
    sqlite(
      BIDS,
      `WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < 5)
       SELECT CAST(auction AS TEXT) AS key, ws AS windowStart, ws + 10000 AS windowEnd, auction,
              COUNT(*) AS bids, COUNT(DISTINCT bidder) AS bidders, MAX(price) AS top_price
       FROM (SELECT bids.*, (t / 2000) * 2000 - i * 2000 AS ws FROM bids, k)
       GROUP BY auction, ws HAVING COUNT(*) >= 3;`,
    ),
  );
});

test('nexmark-hot-items.ts (the Table API) gives the SQL example’s results', async () => {
  expect(await resultsOf(hotItemsTableApi, BIDS)).toEqual(await resultsOf(example('nexmark-hot-items.sql'), BIDS));
});

test('nexmark-highest-bid.sql: the highest bid per tumbling window over all auctions, as sqlite3 computes it', async () => {
  const results = await resultsOf(example('nexmark-highest-bid.sql'), BIDS);
  expect(results.length).toBeGreaterThan(10);
  expect(results).toEqual(
    sqlite(
      BIDS,
      `SELECT 'all' AS key, (t / 10000) * 10000 AS windowStart, (t / 10000) * 10000 + 10000 AS windowEnd,
              MAX(price) AS price, COUNT(*) AS bids, AVG(price) AS avg_price
       FROM bids WHERE channel <> 'test' GROUP BY t / 10000;`,
    ),
  );
});

test('nexmark-channel-revenue.sql: exact euro revenue per platform through a view, as sqlite3 computes it in integers', async () => {
  const results = await resultsOf(example('nexmark-channel-revenue.sql'), BIDS);
  expect(results.length).toBeGreaterThan(30);
  const expected = sqlite(
    BIDS,
    `SELECT platform AS key, ws AS windowStart, ws + 10000 AS windowEnd, platform, strftime('%H:%M:%S', ws / 1000, 'unixepoch') AS started,
            printf('%d.%03d', SUM(908 * price) / 1000, SUM(908 * price) % 1000) AS revenue, COUNT(*) AS bids,
            SUM(908 * price >= 1000000) AS big_bids, COUNT(DISTINCT auction) AS auctions
     FROM (SELECT *, (t / 10000) * 10000 AS ws,
             CASE lower(channel) WHEN 'apple' THEN 'ios' WHEN 'google' THEN 'android' ELSE lower(channel) END AS platform
           FROM bids WHERE channel <> 'test')
     GROUP BY platform, ws;`,
  ).map((r) => ({ ...r, revenue: Number(r.revenue) }));
  expect(results).toEqual(expected);
});

test('nexmark-top-bidders.sql: the 3 most active bidders per channel, upserted by (channel, rank), end as sqlite3 ranks them', async () => {
  const table = await resultsOf(example('nexmark-top-bidders.sql'), BIDS);
  expect(table.every((item) => item.op === '+I' || item.op === '+U')).toBe(true);
  const rows = table.map((item) => columnsOf(item, ['op']));
  expect(rows).toEqual(
    sqlite(
      BIDS,
      `SELECT json_array(channel, rn) AS key, channel, bidder, bids, top_price, rn FROM
         (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY bids DESC, top_price DESC, bidder) AS rn FROM
           (SELECT channel, bidder, COUNT(*) AS bids, MAX(price) AS top_price FROM bids WHERE channel <> 'test' GROUP BY channel, bidder))
       WHERE rn <= 3;`,
    ),
  );
  // Nexmark's four hot channels have three bidders each at least; the rest of its channels, fewer.
  for (const channel of ['Apple', 'Google', 'Facebook', 'Baidu']) expect(rows.filter((r) => r.channel === channel)).toHaveLength(3);
});

test('nexmark-bid-kinds.sql: Nexmark q14 with its user function in TypeScript (CREATE FUNCTION count_char AS ./count-char.ts)', async () => {
  const h = harness(example('nexmark-bid-kinds.sql'), { watermarks: 'strategy' });
  for (let i = 0; i < BIDS.length; i += 100) await h.sendBatch(BIDS.slice(i, i + 100));
  await h.finish();
  expect(h.deadLetters()).toEqual([]);
  const expected = sqliteOnBids(
    BIDS,
    `SELECT auction, bidder, printf('%d.%03d', 908 * price / 1000, 908 * price % 1000) AS price,
       CASE WHEN CAST(strftime('%H', t / 1000, 'unixepoch') AS INTEGER) BETWEEN 8 AND 18 THEN 'dayTime'
            WHEN CAST(strftime('%H', t / 1000, 'unixepoch') AS INTEGER) <= 6 OR CAST(strftime('%H', t / 1000, 'unixepoch') AS INTEGER) >= 20 THEN 'nightTime'
            ELSE 'otherTime' END AS bidTimeType,
       t AS dateTime, length(url) - length(replace(url, 'c', '')) AS c_counts
     FROM bid WHERE 908 * price > 1000000;`,
  ).map((r): Record<string, unknown> => ({ ...r, price: Number(r.price) }));
  expect(expected.length).toBeGreaterThan(100);
  expect(byJson(h.results())).toEqual(byJson(expected));
  expect(expected.some((r) => Number(r.c_counts) > 1)).toBe(true);
});
