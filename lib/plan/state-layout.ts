import type { KeySelector } from '../api/source';
import { assigner } from './describe';
import { sourceLanesOf, stageOutputs, type KeyedOperator, type Plan, type Stage } from './plan';
import { STATE_SCHEMA_VERSION } from '../state/state-schema';

/** The state format's version is the state's (lib/state/state-schema.ts); the layout carries it. */
export { STATE_SCHEMA_VERSION };

/** The oldest schema version that reads a job's state: 2 once a stage keeps key groups, which version 1 would not find. */
export const schemaVersionOf = (plan: Plan): number => (plan.stages.some((s) => s.keyGroups > 1) ? 2 : 1);

/**
 * What a job's keyed state is: per stage, whose state its logs hold (its `stateId`: the keyed operator's
 * uid, or the stage id), what kind of state that is, and by what key. Two versions of a job are compared by
 * it before an upgrade (`shardflow plan JOB --against LAYOUT|deployed`, `shardflow deploy`, and `shardflow dev`
 * on restart), as Flink maps a savepoint's state to operators by uid.
 */
export interface StateLayout {
  readonly job: string;
  /** The {@link STATE_SCHEMA_VERSION} of the shardflow that wrote it. */
  readonly version: number;
  readonly operators: readonly StateLayoutEntry[];
}

export interface StateLayoutEntry {
  readonly stateId: string;
  /** The operator, as the plan names it (`window#3`). */
  readonly operator: string;
  /** What its state holds: the window and its function, or the process function's named states. */
  readonly shape: string;
  /** The key: a field name, or the key function's text. */
  readonly key: string;
  readonly shards: number;
  /** Key groups per shard (its `keyGroups`), when more than one: the state is laid out by (shard, key group). */
  readonly keyGroups?: number;
  /** Its input stream is on-demand: `shards` is only where Kinesis started it. */
  readonly onDemand?: true;
  /** Its stage, which names the stream it reads and its function (absent from a layout an earlier shardflow recorded: then not compared). */
  readonly stage?: string;
  /** What feeds it, lane by lane (see {@link inputsOf}): its shards keep a position per upstream shard under these names. */
  readonly inputs?: readonly string[];
}

export function stateLayout(plan: Plan): StateLayout {
  return {
    job: plan.job,
    version: schemaVersionOf(plan),
    operators: plan.stages
      .filter((s): s is Stage & { keyed: KeyedOperator } => s.keyed !== undefined)
      .map((s) => ({
        stateId: s.stateId,
        operator: s.keyed.id,
        shape: shapeOf(s.keyed),
        key: keyOf(plan, s),
        shards: s.input.shards,
        ...(s.keyGroups > 1 && { keyGroups: s.keyGroups }),
        ...(s.input.onDemand && { onDemand: true as const }),
        stage: s.id,
        inputs: inputsOf(plan, s),
      })),
  };
}

/**
 * A keyed stage's inputs as its shards know them: each lane's name (the senders' prefix), the keyed
 * operator's input it feeds, and what sends on it — a source stream, or another keyed operator's stage.
 * Lane names hold positional stage ids, so an upgrade that renumbers the stages renames them.
 */
function inputsOf(plan: Plan, stage: Stage): string[] {
  if (stage.input.kind === 'source') return [`source ${stage.input.stream}`];
  return stage.input.lanes.map((l) => {
    const from = plan.stages.find((s) => s.id === l.fromStage)!;
    const sender = from.input.kind === 'source' ? `source ${from.input.stream}` : `stage of ${from.stateId}`;
    return `${l.name === '' ? '' : `${l.name} `}← ${sender}${l.input > 0 ? ` (input ${l.input + 1})` : ''}`;
  });
}

/** What happens to one operator's state in an upgrade. */
export interface StateChange {
  readonly stateId: string;
  /** kept: found and compatible; new: starts empty; dropped: nothing reads it any more; incompatible: found, but not the same kind of state or key, or not where it was. */
  readonly verdict: 'kept' | 'new' | 'dropped' | 'incompatible';
  readonly detail: string;
  /** What to do instead, when it is not the default (a new uid, or empty state). */
  readonly remedy?: string;
}

