import { shardOfSender, sourceLanesOf, type Plan, type Stage } from '../plan/plan';
import { laterPosition } from '../runtime/keyed/inheritance';
import type { ShardState } from './shard-state';

/**
 * Where a keyed stage that an upgrade adds behind a source stage starts reading the source's shards.
 *
 * Such a stage hears of a source shard first from that shard's next batch (a marker, with the position it
 * read to) or from a tick (no position). Before it takes a shard that stays silent for idle, the watermark
 * function must find nothing in the source shard after what the stage last heard — and with no position it
 * looks from the shard's start, where the records the previous version read still are: the stage would wait
 * until the shard speaks again. So at the upgrade (`shardflow deploy`, `shardflow dev` on a previous run's
 * state) the position the previous version had read on each source shard is recorded, taken from the kept
 * keyed stages' logs (every source batch leaves a marker with its position on every shard of every keyed
 * stage it feeds), and the watermark function's ticks give it to the new stage's shards (Tick's `startAt`):
 * an input they have not heard yet starts there.
 *
 * Only stages the upgrade added take them: a kept stage's shard may have envelopes of an input it has not
 * heard yet still on their way, which a position a sibling heard would make late. A recorded position is at
 * most how far the previous version read: one still running while a deploy goes ahead reads further, and the
 * new stage then waits for that shard to speak, as without it.
 */
export interface UpgradeStart {
  /** The keyed stages (state ids) the upgrade added behind a source stage. */
  readonly stages: readonly string[];
  /** Per source stage (its id in the plan), per source shard, the last position the previous version had read there. */
  readonly positions: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** Positions read, per source stage and source shard, as {@link UpgradeStart} keeps them. */
export type ReadPositions = Record<string, Record<string, string>>;

/** Adds what a kept keyed stage's shard (its state) heard of the source shards behind it to `read`. */
export function addReadPositions(read: ReadPositions, plan: Plan, stateId: string, state: ShardState): void {
  const stage = plan.stages.find((s) => s.stateId === stateId);
  for (const lane of stage ? sourceLanesOf(plan, stage) : []) {
    for (const [sender, input] of state.allInputs()) {
      const shardId = shardOfSender(lane.name, sender);
      if (shardId === undefined || input.statusAt === undefined) continue;
      const shards = (read[lane.fromStage] ??= {});
      shards[shardId] = laterPosition(shards[shardId], input.statusAt)!;
    }
  }
}

/** What an upgrade that adds the keyed stages `added` (state ids) records, from the positions read. */
export function upgradeStartOf(plan: Plan, added: ReadonlySet<string>, read: ReadPositions): UpgradeStart {
  const stages = plan.stages.filter((s) => added.has(s.stateId) && sourceLanesOf(plan, s).length > 0).map((s) => s.stateId);
  // Only the source stages the added stages read from.
  const from = new Set(plan.stages.filter((s) => stages.includes(s.stateId)).flatMap((s) => sourceLanesOf(plan, s).map((l) => l.fromStage)));
  return { stages, positions: Object.fromEntries(Object.entries(read).filter(([stage]) => from.has(stage))) };
}

/**
 * Where each input of a stage starts (its `startAt` in ticks): for a stage the upgrade added, the recorded
 * position of the source shard behind each of its senders; nothing for any other stage.
 */
export function startPositionsOf(stage: Stage, start: UpgradeStart | undefined, sources: ReadonlyMap<string, { readonly fromStage: string; readonly shardId: string }>): Record<string, string> {
  const startAt: Record<string, string> = {};
  if (!start?.stages.includes(stage.stateId)) return startAt;
  for (const [sender, { fromStage, shardId }] of sources) {
    const at = start.positions[fromStage]?.[shardId];
    if (at !== undefined) startAt[sender] = at;
  }
  return startAt;
}

/** The record's JSON, checked: undefined when it is not an UpgradeStart (a table changed by hand). */
export function parseUpgradeStart(json: string): UpgradeStart | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const v = value as Partial<UpgradeStart> | null;
  if (!v || !Array.isArray(v.stages) || !v.stages.every((s) => typeof s === 'string') || typeof v.positions !== 'object' || v.positions === null) return undefined;
  const shardsOk = Object.values(v.positions).every((shards) => typeof shards === 'object' && shards !== null && Object.values(shards).every((p) => typeof p === 'string'));
  return shardsOk ? { stages: v.stages, positions: v.positions } : undefined;
}
