import { senderOf, type Plan, type Stage } from '../plan/plan';
import type { WatermarkCoordination } from '../state/coordination';
import type { LogHead, ShardLogStore } from '../state/shard-log';
import { SNAPSHOT_MAX_AGE_MS } from '../state/shard-states';
import { encodeTick } from './envelope';
import type { KinesisWriter } from './kinesis-writer';
import type { ShardRange } from './shard-map';
import type { SourceBacklog } from './source-backlog';
import { groupPartitionKey, logicalShard, logicalShardsOf } from '../runtime/keyed/key-groups';
import { comparePositions } from '../runtime/records';
import { startPositionsOf, type UpgradeStart } from '../state/upgrade-start';

export interface WatermarkTick {
  readonly stage: string;
  /** Ticks put, one per shard of the stage's input stream. */
  readonly ticks: number;
  /** Shards whose log says every input is idle (nothing fires there until data comes). */
  readonly idleShards: number;
  readonly shards: number;
  /** Processing time of the tick. */
  readonly atMs?: number;
}

export interface WatermarkHandlerDeps {
  readonly plan: Plan;
  /** The keyed shards' logs: their heads say whether a shard's inputs are all idle. */
  readonly logs: ShardLogStore;
  readonly coordination: WatermarkCoordination;
  /** A writer for a stage's input stream (ticks go to every shard of it). */
  readonly writerFor: (stream: string) => KinesisWriter;
  /** Every shard of a stream, open or closed (ListShards): the upstream shards a keyed shard must wait for. */
  readonly listShards: (stream: string) => Promise<readonly string[]>;
  /**
   * The shards of a stream that a reshard made, with their parents (ListShards). With it, a tick names the
   * upstream shards that a reshard closed and that are done — a keyed upstream shard is, once a child of it
   * has a log (the event source mapping starts children after their parents' last batch) — and the stage
   * stops waiting for them at once instead of `idleAfter` after their last marker.
   */
  readonly shardParents?: (stream: string) => Promise<ReadonlyMap<string, readonly string[]>>;
  /**
   * Whether a source shard holds records after a position (lib/io/source-backlog.ts). A keyed shard takes a
   * source stage's silent shard for idle only once a tick says its source shard holds nothing after what it
   * last read: a stalled reader is not a quiet shard.
   */
  readonly sourceBacklog: SourceBacklog;
  /**
   * Where the keyed stages the running version added start reading their source (the state table's record,
   * lib/state/upgrade-start.ts), read at each invocation: the upgrade writes it before the version starts.
   */
  readonly upgradeStart?: () => Promise<UpgradeStart | undefined>;
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Run ticks for this long in one invocation (EventBridge fires at most once a minute). Default 0: one tick. */
  readonly loopForMs?: number;
  /** Time between ticks inside one invocation. Default 1000 ms. */
  readonly tickMs?: number;
  /**
   * Return before `loopForMs` once every keyed shard's log says all its inputs are idle and no
   * processing-time timer is pending: nothing can fire until data comes, and a loop would only bill. The stage function that next hears an input again
   * starts this function (`wakeWatermark` of the stage handler); the schedule does otherwise.
   */
  readonly stopWhenIdle?: boolean;
  /**
   * Ticks without a pause while events flow, as deployed: one invocation ticks at a time (it holds a
   * lease for its loop; one that finds the lease held returns at once), and at the end of its loop, while
   * a shard is still active, it gives the lease up and starts its successor (`invokeSuccessor`, an
   * asynchronous invoke of itself) — so the schedule's next minute is a safety net, not a pause.
   */
  readonly handOver?: {
    /** A name for this invocation (the lease's holder). */
    readonly holder: () => string;
    /** How long a lease lasts: the function's timeout, so a killed holder's lease expires with it. */
    readonly leaseMs: number;
    readonly invokeSuccessor: () => Promise<void>;
    /** Warnings that do not fail the invocation (a successor that could not be started). */
    readonly warn?: (message: string, detail: Record<string, unknown>) => void;
  };
  readonly onTick?: (tick: WatermarkTick) => void;
}

/** A source stage's shard, as a keyed stage's sender: which stage, and which shard of which stream it reads. */
interface SourceShard {
  readonly fromStage: string;
  readonly stream: string;
  readonly shardId: string;
}