const NEW_UID = 'give the changed operator a new .uid(...) (its old state is then dropped), or start from empty state';
const KEEP_PLACES =
  'declare new sources and keyed operators after the ones the running version has (stages are numbered in the order the job declares them), and feed a kept operator no other input; or give it a new .uid(...) (its old state is then dropped), or start from empty state (docs/operations.md, "Upgrade with state")';

/** Compares the state of a running version (`before`) with what the new one (`after`) expects. */
export function compareLayouts(before: StateLayout, after: StateLayout): StateChange[] {
  const old = new Map(before.operators.map((o) => [o.stateId, o]));
  const changes: StateChange[] = after.operators.map((o): StateChange => {
    const was = old.get(o.stateId);
    old.delete(o.stateId);
    if (!was) return { stateId: o.stateId, verdict: 'new', detail: `${o.operator} ${o.shape}: starts with no state` };
    if (was.shape !== o.shape) return { stateId: o.stateId, verdict: 'incompatible', detail: `was ${was.shape}, now ${o.shape}` };
    if (was.key !== o.key) return { stateId: o.stateId, verdict: 'incompatible', detail: `keyed by ${was.key}, now by ${o.key}` };
    const [groupsWere, groupsNow] = [was.keyGroups ?? 1, o.keyGroups ?? 1];
    if (groupsWere !== groupsNow) {
      // The logs are per (shard, key group): another count would read none of them. Not carried over (yet).
      return {
        stateId: o.stateId,
        verdict: 'incompatible',
        detail: `is kept in ${groupsWere} key group(s) per shard, now ${groupsNow} (keyGroups ${groupsWere} → ${groupsNow} on ${o.operator}'s stage): the state would not be found — set keyGroups: ${groupsWere} (parallelizationFactor may change up to it), or reshard its stream instead (\`shardflow rescale\`)`,
      };
    }
    // A kept state goes on in its stage, from its inputs' positions: another stage would read another stream (what
    // the old one holds lost), and renamed inputs would hold its watermark back forever or skip records as seen.
    if (was.stage !== undefined && was.stage !== o.stage) {
      return { stateId: o.stateId, verdict: 'incompatible', detail: `moves from stage ${was.stage} to ${o.stage}: it would read another stream in another function, and what the old stream holds would be lost`, remedy: KEEP_PLACES };
    }
    if (was.inputs !== undefined && was.inputs.join(', ') !== o.inputs?.join(', ')) {
      return { stateId: o.stateId, verdict: 'incompatible', detail: `read ${was.inputs.join(', ')}; now ${o.inputs?.join(', ')}: the positions its state keeps per input would be misread`, remedy: KEEP_PLACES };
    }
    return { stateId: o.stateId, verdict: 'kept', detail: `${o.operator} ${o.shape}${shardChange(was, o)}` };
  });
  for (const was of old.values()) changes.push({ stateId: was.stateId, verdict: 'dropped', detail: `${was.operator} ${was.shape}: no operator of the new version has this state` });
  return changes;
}

/**
 * What an upgrade from the running version's layout (`before`; undefined before a first deploy, where every
 * state starts empty) does to the state of `plan`. A keyed stage the upgrade adds behind a source stage starts
 * where the running version had read each source shard, which the kept keyed stages behind that source
 * stage tell (lib/state/upgrade-start.ts); when none is kept, it learns it only from each shard's next batch,
 * and until a quiet shard sends one, its watermark waits — which the verdict says (docs/operations.md,
 * "Upgrade with state").
 */
