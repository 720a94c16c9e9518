/**
 * A SQL job gives exactly what the DataStream job it stands for gives on the same events (tumbling,
 * hopping, session), and exactly what sqlite3 computes with a plain GROUP BY (tumbling, hopping).
 * Events arrive on two shards, in batches, out of order within the watermark's delay; the harness
 * moves watermarks by the source's strategy, as the stage functions do.
 * Expressions (a CASE group key, FILTER, an exact DECIMAL SUM) are checked against sqlite3 too.
 */
import { execFileSync } from 'node:child_process';
import { compileSql, dynamoSink, job, kinesisSource, session, sliding, tumbling, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';

type Click = { userId: string; page: string; clicks: number; ts: number };

const T0 = 1_700_000_000_000;

/** Seeded clicks: bursts of activity with pauses (so sessions close), disorder under the 2 s watermark delay. */
function clicks(n: number, seed: number): Click[] {
  let s = seed;
  const random = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  let t = T0 + 123;
  return Array.from({ length: n }, () => {
    t += random() < 0.04 ? 2500 + Math.floor(random() * 3000) : Math.floor(random() * 120);
    return {
      userId: `u${Math.floor(random() * 5)}`,
      page: `p${Math.floor(random() * 4)}`,
      clicks: 1 + Math.floor(random() * 5),
      ts: t - Math.floor(random() * 1500),
    };
  });
}

const SOURCE = `CREATE TABLE clicks (userId STRING, page STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'kinesis', 'stream' = 'clicks', 'shards' = '2');
CREATE TABLE out WITH ('connector' = 'dynamodb', 'table-name' = 'sql-out');`;
const AGGREGATES = 'userId, SUM(clicks) AS clicks, COUNT(*) AS n, MAX(clicks) AS top, AVG(clicks) AS mean, COUNT(DISTINCT page) AS pages';

/** The DataStream job the SQL stands for: the same filter, key and window, the aggregates computed by hand. */
function dataStreamJob(window: ReturnType<typeof tumbling>): JobDefinition {
  return job('by-hand')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', shards: 2 }))
    .filter((c) => c.page !== 'p3')
    .keyBy((c) => c.userId)
    .window(window)
    .process(({ key, elements }) => {
      const clicks = elements.reduce((sum, c) => sum + c.clicks, 0);
      return {
        userId: key,
        clicks,
        n: elements.length,
        top: Math.max(...elements.map((c) => c.clicks)),
        mean: clicks / elements.length,
        pages: new Set(elements.map((c) => c.page)).size,
      };
    })
    .sink(dynamoSink('sql-out'));
}

/** Runs a job on the events: batches of 25 per shard (a user's clicks on one shard), watermarks by strategy, then the end of input. */
async function resultsOf(definition: JobDefinition, events: readonly Click[]): Promise<Record<string, unknown>[]> {
  const h = harness(definition, { watermarks: 'strategy' });
  const shardOf = (c: Click): string => `shard-${Number(c.userId.slice(1)) % 2}`;
  for (let i = 0; i < events.length; i += 50) {
    const batch = events.slice(i, i + 50);
    for (const shard of ['shard-0', 'shard-1']) await h.sendBatch(batch.filter((c) => shardOf(c) === shard), { shard });
  }
  await h.finish();
  expect(h.late()).toEqual([]);
  expect(h.deadLetters()).toEqual([]);
  return sorted(h.table());
}

const sorted = (rows: Record<string, unknown>[]): Record<string, unknown>[] =>
  [...rows].sort((a, b) => String(a.key).localeCompare(String(b.key)) || Number(a.windowStart) - Number(b.windowStart));

/** sqlite3 on the same events: `.mode json` output parsed. */
function sqlite(events: readonly Click[], query: string): Record<string, unknown>[] {
  const rows = events.map((c) => `('${c.userId}', '${c.page}', ${c.clicks}, ${c.ts})`);
  const script = [
    '.mode json',
    'CREATE TABLE clicks (userId TEXT, page TEXT, clicks INTEGER, ts INTEGER);',
    `INSERT INTO clicks VALUES ${rows.join(',\n')};`,
    query,
  ].join('\n');
  const out = execFileSync('sqlite3', [':memory:'], { input: script, encoding: 'utf8' }).trim();
  return sorted(out ? (JSON.parse(out) as Record<string, unknown>[]) : []);
}

const EVENTS = clicks(800, 42);
/** The same aggregates in sqlite, over a relation with a window start `ws`. */
const SQLITE_AGGREGATES = 'userId AS key, userId, SUM(clicks) AS clicks, COUNT(*) AS n, MAX(clicks) AS top, AVG(clicks) AS mean, COUNT(DISTINCT page) AS pages';

describe('tumbling windows', () => {
  test('GROUP BY TUMBLE equals the DataStream job and sqlite3', async () => {
    const sqlJob = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM clicks WHERE page <> 'p3' GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)`);
    const results = await resultsOf(sqlJob, EVENTS);
    expect(results.length).toBeGreaterThan(40);
    expect(results).toEqual(await resultsOf(dataStreamJob(tumbling('5s')), EVENTS));
    expect(results).toEqual(
      sqlite(
        EVENTS,
        `SELECT ${SQLITE_AGGREGATES}, ws AS windowStart, ws + 5000 AS windowEnd
         FROM (SELECT *, (ts / 5000) * 5000 AS ws FROM clicks) WHERE page <> 'p3' GROUP BY userId, ws;`,
      ),
    );
  });

  test('the window table-valued function gives the same results', async () => {
    const group = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM clicks WHERE page <> 'p3' GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND)`);
    const tvf = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND))
      WHERE page <> 'p3' GROUP BY window_start, window_end, userId`);
    expect(await resultsOf(tvf, EVENTS)).toEqual(await resultsOf(group, EVENTS));
  });
});

describe('hopping windows', () => {
  test('GROUP BY HOP(ts, slide, size) equals the DataStream sliding(size, slide) job and sqlite3', async () => {
    const sqlJob = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM clicks WHERE page <> 'p3'
      GROUP BY userId, HOP(ts, INTERVAL '2' SECOND, INTERVAL '6' SECOND)`);
    const results = await resultsOf(sqlJob, EVENTS);
    expect(results.length).toBeGreaterThan(100);
    expect(results).toEqual(await resultsOf(dataStreamJob(sliding('6s', '2s')), EVENTS));
    // Each event belongs to size / slide = 3 windows: expand it with a numbers table, then GROUP BY.
    expect(results).toEqual(
      sqlite(
        EVENTS,
        `WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < 3)
         SELECT ${SQLITE_AGGREGATES}, ws AS windowStart, ws + 6000 AS windowEnd
         FROM (SELECT clicks.*, (ts / 2000) * 2000 - i * 2000 AS ws FROM clicks, k) WHERE page <> 'p3' GROUP BY userId, ws;`,
      ),
    );
  });

  test('the HOP table-valued function gives the same results', async () => {
    const group = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM clicks WHERE page <> 'p3' GROUP BY userId, HOP(ts, INTERVAL '2' SECOND, INTERVAL '6' SECOND)`);
    const tvf = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND))
      WHERE page <> 'p3' GROUP BY window_start, window_end, userId`);
    expect(await resultsOf(tvf, EVENTS)).toEqual(await resultsOf(group, EVENTS));
  });
});

