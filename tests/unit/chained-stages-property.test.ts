/**
 * A job with two keyed stages on the public harness: clicks per user per second, then per second the users
 * who clicked and their clicks. For random click streams (disorder within the bound, random batches over
 * three source shards, interleaved at random) with Lambda's retries, bisects, crashes and lost caches as the
 * harness simulates them, the second stage's results are exactly what sqlite3 computes over all the clicks
 * at once, and what a direct computation gives.
 *
 * Seeded (set FC_SEED to explore other cases).
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { harness, type Harness } from 'shardflow/testing';
import { usersPerSecond, type Click, type PerSecond } from '../fixtures/users-per-second';

const SEED = Number(process.env.FC_SEED ?? 151515);
const OUT_OF_ORDERNESS_MS = 800;
const SHARDS = 3;
const USERS = ['a', 'b', 'c', 'd'];

const twoStages = usersPerSecond('two-stages', { stream: 'clicks', outOfOrderness: OUT_OF_ORDERNESS_MS, shards: SHARDS });

/** A source batch as Kinesis delivers it, and what happens to it. */
interface Delivery {
  readonly shard: number;
  readonly events: Click[];
  readonly fault: 'none' | 'retry' | 'halves' | 'crash' | 'crash-after-delivery' | 'lose-caches';
}

/** Events on a clock moving forward, each at most the bound behind any event before it; batches per shard, interleaved. */
const scenario = fc
  .record({
    startMs: fc.integer({ min: -3000, max: 3000 }),
    draws: fc.array(
      fc.record({
        user: fc.constantFrom(...USERS),
        clicks: fc.integer({ min: 1, max: 9 }),
        advanceMs: fc.integer({ min: 0, max: 400 }),
        delayMs: fc.integer({ min: 0, max: OUT_OF_ORDERNESS_MS }),
        shard: fc.integer({ min: 0, max: SHARDS - 1 }),
        endsBatch: fc.boolean(),
        fault: fc.constantFrom<Delivery['fault']>('none', 'none', 'none', 'retry', 'halves', 'crash', 'crash-after-delivery', 'lose-caches'),
      }),
      { minLength: 1, maxLength: 60 },
    ),
  })
  .map(({ startMs, draws }) => {
    let clock = startMs;
    const events: Click[] = [];
    const open: Click[][] = Array.from({ length: SHARDS }, () => []);
    const deliveries: Delivery[] = [];
    for (const d of draws) {
      clock += d.advanceMs;
      const e = { userId: d.user, clicks: d.clicks, ts: clock - d.delayMs };
      events.push(e);
      open[d.shard]!.push(e);
      if (d.endsBatch) deliveries.push({ shard: d.shard, events: open[d.shard]!.splice(0), fault: d.fault });
    }
    open.forEach((rest, shard) => rest.length > 0 && deliveries.push({ shard, events: rest, fault: 'none' }));
    return { events, deliveries };
  });

/** Sends each batch as Kinesis would, then what its fault makes Lambda do: a crash is followed by the retry. */
async function run(h: Harness, deliveries: readonly Delivery[]): Promise<void> {
  const sequence = Array.from({ length: SHARDS }, () => 1n);
  for (const { shard, events, fault } of deliveries) {
    const records = events.map((e, j) => ({ shardId: `shard-${shard}`, sequenceNumber: String(sequence[shard]! + BigInt(j)), data: JSON.stringify(e) }));
    sequence[shard]! += BigInt(events.length);
    if (fault === 'crash' || fault === 'crash-after-delivery') await h.replay(records, { crash: fault === 'crash' ? 'after-state' : 'after-delivery' });
    if (fault === 'halves' && records.length > 1) {
      // Bisected after a failure that left nothing: the halves, then the whole batch again.
      const half = Math.ceil(records.length / 2);
      await h.replay(records.slice(0, half));
      await h.replay(records.slice(half));
    }
    await h.replay(records);
    if (fault === 'retry') await h.replay(records);
    if (fault === 'lose-caches') h.loseCaches();
  }
  await h.finish();
}

/** The answer computed directly: per user and second the clicks, then per second the users and their clicks. */
function direct(events: readonly Click[]): PerSecond[] {
  const perUser = new Map<string, { second: number; clicks: number }>();
  for (const e of events) {
    const second = Math.floor(e.ts / 1000) * 1000;
    const id = `${e.userId}/${second}`;
    perUser.set(id, { second, clicks: (perUser.get(id)?.clicks ?? 0) + e.clicks });
  }
  const perSecond = new Map<number, PerSecond>();
  for (const { second, clicks } of perUser.values()) {
    const r = perSecond.get(second) ?? { key: String(second), windowStart: second, windowEnd: second + 1000, users: 0, clicks: 0 };
    r.users += 1;
    r.clicks += clicks;
    perSecond.set(second, r);
  }
  return sorted([...perSecond.values()]);
}

/** The same answer from sqlite3: two GROUP BYs, the second over the first. */
function bySqlite(events: readonly Click[]): PerSecond[] {
  const rows = events.map((e) => `('${e.userId}', ${e.clicks}, ${e.ts})`).join(',\n');
  const sql = `
CREATE TABLE clicks (user TEXT, clicks INTEGER, ts INTEGER);
INSERT INTO clicks VALUES ${rows};
.mode json
WITH per_user AS (SELECT user, ts - (((ts % 1000) + 1000) % 1000) AS second, SUM(clicks) AS clicks FROM clicks GROUP BY user, second)
SELECT CAST(second AS TEXT) AS key, second AS windowStart, second + 1000 AS windowEnd, COUNT(*) AS users, SUM(clicks) AS clicks
FROM per_user GROUP BY second ORDER BY second;`;
  const out = execFileSync('sqlite3', [':memory:'], { input: sql, encoding: 'utf8' });
  return sorted(JSON.parse(out.trim() || '[]') as PerSecond[]);
}

const sorted = (rs: readonly PerSecond[]): PerSecond[] => [...rs].sort((a, b) => a.windowStart - b.windowStart);

test('two keyed stages under retries, bisects, crashes and lost caches give what sqlite3 computes over all the clicks', async () => {
  let windows = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async ({ events, deliveries }) => {
      const h = harness(twoStages, { watermarks: 'strategy' });
      await run(h, deliveries);
      const expected = bySqlite(events);
      expect(direct(events)).toEqual(expected);
      expect(sorted(h.table() as PerSecond[])).toEqual(expected);
      expect([h.late(), h.deadLetters()]).toEqual([[], []]);
      windows += expected.length;
    }),
    { seed: SEED, numRuns: 100 },
  );
  expect(windows).toBeGreaterThan(200);
});
