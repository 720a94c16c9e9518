/**
 * Joins on the public harness, checked against sqlite3 (a join is what SQL does best): two sources, each
 * with disorder within its bound, delivered in random batches interleaved at random, with Lambda's
 * retries, crashes and lost caches as the harness simulates them. The interval join's and the window
 * joins' pairs are exactly the rows sqlite3 joins over all the records at once, none missing, none twice.
 *
 * Seeded (set FC_SEED to explore other cases).
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { job, kinesisSource, logSink, sliding, tumbling, type JobDefinition } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';

const SEED = Number(process.env.FC_SEED ?? 424242);
const OUT_OF_ORDERNESS_MS = 600;
const KEYS = ['a', 'b', 'c'];

interface Side {
  readonly id: string;
  readonly k: string;
  readonly ts: number;
}
interface Pair {
  readonly l: string;
  readonly r: string;
}

const sources = (name: string) => {
  const j = job(name);
  const left = j.source(kinesisSource<Side>('left', { eventTime: (e) => e.ts, outOfOrderness: OUT_OF_ORDERNESS_MS }));
  const right = j.source(kinesisSource<Side>('right', { eventTime: (e) => e.ts, outOfOrderness: OUT_OF_ORDERNESS_MS }));
  return { j, left, right };
};

function intervalJoin(lower: number, upper: number): JobDefinition {
  const { j, left, right } = sources('interval');
  left
    .keyBy((e) => e.k)
    .intervalJoin(right.keyBy((e) => e.k))
    .between(lower, upper)
    .process((l, r) => ({ l: l.id, r: r.id }))
    .sink(logSink('pairs'));
  return j;
}

function windowJoin(kind: 'tumbling' | 'sliding'): JobDefinition {
  const { j, left, right } = sources(`window-${kind}`);
  left
    .join(right)
    .where((e) => e.k)
    .equalTo((e) => e.k)
    .window(kind === 'tumbling' ? tumbling(1000) : sliding(2000, 1000))
    .apply((l, r, { timestamp }) => ({ l: l.id, r: r.id, windowEnd: timestamp + 1 }))
    .sink(logSink('pairs'));
  return j;
}

interface Delivery {
  readonly source: 'left' | 'right';
  readonly events: Side[];
  readonly fault: 'none' | 'retry' | 'crash' | 'crash-after-delivery' | 'lose-caches';
}

/** Per source, events on a clock moving forward, each at most the bound behind any before it; batches interleaved. */
const scenario = fc
  .array(
    fc.record({
      source: fc.constantFrom<'left' | 'right'>('left', 'right'),
      k: fc.constantFrom(...KEYS),
      // On a 100 ms grid, so that equal times (the [0, 0] join) are common.
      advanceMs: fc.integer({ min: 0, max: 3 }).map((n) => n * 100),
      delayMs: fc.integer({ min: 0, max: OUT_OF_ORDERNESS_MS / 100 }).map((n) => n * 100),
      endsBatch: fc.boolean(),
      fault: fc.constantFrom<Delivery['fault']>('none', 'none', 'none', 'retry', 'crash', 'crash-after-delivery', 'lose-caches'),
    }),
    { minLength: 2, maxLength: 50 },
  )
  .map((draws) => {
    const clock = { left: 0, right: 0 };
    const open: Record<'left' | 'right', Side[]> = { left: [], right: [] };
    const all: Record<'left' | 'right', Side[]> = { left: [], right: [] };
    const deliveries: Delivery[] = [];
    draws.forEach((d, i) => {
      clock[d.source] += d.advanceMs;
      const e = { id: `${d.source[0]}${i}`, k: d.k, ts: clock[d.source] - d.delayMs };
      open[d.source].push(e);
      all[d.source].push(e);
      if (d.endsBatch) deliveries.push({ source: d.source, events: open[d.source].splice(0), fault: d.fault });
    });
    for (const source of ['left', 'right'] as const) if (open[source].length > 0) deliveries.push({ source, events: open[source], fault: 'none' });
    return { left: all.left, right: all.right, deliveries };
  });

