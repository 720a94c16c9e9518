/**
 * What a chaos run's producer sends, from the run's seed: clicks with bounded disorder, producer
 * duplicates (the same event put twice: two Kinesis records), malformed records, late probes and the
 * final flush events. Plain data: the harness puts it, the reference reads back what Kinesis accepted.
 */
import type { Random } from './random';
import { OUT_OF_ORDERNESS_MS, type ChaosEvent } from './jobs/settings';

/** Event time of the first click: aligned to every window size of the chaos jobs. */
export const T0_MS = 1_700_000_000_000;
/** Late probes lie this far before T0 at least: behind every window and session of the run. */
export const PROBE_BEFORE_T0_MS = 10 * 60_000;
/** The flush events' distance ahead of the last click: their watermark closes every window. */
export const FLUSH_AHEAD_MS = 3_600_000;

/** `late-firing`: a record for a fired window within the allowed lateness; `past-lateness`: one for a dropped window. */
export type RecordKind = 'event' | 'duplicate' | 'malformed' | 'late-probe' | 'late-firing' | 'past-lateness' | 'keep-alive' | 'flush';

/** One record to put. */
export interface PlannedRecord {
  readonly kind: RecordKind;
  readonly data: string;
  readonly partitionKey: string;
  /** Event time, when the record has a usable one. */
  readonly ts?: number;
}

export interface WorkloadOptions {
  readonly events: number;
  readonly users: number;
  /** Event time covered by the clicks. */
  readonly spanMs: number;
  /** Share of clicks put out of order (within the out-of-orderness bound). */
  readonly disorder: number;
  /** Share of clicks the producer puts twice. */
  readonly duplicates: number;
  /** Share of malformed records among the clicks. */
  readonly malformed: number;
  readonly lateProbes: number;
  /** When set, each event carries an `id`: this prefix and its index (a producer duplicate keeps its event's). */
  readonly idPrefix?: string;
}

export interface Workload {
  /** In put order, late probes and flush events aside. */
  readonly records: readonly PlannedRecord[];
  readonly lateProbes: readonly PlannedRecord[];
  readonly maxTs: number;
  readonly counts: { readonly disordered: number; readonly duplicates: number; readonly malformed: number };
}

const MALFORMED = ['not-json', 'not-object', 'no-ts', 'no-user', 'bad-clicks'] as const;

export function workload(random: Random, o: WorkloadOptions): Workload {
  const stepMs = o.spanMs / o.events;
  const base: PlannedRecord[] = [];
  let shiftMs = 0;
  let malformed = 0;
  for (let i = 0; i < o.events; i++) {
    // Now and then everyone pauses: sessions end, windows go empty.
    if (random.chance(0.02)) shiftMs += random.int(2_000, 4_000);
    const onTimeMs = T0_MS + shiftMs + Math.floor(i * stepMs);
    const ts = random.chance(o.disorder) ? onTimeMs - random.int(1, Math.floor(OUT_OF_ORDERNESS_MS * 0.9)) : onTimeMs;
    const userId = `u${Math.floor(random.next() ** 1.5 * o.users)}`;
    base.push(click({ userId, clicks: random.int(1, 5), ts, ...(o.idPrefix !== undefined && { id: `${o.idPrefix}${i}` }) }));
    if (random.chance(o.malformed)) {
      base.push(malformedRecord(random.pick(MALFORMED), userId, onTimeMs));
      malformed += 1;
    }
  }
  // Producer duplicates: the same data again a few records later, never further than the bound allows.
  const prefixMax: number[] = [];
  base.forEach((r, i) => prefixMax.push(Math.max(prefixMax[i - 1] ?? Number.MIN_SAFE_INTEGER, r.ts ?? Number.MIN_SAFE_INTEGER)));
  const inserts: { at: number; record: PlannedRecord }[] = [];
  base.forEach((r, j) => {
    if (r.kind !== 'event' || !random.chance(o.duplicates)) return;
    let at = Math.min(base.length, j + random.int(1, 6));
    while (at > j + 1 && r.ts! < prefixMax[at - 1]! - OUT_OF_ORDERNESS_MS) at -= 1;
    inserts.push({ at, record: { ...r, kind: 'duplicate' } });
  });
  inserts.sort((a, b) => a.at - b.at);
  const records: PlannedRecord[] = [];
  let next = 0;
  base.forEach((r, i) => {
    for (; next < inserts.length && inserts[next]!.at === i; next++) records.push(inserts[next]!.record);
    records.push(r);
  });
  for (; next < inserts.length; next++) records.push(inserts[next]!.record);

  let runningMax = Number.MIN_SAFE_INTEGER;
  let disordered = 0;
  for (const r of records) {
    if (r.ts === undefined) continue;
    if (r.ts < runningMax - OUT_OF_ORDERNESS_MS) throw new Error(`workload: ${r.data} breaks the out-of-orderness bound`);
    if (r.ts < runningMax) disordered += 1;
    runningMax = Math.max(runningMax, r.ts);
  }
  const lateProbes = Array.from({ length: o.lateProbes }, (_, i) => {
    const event = { userId: `u${random.int(0, o.users - 1)}`, clicks: random.int(1, 5), ts: T0_MS - PROBE_BEFORE_T0_MS - random.int(0, 20 * 60_000) };
    return { ...click({ ...event, ...(o.idPrefix !== undefined && { id: `${o.idPrefix}probe${i}` }) }), kind: 'late-probe' } as const;
  });
  return { records, lateProbes, maxTs: runningMax, counts: { disordered, duplicates: inserts.length, malformed } };
}

