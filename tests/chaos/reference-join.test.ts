/**
 * The join kind's sqlite3 reference on records written by hand: which pairs the interval join makes (both
 * bounds inclusive, a producer duplicate pairing twice, late and refused records in none), what the coGroup
 * counts per user and window, and that the comparison catches a pair lost or repeated.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { namesOf } from './jobs/settings';
import { compare, computeReference, recordId, type Found, type Reference } from './reference';
import type { StreamRecord } from './stream';

const [CLICKS, IMPRESSIONS] = namesOf('join').sources as [string, string];
const T = 1_700_000_000_000;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-reference-join-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let seq = 0;
const on = (stream: string, event: object | string): StreamRecord => ({
  shardId: `${stream}:shardId-000000000000`,
  sequenceNumber: String(++seq),
  data: typeof event === 'string' ? event : JSON.stringify(event),
});
const click = (id: string, userId: string, ts: number, clicks = 1): StreamRecord => on(CLICKS, { userId, clicks, ts, id });
const impression = (id: string, userId: string, ts: number): StreamRecord => on(IMPRESSIONS, { userId, clicks: 1, ts, id });

/** The records, and the fired watermark before each was put (the late probes': past them). */
function scenario(): { records: StreamRecord[]; before: Map<string, number> } {
  const onTime = [
    click('c1', 'u0', T + 5000, 3),
    // the interval's ends: 2 s before the click and 1 s after it are in, 1 ms further is out
    impression('i1', 'u0', T + 3000),
    impression('i2', 'u0', T + 6000),
    impression('i3', 'u0', T + 2999),
    impression('i4', 'u0', T + 6001),
    // another user's impression at the same time joins nothing of u0's
    impression('i5', 'u1', T + 5000),
    // a producer duplicate: the same event, a second record, a second pair
    click('c2', 'u1', T + 5500, 2),
    click('c2', 'u1', T + 5500, 2),
    // refused before the key (clicks not a number), and unreadable: dead on either stream
    on(CLICKS, { userId: 'u0', clicks: 'two', ts: T + 5000, id: 'c3' }),
    on(IMPRESSIONS, '{"userId":'),
    // the end of the run: far ahead, filtered out
    on(CLICKS, { userId: '__flush__', clicks: 0, ts: T + 3_600_000, flush: true }),
    on(IMPRESSIONS, { userId: '__flush__', clicks: 0, ts: T + 3_600_000, flush: true }),
  ];
  // Late probes: a click and an impression that would pair, put once the watermark had passed them.
  const probes = [click('cprobe0', 'u2', T - 600_000), impression('iprobe0', 'u2', T - 599_500)];
  const before = new Map(probes.map((r) => [recordId(r.shardId, r.sequenceNumber), T - 500_000]));
  return { records: [...onTime, ...probes], before };
}

let reference: Reference;
beforeAll(async () => {
  const { records, before } = scenario();
  reference = await computeReference('join', records, (id) => before.get(id) ?? Number.MIN_SAFE_INTEGER, dir);
});

test('pairs: both ends of the interval in, one millisecond past them out, a duplicate twice, no late or dead record', () => {
  const pairs = reference.pairs.map((p) => [p.clickId, p.impressionId, p.at]).sort();
  expect(pairs).toEqual([
    ['c1', 'i1', T + 5000],
    ['c1', 'i2', T + 6000],
    ['c2', 'i5', T + 5500],
    ['c2', 'i5', T + 5500],
  ]);
  expect(reference.pairs.find((p) => p.clickId === 'c1' && p.impressionId === 'i1')).toEqual({
    userId: 'u0',
    clickId: 'c1',
    impressionId: 'i1',
    clickTs: T + 5000,
    impressionTs: T + 3000,
    clicks: 3,
    at: T + 5000,
  });
});

test("fates: the probes late, the refused and unreadable records dead, the flush events filtered out", () => {
  const count = (fate: string): number => [...reference.fates.values()].filter((f) => f === fate).length;
  expect({ counted: count('counted'), late: count('late'), dead: count('dead'), flush: count('flush') }).toEqual({ counted: 8, late: 2, dead: 2, flush: 2 });
});

test("the coGroup: per user and 2-second window, the clicks' records and sum and the impressions", () => {
  const windows = reference.windows.map((w) => [w.key, w.windowStart - T, w.values]);
  expect(windows).toEqual([
    ['u0', 2000, { clickEvents: 0, clicks: 0, impressions: 2 }],
    ['u0', 4000, { clickEvents: 1, clicks: 3, impressions: 0 }],
    ['u0', 6000, { clickEvents: 0, clicks: 0, impressions: 2 }],
    ['u1', 4000, { clickEvents: 2, clicks: 4, impressions: 1 }],
  ]);
});

test('the comparison: the same pairs pass; a pair lost or a pair written twice is a mismatch', () => {
  const found = (pairs: Found['pairs']): Found => ({
    windows: reference.windows,
    pairs,
    deadLetters: new Map([...reference.fates].filter(([, f]) => f === 'dead').map(([id]) => [id, 'refused'])),
    late: new Set(),
  });
  expect(compare(reference, found(reference.pairs)).total).toBe(0);
  const lost = compare(reference, found(reference.pairs.slice(1)));
  expect({ missing: lost.missingPairs, extra: lost.extraPairs }).toEqual({ missing: 1, extra: 0 });
  const twice = compare(reference, found([...reference.pairs, reference.pairs[0]!]));
  expect({ missing: twice.missingPairs, extra: twice.extraPairs }).toEqual({ missing: 0, extra: 1 });
  // One of the duplicate's two pairs lost: found once, expected twice.
  const c2 = reference.pairs.findIndex((p) => p.clickId === 'c2');
  expect(compare(reference, found(reference.pairs.filter((_, i) => i !== c2))).missingPairs).toBe(1);
});