async function run(h: Harness, deliveries: readonly Delivery[]): Promise<void> {
  const sequence = { left: 1n, right: 1n };
  for (const { source, events, fault } of deliveries) {
    const records = events.map((e, j) => ({ shardId: 'shard-0', sequenceNumber: String(sequence[source] + BigInt(j)), data: JSON.stringify(e) }));
    sequence[source] += BigInt(events.length);
    if (fault === 'crash' || fault === 'crash-after-delivery') await h.replay(records, { source, crash: fault === 'crash' ? 'after-state' : 'after-delivery' });
    await h.replay(records, { source });
    if (fault === 'retry') await h.replay(records, { source });
    if (fault === 'lose-caches') h.loseCaches();
  }
  await h.finish();
}

function sqlite(left: readonly Side[], right: readonly Side[], select: string): Pair[] {
  const rows = (es: readonly Side[]): string => (es.length === 0 ? 'SELECT NULL, NULL, NULL WHERE 0' : `VALUES ${es.map((e) => `('${e.id}', '${e.k}', ${e.ts})`).join(', ')}`);
  const sql = `
CREATE TABLE l (id TEXT, k TEXT, ts INTEGER);
CREATE TABLE r (id TEXT, k TEXT, ts INTEGER);
INSERT INTO l ${rows(left)};
INSERT INTO r ${rows(right)};
.mode json
${select};`;
  const out = execFileSync('sqlite3', [':memory:'], { input: sql, encoding: 'utf8' });
  return sortedPairs(JSON.parse(out.trim() || '[]') as Pair[]);
}

const sortedPairs = <P extends Pair>(ps: readonly P[]): P[] => [...ps].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** Window start of `ts` for windows of `size` ms (tumbling), floor for negative times too. */
const windowStart = (ts: string, size: number): string => `(${ts} - (((${ts} % ${size}) + ${size}) % ${size}))`;

describe('joins give what sqlite3 joins over all the records at once', () => {
  test.each([
    ['[-500, 300]', -500, 300, 100],
    ['[0, 0]', 0, 0, 10],
    ['[200, 900] (the right side after the left)', 200, 900, 50],
  ])('interval join %s under retries, crashes and lost caches', async (_bounds, lower, upper, minPairs) => {
    let pairs = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ left, right, deliveries }) => {
        const h = harness(intervalJoin(lower, upper), { watermarks: 'strategy' });
        await run(h, deliveries);
        const expected = sqlite(left, right, `SELECT l.id AS l, r.id AS r FROM l JOIN r ON l.k = r.k AND r.ts BETWEEN l.ts + ${lower} AND l.ts + ${upper}`);
        expect(sortedPairs(h.table() as unknown as Pair[])).toEqual(expected);
        expect([h.late(), h.deadLetters()]).toEqual([[], []]);
        // Cleanup: once the watermark has passed everything, no key keeps anything.
        expect(await h.state()).toEqual({});
        pairs += expected.length;
      }),
      { seed: SEED, numRuns: 60 },
    );
    expect(pairs).toBeGreaterThan(minPairs);
  });

  test.each(['tumbling', 'sliding'] as const)('window join over %s windows under retries, crashes and lost caches', async (kind) => {
    let pairs = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ left, right, deliveries }) => {
        const h = harness(windowJoin(kind), { watermarks: 'strategy' });
        await run(h, deliveries);
        // Tumbling 1 s: one window per record. Sliding 2 s every 1 s: the two windows starting at the record's second and the one before.
        const windows = kind === 'tumbling' ? 'SELECT 0 AS n' : 'SELECT 0 AS n UNION ALL SELECT 1';
        const select = `
WITH lw AS (SELECT id, k, ${windowStart('ts', 1000)} - n * 1000 AS ws FROM l, (${windows})),
     rw AS (SELECT id, k, ${windowStart('ts', 1000)} - n * 1000 AS ws FROM r, (${windows}))
SELECT lw.id AS l, rw.id AS r, lw.ws + ${kind === 'tumbling' ? 1000 : 2000} AS windowEnd FROM lw JOIN rw ON lw.k = rw.k AND lw.ws = rw.ws`;
        const expected = sqlite(left, right, select);
        expect(sortedPairs(h.table() as unknown as Pair[])).toEqual(expected);
        expect([h.late(), h.deadLetters()]).toEqual([[], []]);
        expect(await h.state()).toEqual({});
        pairs += expected.length;
      }),
      { seed: SEED, numRuns: 60 },
    );
    expect(pairs).toBeGreaterThan(100);
  });
});