/** What invokes the watermark function; only its `source` matters. */
export interface WatermarkEvent {
  readonly source?: string;
}

/**
 * The invocation `shardflow dev` makes when it starts again on the data of an earlier run, before its event
 * source mappings start: one tick to every keyed shard, which tells it that its inputs' silence was the
 * runtime's downtime (KeyedShardRun.tick), ahead of every record the restarted runtime puts. It returns
 * after that tick and takes no lease (the last run's holder may keep it until it expires): a tick beside
 * another invocation's is harmless, a resume lost is not.
 */
export const RESUME_EVENT = { source: 'shardflow.resume' } as const;

/**
 * The watermark function. Keyed stages fire their windows and timers themselves, as the watermark
 * markers in their input pass them; what they cannot see is silence. So every tick this function puts
 * a tick record on the shards of each shuffled keyed stage's input stream (ExplicitHashKey picks the
 * shard) that still have active inputs, naming the upstream shards that exist: the stage decides from
 * its arrival time which source shards have gone idle (a keyed stage's shards say so in their markers),
 * and fires what that lets through — in stream order, like any record.
 */
export function createWatermarkHandler(deps: WatermarkHandlerDeps): (event?: WatermarkEvent) => Promise<WatermarkTick[]> {
  const clock = deps.clock ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const stages = deps.plan.stages.filter((s) => s.keyed && s.input.kind === 'shuffle');
  /**
   * Every sender a keyed stage waits for: each lane's upstream stage's shards, by the lane's name (see Lane);
   * and, for a source stage's, the source shard each reads.
   */
  const upstreamOf = async (stage: Stage): Promise<{ senders: string[]; sources: Map<string, SourceShard> }> => {
    const lanes = stage.input.kind === 'shuffle' ? stage.input.lanes : [];
    const senders: string[] = [];
    const sources = new Map<string, SourceShard>();
    for (const lane of lanes) {
      const from = deps.plan.stages.find((s) => s.id === lane.fromStage)!;
      // An upstream stage with key groups sends as each of its logical shards.
      for (const shardId of await deps.listShards(from.input.stream)) {
        for (const logical of logicalShardsOf(shardId, from.keyGroups)) senders.push(senderOf(lane.name, logical));
        if (from.input.kind === 'source') sources.set(senderOf(lane.name, shardId), { fromStage: from.id, stream: from.input.stream, shardId });
      }
    }
    return { senders, sources };
  };

  /**
   * The source stages' shards that the stage's shards await word on (their heads name them, with the position
   * each last read) and whose source shard holds nothing after that position: the highest such position per
   * sender. A shard whose sender has read further is told nothing it could use, and waits for that marker.
   */
  const caughtUpOf = async (heads: readonly (LogHead | undefined)[], sources: ReadonlyMap<string, SourceShard>, asked: Map<string, Promise<boolean | undefined>>): Promise<Record<string, string>> => {
    const caughtUp: Record<string, string> = {};
    for (const head of heads) {
      for (const [sender, after] of Object.entries(head?.awaiting ?? {})) {
        const source = sources.get(sender);
        if (!source || (caughtUp[sender] !== undefined && comparePositions({ sequenceNumber: after, subIndex: 0 }, { sequenceNumber: caughtUp[sender]!, subIndex: 0 }) <= 0)) continue;
        const question = `${source.stream} ${source.shardId} ${after}`;
        if (!asked.has(question)) asked.set(question, deps.sourceBacklog(source.stream, source.shardId, after));
        if ((await asked.get(question)) === false) caughtUp[sender] = after;
      }
    }
    return caughtUp;
  };
  /** A stage's open shards' logical shards (each (shard, key group) when it has key groups): their shard, group and name. */
  const openLogicalShards = async (stage: Stage, atMs: number): Promise<{ shard: ShardRange; group: number; name: string }[]> => {
    const groups = stage.keyGroups;
    return (await deps.writerFor(stage.input.stream).openShards(atMs)).flatMap((shard) => Array.from({ length: groups }, (_, group) => ({ shard, group, name: logicalShard(shard.shardId, group, groups) })));
  };

  /**
   * Whether a keyed shard can fire nothing until data comes: its log says all its inputs are idle and no
   * processing-time timer is pending. A shard without a log has not even had a tick yet: the first names
   * its upstream shards, which then hold its watermark until they speak or go idle — so it is not idle
   * until its log says so.
   */
  const shardQuiet = (head: LogHead | undefined): boolean => head?.idle === true && head.processingTimerMs === undefined;
  const headOf = (stageId: string, shardId: string): Promise<LogHead | undefined> => deps.logs.readHead({ stageId, shardId });
  /** An idle shard whose log has not moved for the snapshot age: a tick makes it run a batch, which writes its snapshot again before the log's TTL takes it. */
  const needsRefresh = (head: LogHead | undefined, nowMs: number): boolean => head !== undefined && nowMs - head.writtenAtMs >= SNAPSHOT_MAX_AGE_MS;
  // Open shards only: a reshard's closed parents keep their last log entry for good, and a child without a
  // log yet (its parents not done) is not quiet, which keeps the function awake until it has spoken.
  const allIdle = async (): Promise<boolean> => {
    for (const stage of stages) {
      for (const { name } of await openLogicalShards(stage, clock())) if (!shardQuiet(await headOf(stage.stateId, name))) return false;
    }
    return true;
  };

  /** Per stage, the upstream shards the last ticks named (this container's memory: a new one ticks every shard). */
  const named = new Map<string, string>();
  /** Per keyed stage, its shards known to have ended (closed by a reshard, their children running): ended for good. */
  const endedShards = new Map<string, Set<string>>();

  /** The upstream shards of a ticked stage that have ended (only a keyed upstream stage keeps logs to tell). */
  const endedUpstream = async (stage: Stage): Promise<string[]> => {
    if (!deps.shardParents || stage.input.kind !== 'shuffle') return [];
    const names: string[] = [];
    for (const lane of stage.input.lanes) {
      const from = deps.plan.stages.find((s) => s.id === lane.fromStage)!;
      if (!from.keyed) continue;
      const ended = endedShards.get(from.id) ?? new Set<string>();
      endedShards.set(from.id, ended);
      const groups = from.keyGroups;
      const lineage = await deps.shardParents(from.input.stream);
      for (const [child, parents] of lineage) {
        if (parents.every((p) => ended.has(p))) continue;
        // The event source mapping starts a child after its parents' last batch, in every key group.
        for (const logical of logicalShardsOf(child, groups)) {
          if ((await headOf(from.stateId, logical)) === undefined) continue;
          for (const p of parents) endWithAncestors(ended, p, lineage);
          break;
        }
      }
      for (const shardId of ended) for (const logical of logicalShardsOf(shardId, groups)) names.push(senderOf(lane.name, logical));
    }
    return names.sort();
  };

  /**
   * One tick: a tick record on every shard of every shuffled keyed stage whose log does not say all its
   * inputs are idle (an idle shard has nothing a tick could tell it) or whose processing-time timer is due
   * — on every shard when the upstream shards changed (a reshard: the new ones must be named), and on an
   * idle shard whose snapshot must be written again. `idle`: every shard's log says idle, with no timer
   * pending.
   */
  const tick = async (start: UpgradeStart | undefined, resumed = false): Promise<{ ticks: WatermarkTick[]; idle: boolean }> => {
    const ticks: WatermarkTick[] = [];
    let idle = true;
    // Each source shard is asked about once per tick, whichever stages await word on it.
    const asked = new Map<string, Promise<boolean | undefined>>();
    for (const stage of stages) {
      const atMs = clock();
      const writer = deps.writerFor(stage.input.stream);
      const groups = stage.keyGroups;
      const { senders: upstream, sources } = await upstreamOf(stage);
      const ended = await endedUpstream(stage);
      const names = `${upstream.join(' ')} / ${ended.join(' ')}`;
      const renamed = named.get(stage.id) !== names;
      // Each logical shard: a stage with key groups takes a tick per (shard, key group), under the group's partition key.
      const open = await openLogicalShards(stage, atMs);
      const heads = await Promise.all(open.map((s) => headOf(stage.stateId, s.name)));
      const idleFlags = heads.map((h) => h?.idle === true);
      // A tick arrives at or after it is put: one put now finds a timer due by now due on arrival.
      const timerDue = (h: LogHead | undefined): boolean => h?.processingTimerMs !== undefined && h.processingTimerMs <= atMs;
      const targets = open.filter((_, i) => resumed || renamed || !idleFlags[i] || timerDue(heads[i]) || needsRefresh(heads[i], atMs));
      const data = encodeTick({ upstream, ended, ...(resumed && { resumed }), caughtUp: await caughtUpOf(heads, sources, asked), startAt: startPositionsOf(stage, start, sources) });
      if (targets.length > 0) {
        const landed = await writer.put(targets.map((s) => [{ partitionKey: groups <= 1 ? 'tick' : groupPartitionKey(s.group), data, explicitHashKey: s.shard.startingHashKey.toString() }]));
        // A tick that landed on another shard than its target: the stream was resharded (a tick there is
        // harmless); the next tick goes to the shards as they are now.
        if (landed?.some((shards, i) => shards[0] !== targets[i]!.shard.shardId)) writer.forgetShards();
      }
      named.set(stage.id, names);
      const idleShards = idleFlags.filter(Boolean).length;
      idle &&= heads.every(shardQuiet);
      const t: WatermarkTick = { stage: stage.id, ticks: targets.length, idleShards, shards: open.length, atMs };
      deps.onTick?.(t);
      ticks.push(t);
    }
    return { ticks, idle };
  };

  /**
   * Says the function sleeps, then looks at the logs once more: a stage function appends its entry before
   * it claims the wake, so either this look sees it active or its claim sees the flag. If a shard became
   * active meanwhile, takes the flag back and goes on.
   */
  const fallAsleep = async (): Promise<boolean> => {
    await deps.coordination.markWatermarkAsleep();
    if (await allIdle()) return true;
    await deps.coordination.claimWatermarkWake();
    return false;
  };

  /** The loop of one invocation; `idle`: it ended because every shard was idle (the function sleeps). */
  const loop = async (): Promise<{ ticks: WatermarkTick[]; idle: boolean }> => {
    const until = clock() + (deps.loopForMs ?? 0);
    const start = await deps.upgradeStart?.();
    const all: WatermarkTick[] = [];
    for (;;) {
      const { ticks, idle } = await tick(start);
      all.push(...ticks);
      if (deps.stopWhenIdle && idle && (await fallAsleep())) return { ticks: all, idle: true };
      if (clock() + (deps.tickMs ?? 1000) > until) return { ticks: all, idle: false };
      await sleep(deps.tickMs ?? 1000);
    }
  };

  /** An invocation: by the schedule, a stage function's wake, its predecessor, or the runtime starting again on its data. */
  return async (event?: WatermarkEvent) => {
    if (event?.source === RESUME_EVENT.source) return (await tick(await deps.upgradeStart?.(), true)).ticks;
    const handOver = deps.handOver;
    if (!handOver) return (await loop()).ticks;
    const holder = handOver.holder();
    const startedMs = clock();
    if (!(await deps.coordination.acquireWatermarkLease(holder, startedMs, startedMs + handOver.leaseMs))) return [];
    let result: { ticks: WatermarkTick[]; idle: boolean };
    try {
      result = await loop();
    } catch (e) {
      await deps.coordination.releaseWatermarkLease(holder).catch(() => false);
      throw e;
    }
    // A lease that expired meanwhile belongs to another invocation now: that one goes on, not a successor.
    const stillHeld = await deps.coordination.releaseWatermarkLease(holder);
    if (stillHeld && !result.idle) {
      try {
        await handOver.invokeSuccessor();
      } catch (e) {
        // The schedule starts the next invocation within a minute: a pause, nothing lost.
        handOver.warn?.('could not start the next watermark invocation', { error: (e as Error).message });
      }
    }
    return result.ticks;
  };
}

/**
 * Marks a shard ended, and its ancestors: they were read to their end before it was. A parent that never ran
 * (merged, then split again before a batch came) has no log to say its children started, so without this
 * its own parents would never end for the next stage (chaos chained 4011: s1's 0 and 1 merged into 2, split
 * into 3 and 4 within two seconds; s2 waited for 0 and 1 for ever).
 */
function endWithAncestors(ended: Set<string>, shardId: string, lineage: ReadonlyMap<string, readonly string[]>): void {
  if (ended.has(shardId)) return;
  ended.add(shardId);
  for (const parent of lineage.get(shardId) ?? []) endWithAncestors(ended, parent, lineage);
}