export function upgradeChanges(before: StateLayout | undefined, plan: Plan): StateChange[] {
  const changes = compareLayouts(before ?? { job: plan.job, version: STATE_SCHEMA_VERSION, operators: [] }, stateLayout(plan));
  if (!before) return changes;
  const kept = new Set(changes.filter((c) => c.verdict === 'kept').map((c) => c.stateId));
  const readByKept = new Set(plan.stages.filter((s) => kept.has(s.stateId)).flatMap((s) => sourceLanesOf(plan, s).map((l) => l.fromStage)));
  return changes.map((c) => {
    const stage = plan.stages.find((s) => s.stateId === c.stateId);
    const unread = c.verdict === 'new' && stage ? [...new Set(sourceLanesOf(plan, stage).map((l) => l.fromStage))].filter((id) => !readByKept.has(id)) : [];
    if (unread.length === 0) return c;
    const streams = unread.map((id) => plan.stages.find((s) => s.id === id)!.input.stream).join(', ');
    return { ...c, detail: `${c.detail}; no kept keyed operator reads ${streams} to say how far it was read: it fires once every shard of it has sent a record since the upgrade (put one on a quiet shard: docs/operations.md, "Upgrade with state")` };
  });
}

/** Why an upgrade must not go ahead as it is, or undefined when it may. */
export function upgradeRefusal(changes: readonly StateChange[], allowNonRestoredState: boolean): string | undefined {
  const incompatible = changes.filter((c) => c.verdict === 'incompatible');
  if (incompatible.length > 0) {
    const remedies = [...new Set(incompatible.map((c) => c.remedy ?? NEW_UID))];
    return `${incompatible.map((c) => `the state '${c.stateId}' ${c.detail}`).join('; ')} — ${remedies.join('; ')}`;
  }
  const dropped = changes.filter((c) => c.verdict === 'dropped');
  if (dropped.length > 0 && !allowNonRestoredState) {
    return `the state ${dropped.map((c) => `'${c.stateId}' (${c.detail})`).join(', ')} would be dropped — pass --allow-non-restored-state to go ahead without it (Flink's flag)`;
  }
  return undefined;
}

export function describeChanges(changes: readonly StateChange[]): string {
  return changes.map((c) => `  ${c.verdict.padEnd(12)} ${c.stateId.padEnd(16)} ${c.detail}`).join('\n');
}

/** What an upgrade does to the shards of a stage's stream; Kinesis reshards it either way, and state follows its keys. */
function shardChange(was: StateLayoutEntry, now: StateLayoutEntry): string {
  if (now.onDemand) return was.onDemand ? '' : ' (its stream becomes on-demand: the deployment switches its mode, and Kinesis scales it from the shards it has)';
  if (was.onDemand) return ` (its stream becomes provisioned: the deployment switches its mode and sets ${now.shards} shards, and state follows its keys)`;
  return was.shards === now.shards ? '' : ` (shards ${was.shards} → ${now.shards}: reshard the running stream with \`shardflow rescale\`, so that state follows its keys)`;
}

function shapeOf(k: KeyedOperator): string {
  if (k.kind === 'window') return `${assigner(k.assigner)}.${k.fn.kind}(${'field' in k.fn ? k.fn.field : ''})`;
  const states = Object.entries(k.fn.state)
    .map(([name, d]) => `${name}: ${d.kind}`)
    .sort()
    .join(', ');
  return `${k.written}(${states})`;
}

/** The key, as written: the in-stage keyBy, or the keyBys on the routes that feed the stage (a two-input operator has one per input). */
function keyOf(plan: Plan, stage: Stage): string {
  const text = (selector: KeySelector<unknown>): string => (typeof selector === 'string' ? `'${selector}'` : String(selector).replace(/\s+/g, ' '));
  if (stage.keyBy !== undefined) return text(stage.keyBy);
  const lanes = stage.input.kind === 'shuffle' ? stage.input.lanes : [];
  const byInput = new Map<number, string>();
  for (const s of plan.stages) {
    for (const o of stageOutputs(s)) {
      if (o.kind !== 'shuffle' || o.toStage !== stage.id) continue;
      const lane = lanes.find((l) => (o.lane === '' ? l.name === '' : l.name === o.lane));
      byInput.set(lane?.input ?? 0, text(o.keyBy));
    }
  }
  return [...byInput.entries()].sort((a, b) => a[0] - b[0]).map(([, k]) => k).join(' / ') || 'none';
}