describe('session windows', () => {
  test('GROUP BY SESSION equals the DataStream session job, and so does the SESSION table function', async () => {
    const sqlJob = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM clicks WHERE page <> 'p3' GROUP BY userId, SESSION(ts, INTERVAL '1' SECOND)`);
    const results = await resultsOf(sqlJob, EVENTS);
    expect(results.length).toBeGreaterThan(50);
    expect(results.some((r) => Number(r.windowEnd) - Number(r.windowStart) > 3000)).toBe(true); // sessions did merge
    expect(results).toEqual(await resultsOf(dataStreamJob(session('1s')), EVENTS));
    const tvf = compileSql(`${SOURCE}
      INSERT INTO out SELECT ${AGGREGATES} FROM TABLE(SESSION(TABLE clicks PARTITION BY userId, DESCRIPTOR(ts), INTERVAL '1' SECOND))
      WHERE page <> 'p3' GROUP BY window_start, window_end, userId`);
    expect(await resultsOf(tvf, EVENTS)).toEqual(results);
  });
});

describe('expressions, FILTER and DECIMAL in a windowed query', () => {
  test('GROUP BY a CASE, COUNT(*) FILTER and an exact DECIMAL SUM equal sqlite3 computing in integers', async () => {
    const sqlJob = compileSql(`${SOURCE}
      INSERT INTO out SELECT CASE WHEN clicks > 2 THEN 'big' ELSE 'small' END AS size, COUNT(*) AS n,
        COUNT(*) FILTER (WHERE page = 'p0') AS home, SUM(clicks * 0.1) AS tenths, MAX(UPPER(page)) AS top_page
      FROM clicks GROUP BY CASE WHEN clicks > 2 THEN 'big' ELSE 'small' END, TUMBLE(ts, INTERVAL '5' SECOND)`);
    const results = await resultsOf(sqlJob, EVENTS);
    expect(results.length).toBeGreaterThan(20);
    const expected = sqlite(
      EVENTS,
      `SELECT size AS key, ws AS windowStart, ws + 5000 AS windowEnd, size, COUNT(*) AS n, SUM(page = 'p0') AS home,
              printf('%d.%d', SUM(clicks) / 10, SUM(clicks) % 10) AS tenths, MAX(upper(page)) AS top_page
       FROM (SELECT *, (ts / 5000) * 5000 AS ws, CASE WHEN clicks > 2 THEN 'big' ELSE 'small' END AS size FROM clicks)
       GROUP BY size, ws;`,
    ).map((r) => ({ ...r, tenths: Number(r.tenths) }));
    expect(results).toEqual(expected);
  });
});
