/**
 * Changelog semantics of compiled SQL (Flink's planner): which queries are append-only and which update,
 * by which unique key; the exact changes a continuous GROUP BY, a Top-N and a deduplication emit; a
 * DynamoDB sink upserting them (its final table equal to sqlite3's answer on the same rows) and a Kinesis
 * sink receiving the retract changelog (folded back, equal to the same answer).
 */
import { changelogOf, compileSql, describeChangelog, planJob, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { nexmarkRows, type Bid } from '../../lib/nexmark';
import { byJson, columnsOf, foldChangelog, sqliteOnBids } from './sql-reference';

const CLICKS = `CREATE TABLE clicks (userId STRING, page STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
  WITH ('connector' = 'kinesis', 'stream' = 'clicks');`;
const BID = `CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, \`dateTime\` TIMESTAMP(3), extra STRING,
  WATERMARK FOR \`dateTime\` AS \`dateTime\` - INTERVAL '4' SECOND) WITH ('connector' = 'kinesis', 'stream' = 'bids');`;
const DYNAMO = "CREATE TABLE out WITH ('connector' = 'dynamodb', 'table-name' = 'sql-out');";
const KINESIS = "CREATE TABLE out WITH ('connector' = 'kinesis', 'stream' = 'sql-out');";

const job = (source: string, sink: string, query: string): JobDefinition => compileSql(`${source}\n${sink}\nINSERT INTO out ${query}`);

/** Sends events one per batch (so every change is its own), ends the input, and returns the harness. */
async function runEach(definition: JobDefinition, events: readonly unknown[]): Promise<ReturnType<typeof harness>> {
  const h = harness(definition, { watermarks: 'strategy' });
  for (const e of events) await h.send(e);
  await h.finish();
  expect(h.deadLetters()).toEqual([]);
  return h;
}

/** Sends events in batches of 100. */
async function runBatches(definition: JobDefinition, events: readonly unknown[]): Promise<ReturnType<typeof harness>> {
  const h = harness(definition, { watermarks: 'strategy' });
  for (let i = 0; i < events.length; i += 100) await h.sendBatch(events.slice(i, i + 100));
  await h.finish();
  expect(h.deadLetters()).toEqual([]);
  return h;
}

/** The top 2 users by clicks in each 5-second window. */
const WINDOW_TOP_2 =
  "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC) AS rn FROM (SELECT userId, COUNT(*) AS n, window_start, window_end FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND)) GROUP BY userId, window_start, window_end)) WHERE rn <= 2";

const click = (userId: string, clicks: number, ts: number, page = 'home'): Record<string, unknown> => ({ userId, page, clicks, ts });

/** What a DynamoDB table holds: the rows (their columns), tombstones of deleted rows left out. */
const liveRows = (table: readonly Record<string, unknown>[]): Record<string, unknown>[] => table.filter((r) => r.op !== '-D').map((r) => columnsOf(r));

describe('each compiled query knows its changelog', () => {
  test.each([
    ['a projection', CLICKS, DYNAMO, 'SELECT userId, clicks FROM clicks', 'changelog: append-only [+I], no unique key'],
    ['a window aggregation', CLICKS, DYNAMO, "SELECT userId, COUNT(*) AS n FROM clicks GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)", 'changelog: append-only [+I], unique key (userId, window_start, window_end)'],
    [
      'a GROUP BY without a window, to DynamoDB',
      CLICKS,
      DYNAMO,
      'SELECT userId, COUNT(*) AS n FROM clicks GROUP BY userId',
      'changelog: updating [+I, +U], unique key (userId): the DynamoDB sink upserts by it (a deletion leaves the row with op = -D)',
    ],
    ['… to Kinesis, with HAVING', CLICKS, KINESIS, 'SELECT userId, COUNT(*) AS n FROM clicks GROUP BY userId HAVING SUM(clicks) > 3', "changelog: updating [+I, -U, +U, -D], unique key (userId): each record's op field is its change kind"],
    ['an aggregate without GROUP BY', CLICKS, KINESIS, 'SELECT COUNT(*) AS n FROM clicks', "changelog: updating [+I, -U, +U], no unique key: each record's op field is its change kind"],
    [
      'a Top-N with its rank',
      CLICKS,
      KINESIS,
      'SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY page ORDER BY clicks DESC) AS rn FROM clicks) WHERE rn <= 3',
      "changelog: updating [+I, -U, +U], unique key (page, rn): each record's op field is its change kind",
    ],
    [
      'a Top-N without it',
      CLICKS,
      KINESIS,
      'SELECT userId, clicks FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY page ORDER BY clicks DESC) AS rn FROM clicks) WHERE rn <= 3',
      "changelog: updating [+I, -D], no unique key: each record's op field is its change kind",
    ],
    [
      'a deduplication',
      CLICKS,
      DYNAMO,
      'SELECT userId, page FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY ts DESC) AS rn FROM clicks) WHERE rn = 1',
      'changelog: updating [+I, +U], unique key (userId): the DynamoDB sink upserts by it (a deletion leaves the row with op = -D)',
    ],
    [
      'a Top-N per window',
      CLICKS,
      DYNAMO,
      WINDOW_TOP_2,
      'changelog: append-only [+I], unique key (window_start, window_end, rn)',
    ],
    [
      'a Top-N of a continuous GROUP BY',
      CLICKS,
      DYNAMO,
      'SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY page ORDER BY n DESC) AS rn FROM (SELECT page, userId, COUNT(*) AS n FROM clicks GROUP BY page, userId)) WHERE rn <= 2',
      'changelog: updating [+I, +U, -D], unique key (page, rn): the DynamoDB sink upserts by it (a deletion leaves the row with op = -D)',
    ],
  ])('%s', (_what, source, sink, query, described) => {
    expect(describeChangelog(changelogOf(job(source, sink, query))!)).toBe(described);
  });

  test('a GROUP BY without a window is one keyed process stage after the source stage', () => {
    const plan = planJob(job(CLICKS, DYNAMO, 'SELECT userId, COUNT(*) AS n FROM clicks GROUP BY userId'));
    expect(plan.stages.map((s) => s.keyed?.kind ?? 'stateless')).toEqual(['stateless', 'process']);
  });

  test('a Top-N of a window aggregation is a second keyed stage after the window stage', () => {
    const plan = planJob(job(CLICKS, DYNAMO, WINDOW_TOP_2));
    expect(plan.stages.map((s) => s.keyed?.kind ?? 'stateless')).toEqual(['stateless', 'window', 'process']);
  });
});

describe('GROUP BY without a window: every change of a group, as Flink emits it without mini-batch', () => {
  const query = 'SELECT userId, COUNT(*) AS n, SUM(clicks) AS total FROM clicks GROUP BY userId HAVING SUM(clicks) < 10';
  const events = [click('a', 2, 1000), click('b', 1, 1100), click('a', 3, 1200), click('a', 0, 1300), click('a', 7, 1400), click('a', -5, 1500)];

  test('to Kinesis: +I, then -U/+U per update, -D when HAVING drops the row, +I when it lets it back', async () => {
    const h = await runEach(job(CLICKS, KINESIS, query), events);
    expect(h.results()).toEqual([
      { key: 'a', op: '+I', userId: 'a', n: 1, total: 2 },
      { key: 'b', op: '+I', userId: 'b', n: 1, total: 1 },
      { key: 'a', op: '-U', userId: 'a', n: 1, total: 2 },
      { key: 'a', op: '+U', userId: 'a', n: 2, total: 5 },
      { key: 'a', op: '-U', userId: 'a', n: 2, total: 5 },
      { key: 'a', op: '+U', userId: 'a', n: 3, total: 5 },
      { key: 'a', op: '-D', userId: 'a', n: 3, total: 5 },
      { key: 'a', op: '+I', userId: 'a', n: 5, total: 7 },
    ]);
  });

  test('to DynamoDB: no -U; an update overwrites the row; a deleted row is a tombstone until it comes back', async () => {
    const h = await runEach(job(CLICKS, DYNAMO, query), events.slice(0, 5));
    expect(h.results().map((r) => r.op)).toEqual(['+I', '+I', '+U', '+U', '-D']);
    expect(h.table()).toEqual([
      { key: 'a', op: '-D', userId: 'a', n: 3, total: 5 },
      { key: 'b', op: '+I', userId: 'b', n: 1, total: 1 },
    ]);
    const again = await runEach(job(CLICKS, DYNAMO, query), events);
    expect(liveRows(again.table())).toEqual([
      { userId: 'a', n: 5, total: 7 },
      { userId: 'b', n: 1, total: 1 },
    ]);
  });

  test("SET 'table.exec.state.ttl': a group not updated for that long (event time) starts again from nothing", async () => {
    const ttl = compileSql(`SET 'table.exec.state.ttl' = '10 s';\n${CLICKS}\n${KINESIS}\nINSERT INTO out SELECT userId, COUNT(*) AS n FROM clicks GROUP BY userId`);
    const h = await runEach(ttl, [click('a', 1, 1000), click('a', 1, 9000), click('a', 1, 18_999), click('a', 1, 29_000)]);
    expect(h.results().map((r) => `${String(r.op)} ${String(r.n)}`)).toEqual(['+I 1', '-U 1', '+U 2', '-U 2', '+U 3', '+I 1']);
  });

  test("an unreadable 'table.exec.state.ttl' is an error naming it", () => {
    expect(() => compileSql(`SET 'table.exec.state.ttl' = 'an hour';\n${CLICKS}\n${KINESIS}\nINSERT INTO out SELECT userId, COUNT(*) AS n FROM clicks GROUP BY userId`)).toThrow(
      "line 1, column 1: 'table.exec.state.ttl' = 'an hour' is not a duration: write '10 s', '500 ms' or '1 min'",
    );
  });
});

describe('Top-N and deduplication: the exact changes', () => {
  const top2 = (columns: string): string =>
    `SELECT ${columns} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY page ORDER BY clicks DESC) AS rn FROM clicks) WHERE rn <= 2`;
  const events = [5, 3, 7, 3, 6].map((n, i) => click(`u${i}`, n, 1000 * i));
  const changes = (records: readonly Record<string, unknown>[]): string[] => records.map((r) => `${String(r.op)} ${String(r.key)}: ${String(r.userId)} ${String(r.clicks)}`);

  test('with the rank: each rank whose row changed is -U/+U; a row tying with rank 2 comes after it, so out', async () => {
    const h = await runEach(job(CLICKS, KINESIS, top2('userId, clicks, rn')), events);
    expect(changes(h.results())).toEqual([
      '+I ["home",1]: u0 5',
      '+I ["home",2]: u1 3',
      '-U ["home",1]: u0 5',
      '+U ["home",1]: u2 7',
      '-U ["home",2]: u1 3',
      '+U ["home",2]: u0 5',
      '-U ["home",2]: u0 5',
      '+U ["home",2]: u4 6',
    ]);
    expect(h.results().map((r) => r.rn)).toEqual([1, 2, 1, 1, 2, 2, 2, 2]);
  });

  test('without the rank: the row pushed out is -D, the row that came in +I', async () => {
    const h = await runEach(job(CLICKS, KINESIS, top2('userId, clicks')), events);
    expect(changes(h.results())).toEqual(['+I home: u0 5', '+I home: u1 3', '-D home: u1 3', '+I home: u2 7', '-D home: u0 5', '+I home: u4 6']);
  });

  test('keeping the last row by event time: an older row changes nothing, one of the same time replaces it', async () => {
    const last = 'SELECT userId, clicks FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY ts DESC) AS rn FROM clicks) WHERE rn = 1';
    const h = await runEach(job(CLICKS, KINESIS, last), [click('a', 1, 1000), click('a', 2, 3000), click('a', 3, 2000), click('a', 4, 3000)]);
    expect(changes(h.results())).toEqual(['+I a: a 1', '-U a: a 1', '+U a: a 2', '-U a: a 2', '+U a: a 4']);
  });

  test('keeping the first row by event time: an older row arriving later replaces it, one of the same time does not', async () => {
    const first = 'SELECT userId, clicks FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY userId ORDER BY ts ASC) AS rn FROM clicks) WHERE rn = 1';
    const h = await runEach(job(CLICKS, KINESIS, first), [click('a', 1, 2000), click('a', 2, 3000), click('a', 3, 1000), click('a', 4, 1000)]);
    expect(changes(h.results())).toEqual(['+I a: a 1', '-U a: a 1', '+U a: a 3']);
  });
});

// ——— on generated bids, against sqlite3 ———

const BIDS: Bid[] = nexmarkRows('bid', { count: 1500, eventsPerSecond: 25, seed: 7 });

describe('on 1,500 generated bids, the final tables equal sqlite3’s answer', () => {
  // Expressions in GROUP BY, FILTER, COUNT(DISTINCT), and an exact DECIMAL sum (0.908 * price).
  const grouped =
    "SELECT auction, DATE_FORMAT(`dateTime`, 'HH:mm') AS `minute`, COUNT(*) AS total, COUNT(*) FILTER (WHERE price < 1000) AS cheap, MIN(price) AS low, MAX(price) AS high, SUM(0.908 * price) AS eur, COUNT(DISTINCT bidder) AS bidders FROM bid GROUP BY auction, DATE_FORMAT(`dateTime`, 'HH:mm')";
  const groupedInSqlite = () =>
    sqliteOnBids(
      BIDS,
      `SELECT auction, strftime('%H:%M', t / 1000, 'unixepoch') AS minute, COUNT(*) AS total, SUM(price < 1000) AS cheap, MIN(price) AS low, MAX(price) AS high,
         printf('%d.%03d', SUM(908 * price) / 1000, SUM(908 * price) % 1000) AS eur, COUNT(DISTINCT bidder) AS bidders
       FROM bid GROUP BY auction, minute;`,
    ).map((r) => ({ ...r, eur: Number(r.eur) }));

  test('continuous GROUP BY on expressions: the DynamoDB table (upserts) and the folded Kinesis changelog', async () => {
    const expected = groupedInSqlite();
    const dynamo = await runBatches(job(BID, DYNAMO, grouped), BIDS);
    expect(byJson(liveRows(dynamo.table()))).toEqual(byJson(expected));
    const kinesis = await runBatches(job(BID, KINESIS, grouped), BIDS);
    expect(byJson(foldChangelog(kinesis.results()))).toEqual(byJson(expected));
    // The sum is exact: doubles would give 1904.9840000000002 for 0.908 * 2098.
    expect(expected.some((r) => !Number.isInteger(r.eur))).toBe(true);
  });

  test('a continuous Top-3 per channel with its rank (ties by arrival)', async () => {
    const query = 'SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY price DESC) AS rn FROM bid) WHERE rn <= 3';
    const expected = sqliteOnBids(BIDS, "SELECT auction, bidder, price, channel, url, t AS dateTime, extra, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY price DESC, rowid) AS rn FROM bid) WHERE rn <= 3;");
    const dynamo = await runBatches(job(BID, DYNAMO, query), BIDS);
    expect(byJson(liveRows(dynamo.table()))).toEqual(byJson(expected));
    expect(dynamo.table().map((r) => r.key)).toContain('["Google",3]');
    const kinesis = await runBatches(job(BID, KINESIS, query), BIDS);
    expect(byJson(foldChangelog(kinesis.results()))).toEqual(byJson(expected));
  });

  test('a continuous Top-3 without its rank, to Kinesis: rows come (+I) and go (-D)', async () => {
    const query = 'SELECT auction, price FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY price ASC) AS rn FROM bid) WHERE rn <= 3';
    const kinesis = await runBatches(job(BID, KINESIS, query), BIDS);
    expect(new Set(kinesis.results().map((r) => r.op))).toEqual(new Set(['+I', '-D']));
    const expected = sqliteOnBids(BIDS, 'SELECT auction, price FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY price ASC, rowid) AS rn FROM bid) WHERE rn <= 3;');
    expect(byJson(foldChangelog(kinesis.results()))).toEqual(byJson(expected));
  });

  test('deduplication: ORDER BY the event time ASC keeps each bidder’s first bid, DESC the last', async () => {
    const dedup = (direction: string): string =>
      `SELECT bidder, auction, price, \`dateTime\` FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY \`dateTime\` ${direction}) AS rn FROM bid) WHERE rn = 1`;
    for (const [direction, rowid] of [['ASC', 'rowid ASC'], ['DESC', 'rowid DESC']] as const) {
      const expected = sqliteOnBids(BIDS, `SELECT bidder, auction, price, t AS dateTime FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY t ${direction}, ${rowid}) AS rn FROM bid) WHERE rn = 1;`);
      const dynamo = await runBatches(job(BID, DYNAMO, dedup(direction)), BIDS);
      expect(byJson(liveRows(dynamo.table()))).toEqual(byJson(expected));
      expect(dynamo.table().every((r) => r.key === String(r.bidder))).toBe(true);
    }
  });

  test('a Top-3 per window of a window aggregation (Nexmark q5’s hot items): inserts only, once per window', async () => {
    const query = `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY num DESC, auction) AS rn FROM
      (SELECT auction, COUNT(*) AS num, window_start, window_end FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(\`dateTime\`), INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end))
      WHERE rn <= 3`;
    const expected = sqliteOnBids(
      BIDS,
      `SELECT auction, num, window_start, window_end, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start ORDER BY num DESC, auction) AS rn FROM
         (SELECT auction, COUNT(*) AS num, t / 10000 * 10000 AS window_start, t / 10000 * 10000 + 10000 AS window_end FROM bid GROUP BY auction, t / 10000)) WHERE rn <= 3;`,
    );
    const dynamo = await runBatches(job(BID, DYNAMO, query), BIDS);
    expect(dynamo.results().every((r) => r.op === undefined && typeof r.windowStart === 'number')).toBe(true);
    expect(dynamo.results()).toHaveLength(expected.length);
    expect(byJson(dynamo.table().map((r) => columnsOf(r)))).toEqual(byJson(expected));
  });

  test('SELECT DISTINCT is a GROUP BY of its columns: each distinct row once, as an insert', async () => {
    const kinesis = await runBatches(job(BID, KINESIS, 'SELECT DISTINCT channel, bidder % 7 AS b FROM bid'), BIDS);
    expect(kinesis.results().every((r) => r.op === '+I')).toBe(true);
    expect(byJson(kinesis.results().map((r) => columnsOf(r)))).toEqual(byJson(sqliteOnBids(BIDS, 'SELECT DISTINCT channel, bidder % 7 AS b FROM bid;')));
  });

  test.each(['RANK', 'DENSE_RANK'])('a continuous %s() Top-3 per channel: tied rows share a rank, and a row whose rank changes updates (-U, +U)', async (fn) => {
    // Prices in units of $100 (prices are in cents): many ties.
    const query = `SELECT auction, bidder, price, rk FROM (SELECT *, ${fn}() OVER (PARTITION BY channel ORDER BY price / 10000 DESC) AS rk FROM bid) WHERE rk <= 3`;
    const expected = sqliteOnBids(BIDS, `SELECT auction, bidder, price, rk FROM (SELECT *, ${fn}() OVER (PARTITION BY channel ORDER BY price / 10000 DESC) AS rk FROM bid) WHERE rk <= 3;`);
    const kinesis = await runBatches(job(BID, KINESIS, query), BIDS);
    expect(byJson(foldChangelog(kinesis.results()))).toEqual(byJson(expected));
    // Ties: some rank holds several rows; RANK leaves gaps after them, DENSE_RANK none.
    const ranksOf = (rows: Record<string, unknown>[]): number[] => rows.map((r) => Number(r.rk));
    expect(expected.length).toBeGreaterThan(new Set(expected.map((r) => `${r.rk}`)).size);
    expect(new Set(kinesis.results().map((r) => r.op))).toEqual(new Set(['+I', '-U', '+U', '-D']));
    if (fn === 'DENSE_RANK') expect(new Set(ranksOf(expected))).toEqual(new Set([1, 2, 3]));
    expect(() => job(BID, DYNAMO, query)).toThrow(new RegExp(`a ${fn}\\(\\) Top-N writes to DynamoDB by a unique key it does not have`));
  });

  test('a DENSE_RANK() Top-2 per window: each window\'s rows of the two highest counts, ties and all, once', async () => {
    const query = `SELECT * FROM (SELECT *, DENSE_RANK() OVER (PARTITION BY window_start, window_end ORDER BY num DESC) AS rk FROM
      (SELECT auction, COUNT(*) AS num, window_start, window_end FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(\`dateTime\`), INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end))
      WHERE rk <= 2`;
    const expected = sqliteOnBids(
      BIDS,
      `SELECT auction, num, window_start, window_end, rk FROM (SELECT *, DENSE_RANK() OVER (PARTITION BY window_start ORDER BY num DESC) AS rk FROM
         (SELECT auction, COUNT(*) AS num, t / 10000 * 10000 AS window_start, t / 10000 * 10000 + 10000 AS window_end FROM bid GROUP BY auction, t / 10000)) WHERE rk <= 2;`,
    );
    const kinesis = await runBatches(job(BID, KINESIS, query), BIDS);
    expect(changelogOf(job(BID, KINESIS, query))?.mode).toBe('append-only');
    expect(expected.length).toBeGreaterThan(2 * new Set(expected.map((r) => r.window_start)).size);
    expect(byJson(kinesis.results().map((r) => columnsOf(r)))).toEqual(byJson(expected));
  });

  test('a Top-2 of a continuous GROUP BY (an updating input): the most active bidders per channel', async () => {
    const query = `SELECT channel, bidder, bids, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY bids DESC, bidder) AS rn FROM
      (SELECT channel, bidder, COUNT(*) AS bids FROM bid GROUP BY channel, bidder)) WHERE rn <= 2`;
    const expected = sqliteOnBids(
      BIDS,
      `SELECT channel, bidder, bids, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY bids DESC, bidder) AS rn FROM
         (SELECT channel, bidder, COUNT(*) AS bids FROM bid GROUP BY channel, bidder)) WHERE rn <= 2;`,
    );
    const dynamo = await runBatches(job(BID, DYNAMO, query), BIDS);
    expect(byJson(liveRows(dynamo.table()))).toEqual(byJson(expected));
    const kinesis = await runBatches(job(BID, KINESIS, query), BIDS);
    expect(byJson(foldChangelog(kinesis.results()))).toEqual(byJson(expected));
  });
});
