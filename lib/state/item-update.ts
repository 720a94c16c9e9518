import type { KeyedLogic } from '../runtime/keyed-logic';
import { comparePositions, type Element } from '../runtime/records';
import type { ItemOutcome, ItemRef, Outbox, Position, StoredItem } from './backend';

const NOTHING: ItemOutcome = { outputs: [], late: [], failed: [] };
const EMPTY_OUTBOX: Outbox = { spans: {}, outputs: [] };

/** What a backend must write (if anything) and what the update produced. */
export interface PlannedWrite {
  /** The item to write under the condition that the stored version is still `expectedVersion`; undefined: no write. */
  readonly next: StoredItem | undefined;
  readonly expectedVersion: number | undefined;
  readonly outcome: ItemOutcome;
}

/**
 * The exactly-once step every backend shares: keep only elements above the item's marks, apply them,
 * move the marks, and replay the outbox when a retried batch brings elements already applied.
 * Elements of one origin shard arrive in position order (a shard's batches run one after another).
 */
export function planUpdate(stored: StoredItem | undefined, ref: ItemRef, elements: readonly Element[], logic: KeyedLogic, watermarkMs: number): PlannedWrite {
  const hwm: Record<string, Position> = stored ? { ...stored.hwm } : {};
  // Fast path: every element new (the usual batch) — no second array.
  let fresh: Element[] | readonly Element[] = elements;
  let stale: Element[] | undefined;
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i]!;
    const mark = hwm[e.origin.shardId];
    if (mark !== undefined && comparePositions(e.origin, mark) <= 0) {
      if (!stale) {
        stale = [];
        fresh = elements.slice(0, i);
      }
      stale.push(e);
      continue;
    }
    hwm[e.origin.shardId] = e.origin;
    if (stale) (fresh as Element[]).push(e);
  }
  const replayed = stale && stored ? replay(stored.outbox, stale) : [];
  if (stored?.closed) return { next: undefined, expectedVersion: undefined, outcome: { outputs: replayed, late: fresh, failed: [] } };
  if (fresh.length === 0) return { next: undefined, expectedVersion: undefined, outcome: { ...NOTHING, outputs: replayed } };

  const version = stored?.version ?? 0;
  const step = logic.onElements({ key: ref.key, slot: ref.slot, nextVersion: version + 1, watermarkMs }, stored?.data ?? null, fresh);
  const outputs = replayed.length === 0 ? step.outputs : [...replayed, ...step.outputs];
  // Marks are stored bare (an element's origin carries its shard too).
  for (const shard in hwm) if (hwm[shard] !== stored?.hwm[shard]) hwm[shard] = bare(hwm[shard]!);
  return {
    next: { data: step.data, hwm, version: version + 1, fireAtMs: step.fireAtMs, closed: step.closed, outbox: outputs.length > 0 ? outboxOf(elements, hwm, outputs) : EMPTY_OUTBOX },
    expectedVersion: stored?.version,
    outcome: { outputs, late: step.late, failed: step.failed },
  };
}

/**
 * The outbox's outputs when a repeated element falls in the span the last update covered: its
 * effects may have been lost in a crash. Re-emitting is harmless: output ids are deterministic.
 */
function replay(outbox: Outbox, stale: readonly Element[]): Outbox['outputs'] {
  if (outbox.outputs.length === 0) return [];
  for (const e of stale) {
    const span = outbox.spans[e.origin.shardId];
    if (!span) continue;
    if (comparePositions(span[0], e.origin) <= 0 && comparePositions(e.origin, span[1]) <= 0) return outbox.outputs;
  }
  return [];
}

/** Positions are kept as plain { sequenceNumber, subIndex } (an element's origin may carry more). */
const bare = (p: Position): Position => ({ sequenceNumber: p.sequenceNumber, subIndex: p.subIndex });

/** The outbox of an update: its outputs, and per origin shard the span from the batch's first element to the new mark. */
function outboxOf(elements: readonly Element[], marks: Record<string, Position>, outputs: Outbox['outputs']): Outbox {
  const spans: Record<string, [Position, Position]> = {};
  for (const e of elements) spans[e.origin.shardId] ??= [bare(e.origin), marks[e.origin.shardId]!];
  return { spans, outputs };
}

/** Fires a due item; the outbox stays (it belongs to element updates). */
export function planFire(stored: StoredItem | undefined, ref: ItemRef, logic: KeyedLogic, watermarkMs: number): PlannedWrite {
  if (!stored || stored.closed || stored.fireAtMs === null || stored.fireAtMs > watermarkMs) {
    return { next: undefined, expectedVersion: undefined, outcome: NOTHING };
  }
  const step = logic.onWatermark({ key: ref.key, slot: ref.slot, nextVersion: stored.version + 1, watermarkMs }, stored.data);
  return {
    next: { ...stored, data: step.data, version: stored.version + 1, fireAtMs: step.fireAtMs, closed: step.closed },
    expectedVersion: stored.version,
    outcome: { outputs: step.outputs, late: step.late, failed: step.failed },
  };
}
