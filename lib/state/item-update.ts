import type { FailedElement, KeyedLogic } from '../runtime/keyed-logic';
import { comparePositions, originKey, type Element } from '../runtime/records';
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
  const replayed = stale && stored ? replay(stored.outbox, stale) : NOTHING;
  if (stored?.closed) return { next: undefined, expectedVersion: undefined, outcome: { ...replayed, late: [...replayed.late, ...fresh] } };
  if (fresh.length === 0) return { next: undefined, expectedVersion: undefined, outcome: replayed };

  const version = stored?.version ?? 0;
  const step = logic.onElements({ key: ref.key, slot: ref.slot, nextVersion: version + 1, watermarkMs }, stored?.data ?? null, fresh);
  const outcome = replayed === NOTHING ? step : { outputs: [...replayed.outputs, ...step.outputs], late: [...replayed.late, ...step.late], failed: [...replayed.failed, ...step.failed] };
  // Marks are stored bare (an element's origin carries its shard too).
  for (const shard in hwm) if (hwm[shard] !== stored?.hwm[shard]) hwm[shard] = bare(hwm[shard]!);
  return {
    next: { data: step.data, hwm, version: version + 1, fireAtMs: step.fireAtMs, closed: step.closed, outbox: outboxOf(elements, hwm, outcome) },
    expectedVersion: stored?.version,
    outcome: { outputs: outcome.outputs, late: outcome.late, failed: outcome.failed },
  };
}

/**
 * What the last update reported, when a repeated element falls in the span it covered: its effects may
 * have been lost in a crash. The outputs again (harmless: output ids are deterministic), and the repeated
 * elements it refused, as late or failed with a reason (the batch's own element objects, which the
 * caller tells apart by identity).
 */
function replay(outbox: Outbox, stale: readonly Element[]): ItemOutcome {
  if (outbox.outputs.length === 0 && !outbox.late && !outbox.failed) return NOTHING;
  const inSpan = stale.some((e) => {
    const span = outbox.spans[e.origin.shardId];
    return span !== undefined && comparePositions(span[0], e.origin) <= 0 && comparePositions(e.origin, span[1]) <= 0;
  });
  if (!inSpan) return NOTHING;
  const late = new Set(outbox.late);
  const failed = new Map(outbox.failed?.map((f) => [f.origin, f]));
  const failedAgain: FailedElement[] = [];
  for (const e of stale) {
    const f = failed.get(originKey(e.origin));
    if (f) failedAgain.push({ element: e, operator: f.operator, reason: f.reason });
  }
  return { outputs: outbox.outputs, late: late.size > 0 ? stale.filter((e) => late.has(originKey(e.origin))) : [], failed: failedAgain };
}

/** Positions are kept as plain { sequenceNumber, subIndex } (an element's origin may carry more). */
const bare = (p: Position): Position => ({ sequenceNumber: p.sequenceNumber, subIndex: p.subIndex });

/**
 * The outbox of an update: its outputs and the elements it refused (by origin), and per origin shard the
 * span from the batch's first element to the new mark. Empty when the update reported nothing.
 */
function outboxOf(elements: readonly Element[], marks: Record<string, Position>, outcome: ItemOutcome): Outbox {
  if (outcome.outputs.length === 0 && outcome.late.length === 0 && outcome.failed.length === 0) return EMPTY_OUTBOX;
  const spans: Record<string, [Position, Position]> = {};
  for (const e of elements) spans[e.origin.shardId] ??= [bare(e.origin), marks[e.origin.shardId]!];
  return {
    spans,
    outputs: outcome.outputs,
    ...(outcome.late.length > 0 && { late: outcome.late.map((e) => originKey(e.origin)) }),
    ...(outcome.failed.length > 0 && { failed: outcome.failed.map((f) => ({ origin: originKey(f.element.origin), operator: f.operator, reason: f.reason })) }),
  };
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
