import { hashKeyOf } from '../../io/shard-map';
import type { Position, ShardState } from '../../state/shard-state';
import { NO_WATERMARK } from '../../time/watermark';
import { comparePositions, type KeyedElement } from '../records';

/** A part of the 128-bit hash-key space (Kinesis routes a partition key by the MD5 of it). */
export interface HashRange {
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
}

/** A parent shard of a reshard: its final state and its hash range. */
export interface ParentShard {
  readonly state: ShardState;
  readonly range: HashRange;
}

/**
 * A keyed shard that a reshard of its input stream made (SplitShard, MergeShards, UpdateShardCount) takes
 * over its parents' state for its hash range — Flink's key groups, with a shard's hash range for the
 * group: every key whose hash falls in its range, with its windows, timers and process state; the
 * highest of their watermarks and processing times. Its input stream's event source mapping reads
 * parents to their end before children, so the parents' logs are complete.
 *
 * After a shuffle (`upstream`: true) it also takes what they knew of their upstream shards — each one's
 * watermark and arrival (the highest), idle only if idle in every parent (owing what its later status said) —
 * and what they applied of each: a parent's mark holds for the keys of its own range, so the child keeps it
 * as an *inherited mark* over that range (`appliedBefore`). One mark for all the child's keys would be wrong for a merge: an upstream
 * batch that reached one parent and not the other (a crash between its puts) is sent again, whole, to the
 * child — the first parent's part must be skipped and the second's applied.
 */
export function inheritFromParents(child: ShardState, range: HashRange, parents: readonly ParentShard[], upstream: boolean): void {
  let watermarkMs = NO_WATERMARK;
  for (const parent of parents) {
    for (const key of parent.state.keys()) {
      if (inRange(range, hashKeyOf(key))) child.put(key, structuredClone(parent.state.get(key)));
    }
    watermarkMs = Math.max(watermarkMs, parent.state.watermarkMs);
    child.setProcessingTime(parent.state.processingTimeMs);
    if (!upstream) continue;
    for (const [name, input] of parent.state.allInputs()) {
      const before = child.input(name);
      // How far the sender had read: the later of the parents' (the watermark function looks after it).
      const statusAt = laterPosition(input.statusAt, before?.statusAt);
      const idle = input.idle && (before?.idle ?? true);
      // What an idle sender still owes: as its later status said (see Marker's `owes`).
      const owes = idle ? (before && statusAt === before.statusAt && statusAt !== input.statusAt ? before : input).owes : undefined;
      child.setInput(name, {
        watermarkMs: Math.max(input.watermarkMs, before?.watermarkMs ?? NO_WATERMARK),
        heardAtMs: Math.max(input.heardAtMs, before?.heardAtMs ?? input.heardAtMs),
        idle,
        ...(statusAt !== undefined && { statusAt }),
        ...(owes !== undefined && { owes }),
      });
    }
    for (const [name, position] of parent.state.allMarks()) {
      const inherited = parseInheritedMark(name);
      // The parent's own marks hold over its range; marks it inherited itself, over theirs. Either way only
      // where that range meets the child's.
      const over = inherited ? intersect(inherited.range, range) : intersect(parent.range, range);
      if (over) child.setMark(inheritedMarkName(inherited?.upstream ?? name, over), position);
    }
  }
  child.setWatermark(watermarkMs);
}

/** The inherited marks of a shard, by upstream shard (empty for a shard no reshard made). */
export type InheritedMarks = ReadonlyMap<string, readonly { readonly range: HashRange; readonly position: Position }[]>;

export function inheritedMarksOf(state: ShardState): InheritedMarks {
  const marks = new Map<string, { range: HashRange; position: Position }[]>();
  for (const [name, position] of state.allMarks()) {
    const inherited = parseInheritedMark(name);
    if (!inherited) continue;
    let list = marks.get(inherited.upstream);
    if (!list) marks.set(inherited.upstream, (list = []));
    list.push({ range: inherited.range, position });
  }
  return marks;
}

/** Whether a parent applied this element already: its position is at or below the inherited mark of a range holding its key. */
export function appliedBefore(marks: readonly { readonly range: HashRange; readonly position: Position }[], e: KeyedElement): boolean {
  // Past every inherited mark (all the child's own input, soon after the reshard): no hash to compute.
  if (marks.every((m) => comparePositions(e.origin, m.position) > 0)) return false;
  const h = hashKeyOf(e.key);
  return marks.some((m) => inRange(m.range, h) && comparePositions(e.origin, m.position) <= 0);
}

/** The later of two positions in one upstream shard. */
export const laterPosition = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : comparePositions({ sequenceNumber: a, subIndex: 0 }, { sequenceNumber: b, subIndex: 0 }) >= 0 ? a : b;

const inRange = (r: HashRange, h: bigint): boolean => r.startingHashKey <= h && h <= r.endingHashKey;

function intersect(a: HashRange, b: HashRange): HashRange | undefined {
  const startingHashKey = a.startingHashKey > b.startingHashKey ? a.startingHashKey : b.startingHashKey;
  const endingHashKey = a.endingHashKey < b.endingHashKey ? a.endingHashKey : b.endingHashKey;
  return startingHashKey <= endingHashKey ? { startingHashKey, endingHashKey } : undefined;
}

/**
 * An inherited mark is kept beside the shard's own marks, in the same log fields, under a name no upstream
 * shard has: `<upstream>|<first hash key>|<last hash key>`.
 */
const SEPARATOR = '|';
const inheritedMarkName = (upstream: string, r: HashRange): string => `${upstream}${SEPARATOR}${r.startingHashKey}${SEPARATOR}${r.endingHashKey}`;

function parseInheritedMark(name: string): { upstream: string; range: HashRange } | undefined {
  const last = name.lastIndexOf(SEPARATOR);
  const middle = last > 0 ? name.lastIndexOf(SEPARATOR, last - 1) : -1;
  if (middle <= 0) return undefined;
  const start = name.slice(middle + 1, last);
  const end = name.slice(last + 1);
  if (!/^\d+$/.test(start) || !/^\d+$/.test(end)) return undefined;
  return { upstream: name.slice(0, middle), range: { startingHashKey: BigInt(start), endingHashKey: BigInt(end) } };
}
