import type { KeyedLogic } from '../../runtime/keyed-logic';
import { NO_WATERMARK } from '../../time/watermark';
import { comparePositions } from '../../runtime/records';
import type { InputRow, ItemOutcome, ItemRef, ItemUpdate, Position, StateBackend, StoredItem } from '../backend';
import { planFire, planUpdate, type PlannedWrite } from '../item-update';

/** The later of two committed positions, as an optional field. */
function laterCommit(a: Position | undefined, b: Position | undefined): { committed?: Position } {
  const later = a === undefined ? b : b === undefined ? a : comparePositions(a, b) >= 0 ? a : b;
  return later === undefined ? {} : { committed: later };
}

const itemId = (ref: ItemRef): string => `${ref.stageId}\u0000${ref.key}\u0000${ref.slot}`;
type Entry = { readonly ref: ItemRef; item: StoredItem | undefined };

/**
 * State in process memory: for tests, the harness and benchmarks. Same exactly-once steps as the
 * DynamoDB backend (they share `planUpdate`/`planFire`); writes check the expected version too.
 */
export class MemoryBackend implements StateBackend {
  /** stage → key → slot → item: nested maps, so the hot path builds no composite key strings. */
  private readonly items = new Map<string, Map<string, Map<string, Entry>>>();
  /** Per stage: the items with a fire time, scanned in fire-time order when the watermark moves. */
  private readonly due = new Map<string, Set<Entry>>();
  private readonly inputs = new Map<string, Map<string, InputRow>>();
  private readonly stageWatermarks = new Map<string, number>();
  private watermarkAsleep = false;
  private watermarkLease: { holder: string; untilMs: number } | undefined;
  /** Writes performed, by kind: what a store would bill. */
  readonly writes = { items: 0, inputs: 0, watermarks: 0 };

  async update(updates: readonly ItemUpdate[], logic: KeyedLogic, watermarkMs: number): Promise<ItemOutcome[]> {
    return updates.map(({ ref, elements }) => {
      const entry = this.entry(ref);
      return this.apply(entry, planUpdate(entry.item, ref, elements, logic, watermarkMs));
    });
  }

  async fire(ref: ItemRef, logic: KeyedLogic, watermarkMs: number, deliver: (outcome: ItemOutcome) => Promise<void>): Promise<void> {
    const entry = this.entry(ref);
    const planned = planFire(entry.item, ref, logic, watermarkMs);
    if (!planned.next) return;
    await deliver(planned.outcome);
    this.apply(entry, planned);
  }

  /** The item's entry, created empty if new; entries are stable objects, so the due index can hold them. */
  private entry(ref: ItemRef): Entry {
    let keys = this.items.get(ref.stageId);
    if (!keys) this.items.set(ref.stageId, (keys = new Map()));
    let slots = keys.get(ref.key);
    if (!slots) keys.set(ref.key, (slots = new Map()));
    let entry = slots.get(ref.slot);
    if (!entry) slots.set(ref.slot, (entry = { ref, item: undefined }));
    return entry;
  }

  private apply(entry: Entry, planned: PlannedWrite): ItemOutcome {
    const { next } = planned;
    const ref = entry.ref;
    if (next) {
      if (entry.item?.version !== planned.expectedVersion) throw new Error(`version conflict on ${itemId(ref)}`);
      entry.item = next;
      this.writes.items += 1;
      let due = this.due.get(ref.stageId);
      if (!due) this.due.set(ref.stageId, (due = new Set()));
      if (next.fireAtMs === null || next.closed) due.delete(entry);
      else due.add(entry);
    }
    return planned.outcome;
  }

  async dueItems(stageId: string, watermarkMs: number, limit: number): Promise<ItemRef[]> {
    const due: Entry[] = [];
    for (const e of this.due.get(stageId) ?? []) if (e.item!.fireAtMs! <= watermarkMs) due.push(e);
    due.sort((a, b) => a.item!.fireAtMs! - b.item!.fireAtMs! || (itemId(a.ref) < itemId(b.ref) ? -1 : 1));
    return due.slice(0, limit).map((e) => e.ref);
  }

  async readInputs(stageId: string): Promise<InputRow[]> {
    return [...(this.inputs.get(stageId)?.values() ?? [])];
  }

  async readInput(stageId: string, input: string): Promise<InputRow | undefined> {
    return this.inputs.get(stageId)?.get(input);
  }

  async writeInputs(stageId: string, rows: readonly InputRow[]): Promise<void> {
    let table = this.inputs.get(stageId);
    if (!table) this.inputs.set(stageId, (table = new Map()));
    for (const row of rows) {
      const old = table.get(row.input);
      table.set(row.input, {
        input: row.input,
        watermarkMs: Math.max(row.watermarkMs, old?.watermarkMs ?? NO_WATERMARK),
        maxEventTimeMs: Math.max(row.maxEventTimeMs, old?.maxEventTimeMs ?? NO_WATERMARK),
        lastActiveMs: Math.max(row.lastActiveMs, old?.lastActiveMs ?? 0),
        ...laterCommit(old?.committed, row.committed),
      });
      this.writes.inputs += 1;
    }
  }

  async readStageWatermark(stageId: string): Promise<number> {
    return this.stageWatermarks.get(stageId) ?? NO_WATERMARK;
  }

  async writeStageWatermark(stageId: string, watermarkMs: number): Promise<void> {
    const old = this.stageWatermarks.get(stageId) ?? NO_WATERMARK;
    if (watermarkMs > old) {
      this.stageWatermarks.set(stageId, watermarkMs);
      this.writes.watermarks += 1;
    }
  }

  async markWatermarkAsleep(): Promise<void> {
    this.watermarkAsleep = true;
  }

  async claimWatermarkWake(): Promise<boolean> {
    const was = this.watermarkAsleep;
    this.watermarkAsleep = false;
    return was;
  }

  async acquireWatermarkLease(holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    if (this.watermarkLease && this.watermarkLease.untilMs >= nowMs) return false;
    this.watermarkLease = { holder, untilMs };
    return true;
  }

  async releaseWatermarkLease(holder: string): Promise<boolean> {
    if (this.watermarkLease?.holder !== holder) return false;
    this.watermarkLease = undefined;
    return true;
  }

  /** Every item of a stage (tests and the dashboard look inside). */
  snapshot(stageId?: string): { ref: ItemRef; item: StoredItem }[] {
    const entries: { ref: ItemRef; item: StoredItem }[] = [];
    for (const [stage, keys] of this.items) {
      if (stageId !== undefined && stage !== stageId) continue;
      for (const slots of keys.values()) for (const e of slots.values()) if (e.item) entries.push({ ref: e.ref, item: e.item });
    }
    return entries;
  }
}