/**
 * Late probes for a second stream that would join the first's: each probe's user, half a second later, under
 * ids of `idPrefix`. Were the join to take a late record, the pairs would show it.
 */
export function partnerProbes(probes: readonly PlannedRecord[], idPrefix: string): PlannedRecord[] {
  return probes.map((p, i) => {
    const { userId, clicks, ts } = JSON.parse(p.data) as ChaosEvent;
    return { ...click({ userId, clicks, ts: ts + 500, id: `${idPrefix}probe${i}` }), kind: 'late-probe' };
  });
}

/** The flush event for one shard: far ahead in event time, filtered out by the jobs. */
export function flushRecord(maxTs: number): PlannedRecord {
  const event: ChaosEvent = { userId: '__flush__', clicks: 0, ts: maxTs + FLUSH_AHEAD_MS, flush: true };
  return { kind: 'flush', data: JSON.stringify(event), partitionKey: 'flush', ts: event.ts };
}

/** A record that keeps its shard active while the producer pauses: filtered out by the jobs, at an event time already put. */
export function keepAliveRecord(ts: number): PlannedRecord {
  const event: ChaosEvent = { userId: '__flush__', clicks: 0, ts, flush: true };
  return { kind: 'keep-alive', data: JSON.stringify(event), partitionKey: 'keep-alive', ts };
}

function click(event: ChaosEvent): PlannedRecord {
  return { kind: 'event', data: JSON.stringify(event), partitionKey: event.userId, ts: event.ts };
}

/** Records the jobs must dead-letter (or, for `bad-clicks` under count(), count), each for its own reason. */
function malformedRecord(variant: (typeof MALFORMED)[number], userId: string, ts: number): PlannedRecord {
  const m = (data: string, withTs: boolean): PlannedRecord => ({ kind: 'malformed', data, partitionKey: userId, ...(withTs && { ts }) });
  switch (variant) {
    case 'not-json':
      return m(`{"userId":"${userId}","clicks":2,"ts":`, false);
    case 'not-object':
      return m(`[${ts},"${userId}"]`, false);
    case 'no-ts':
      return m(JSON.stringify({ userId, clicks: 2 }), false);
    case 'no-user':
      return m(JSON.stringify({ clicks: 2, ts }), true);
    case 'bad-clicks':
      return m(JSON.stringify({ userId, clicks: 'two', ts }), true);
  }
}

/** Where the keyed stage's windows stand when the producer pauses to put records for fired windows. */
export interface LatenessMoment {
  /** The keyed stage's fired watermark (the lowest of its shards'): windows ending at or before it have fired. */
  readonly firedMs: number;
  /** The highest watermark any record put so far can make: the highest event time put, minus the bound, minus 1 ms. */
  readonly ceilingMs: number;
}

/**
 * Records for a job with allowed lateness `latenessMs` on tumbling windows of `sizeMs`, put while the producer
 * pauses: `within` records for windows that have fired (windowEnd − 1 ≤ firedMs) but that no watermark before
 * the producer goes on can drop (windowEnd − 1 + lateness > ceilingMs), so each fires its window again; and
 * `beyond` records for windows already dropped (windowEnd − 1 + lateness ≤ firedMs), so each goes to the late
 * output. Their fates follow from what was put, not from timing. No window fits `within` until the fired
 * watermark is within `latenessMs − sizeMs` of the ceiling: the caller waits for that first.
 */
export function latenessRecords(random: Random, at: LatenessMoment, o: { readonly sizeMs: number; readonly latenessMs: number; readonly users: number; readonly within: number; readonly beyond: number }): PlannedRecord[] {
  const floor = (ts: number): number => ts - (((ts % o.sizeMs) + o.sizeMs) % o.sizeMs);
  // Window starts whose end − 1 lies in (ceiling − lateness, fired].
  const firstOpen = floor(at.ceilingMs - o.latenessMs - o.sizeMs + 1) + o.sizeMs;
  const lastFired = floor(at.firedMs - o.sizeMs + 1);
  if (firstOpen > lastFired) throw new Error(`lateness records: no fired window within the lateness (fired ${at.firedMs}, ceiling ${at.ceilingMs})`);
  const lastDropped = floor(at.firedMs - o.latenessMs - o.sizeMs + 1);
  const record = (kind: RecordKind, start: number): PlannedRecord => ({
    ...click({ userId: `u${random.int(0, o.users - 1)}`, clicks: random.int(1, 5), ts: start + random.int(0, o.sizeMs - 1) }),
    kind,
  });
  return [
    ...Array.from({ length: o.within }, () => record('late-firing', firstOpen + o.sizeMs * random.int(0, (lastFired - firstOpen) / o.sizeMs))),
    ...Array.from({ length: o.beyond }, () => record('past-lateness', lastDropped - o.sizeMs * random.int(0, 2))),
  ];
}
