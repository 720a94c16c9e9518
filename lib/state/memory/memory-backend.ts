import type { KeyedLogic } from '../../runtime/keyed-logic';
import type { Element } from '../../runtime/records';
import { NO_WATERMARK } from '../../time/watermark';
import type { InputRow, ItemOutcome, ItemRef, StateBackend, StoredItem } from '../backend';
import { planFire, planUpdate, type PlannedWrite } from '../item-update';

const itemId = (ref: ItemRef): string => `${ref.stageId}\u0000${ref.key}\u0000${ref.slot}`;

/**
 * State in process memory: for tests, the harness and benchmarks. Same exactly-once steps as the
 * DynamoDB backend (they share `planUpdate`/`planFire`); writes check the expected version too.
 */
export class MemoryBackend implements StateBackend {
  private readonly items = new Map<string, { ref: ItemRef; item: StoredItem }>();
  /** Per stage: item id → fire time, scanned in fire-time order when the watermark moves. */
  private readonly due = new Map<string, Map<string, number>>();
  private readonly inputs = new Map<string, Map<string, InputRow>>();
  private readonly stageWatermarks = new Map<string, number>();
  /** Writes performed, by kind: what a store would bill. */
  readonly writes = { items: 0, inputs: 0, watermarks: 0 };

  async update(ref: ItemRef, elements: readonly Element[], logic: KeyedLogic, watermarkMs: number): Promise<ItemOutcome> {
    return this.apply(ref, planUpdate(this.items.get(itemId(ref))?.item, ref, elements, logic, watermarkMs));
  }

  async fire(ref: ItemRef, logic: KeyedLogic, watermarkMs: number): Promise<ItemOutcome> {
    return this.apply(ref, planFire(this.items.get(itemId(ref))?.item, ref, logic, watermarkMs));
  }

  private apply(ref: ItemRef, planned: PlannedWrite): ItemOutcome {
    const { next } = planned;
    if (next) {
      const id = itemId(ref);
      const current = this.items.get(id)?.item;
      if (current?.version !== planned.expectedVersion) throw new Error(`version conflict on ${id}`);
      this.items.set(id, { ref, item: next });
      this.writes.items += 1;
      let due = this.due.get(ref.stageId);
      if (!due) this.due.set(ref.stageId, (due = new Map()));
      if (next.fireAtMs === null || next.closed) due.delete(id);
      else due.set(id, next.fireAtMs);
    }
    return planned.outcome;
  }

  async dueItems(stageId: string, watermarkMs: number, limit: number): Promise<ItemRef[]> {
    const due = [...(this.due.get(stageId) ?? [])].filter(([, at]) => at <= watermarkMs);
    due.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    return due.slice(0, limit).map(([id]) => this.items.get(id)!.ref);
  }

  async readInputs(stageId: string): Promise<InputRow[]> {
    return [...(this.inputs.get(stageId)?.values() ?? [])];
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

  /** Every item of a stage (tests and the dashboard look inside). */
  snapshot(stageId?: string): { ref: ItemRef; item: StoredItem }[] {
    return [...this.items.values()].filter((e) => stageId === undefined || e.ref.stageId === stageId);
  }
}
