import { shuffleStreamsOf, type Plan, type Stage } from '../plan/plan';
import type { DeadLetter } from '../runtime/records';
import { StageExecutor, type PreparedBatch, type StageBatch, type StageResult } from '../runtime/stage-executor';
import type { WatermarkCoordination } from '../state/coordination';
import type { ShardStates } from '../state/shard-states';
import { toStageBatch, type BatchResponse, type KinesisStreamEvent } from './kinesis-event';
import { KinesisWriter } from './kinesis-writer';
import { emitShuffle } from './shuffle-emitter';
import type { ShardLineage } from './shard-list';
import { ContainerFaults } from './container-faults';
import { faultPoint, faultsEnabled, type FaultPointName } from './fault-points';
import type { SinkWriter } from './sinks';
import { deadLetterSample, lateSample, type DeadLetterSample, type LateRecordSample } from './metrics';
import { groupOfPartitionKey, logicalShard } from '../runtime/keyed/key-groups';
import type { KinesisStreamRecord } from './kinesis-event';

/** What one invocation did, for logs and metrics. */
export interface StageInvocation {
  readonly stage: string;
  readonly shardId: string;
  readonly recordsIn: number;
  readonly shuffled: number;
  readonly outputs: number;
  readonly late: number;
  readonly deadLetters: number;
  readonly markers: number;
  readonly watermarkMs: number;
  readonly durationMs: number;
  /** Records the stage took in: the Kinesis records at a source, the elements inside envelopes after a shuffle. */
  readonly elementsIn?: number;
  /** Keyed stages: entries appended to the shard's log (0 or 1), their bytes, slots lost to another writer, cold loads of the state. */
  readonly stateAppends?: number;
  readonly stateBytes?: number;
  readonly lostSlots?: number;
  readonly stateLoads?: number;
  /** Keyed stages: the shard's state, packed bytes (memory holds about three times as much). */
  readonly shardStateBytes?: number;
  /** Processing time when the batch was done (watermark lag = atMs − watermarkMs). */
  readonly atMs?: number;
  /** A few of the batch's late records and dead letters, for the logs and the dashboard. */
  readonly lateSample?: readonly LateRecordSample[];
  readonly deadLetterSample?: readonly DeadLetterSample[];
}

export interface StageHandlerDeps {
  readonly plan: Plan;
  readonly stageId: string;
  /** The keyed shards' states and their logs (keyed stages). */
  readonly states?: ShardStates;
  readonly coordination: WatermarkCoordination;
  readonly sinks: SinkWriter;
  /** The next stages' streams, when the stage shuffles: a writer per stream. */
  readonly shuffleWriters?: ReadonlyMap<string, KinesisWriter>;
  readonly clock?: () => number;
  readonly onInvocation?: (info: StageInvocation) => void;
  /**
   * Starts the watermark function now (on AWS an asynchronous Lambda invoke), for a batch of a keyed
   * stage that hears an input again after idleness while the watermark function sleeps. Without it a
   * sleeping watermark function resumes on its schedule (within a minute).
   */
  readonly wakeWatermark?: () => Promise<void>;
  /** Warnings that do not fail the batch (a wake that could not be sent). */
  readonly warn?: (message: string, detail: Record<string, unknown>) => void;
  /** An input shard's parents and hash range (keyed stages, after a reshard of their input stream: see {@link StageExecutor}). */
  readonly lineage?: (shardId: string) => Promise<ShardLineage | undefined>;
}

/** A writer for each stream a stage shuffles to. */
export const shuffleWritersFor = (stage: Stage, writerOf: (stream: string) => KinesisWriter): Map<string, KinesisWriter> =>
  new Map(shuffleStreamsOf(stage).map((stream) => [stream, writerOf(stream)]));

/** A batch that keeps losing its log slot: other writers keep appending (zombies, or a misconfiguration). */
const MAX_LOST_SLOTS = 8;

/**
 * The Lambda handler of one stage, for a Kinesis event. The order of effects is what makes a retry
 * safe: run the batch on the shard's state as the log has it → dead letters and sink outputs
 * (idempotent) → envelopes and markers to the next stage (deduplicated downstream by origin marks) →
 * append the state's changes to the shard's log. A crash anywhere means Lambda retries the batch (or
 * bisects it), and it delivers the same outputs again; a lost slot means another writer got there first,
 * and the batch runs again on the state it left.
 */
export function createStageHandler(deps: StageHandlerDeps): (event: KinesisStreamEvent) => Promise<BatchResponse> {
  const stage = deps.plan.stages.find((s) => s.id === deps.stageId);
  if (!stage) throw new Error(`job ${deps.plan.job} has no stage '${deps.stageId}' (stages: ${deps.plan.stages.map((s) => s.id).join(', ')})`);
  for (const stream of shuffleStreamsOf(stage)) if (!deps.shuffleWriters?.has(stream)) throw new Error(`stage ${stage.id} shuffles to ${stream} but has no Kinesis writer for it`);
  const executor = new StageExecutor(deps.plan, stage, deps.states, deps.lineage);
  const clock = deps.clock ?? Date.now;
  const keyGroups = stage.keyGroups;
  /** The key groups of the stage each shuffle stream feeds. */
  const groupsOfStream = new Map(deps.plan.stages.map((s) => [s.input.stream, s.keyGroups]));
  const wake = async (send: () => Promise<void>): Promise<void> => {
    try {
      await send();
    } catch (e) {
      // Nothing is lost: the schedule starts the watermark function within a minute. Say it sleeps
      // again, so the next stage function to wake from idleness tries too.
      deps.warn?.('could not wake the watermark function', { stage: stage.id, error: (e as Error).message });
      await deps.coordination.markWatermarkAsleep();
    }
  };

  /** The batch's effects outside its log, all idempotent: dead letters, sink outputs, envelopes and markers. */
  const deliver = async (shardId: string, unreadable: readonly DeadLetter[], result: StageResult, point: (name: FaultPointName) => void): Promise<number> => {
    await deps.sinks.deadLetters([...unreadable, ...result.deadLetters]);
    await deps.sinks.write(result.outputs);
    point('after-sinks');
    let markers = 0;
    for (const out of result.shuffles) markers += (await emitShuffle(deps.shuffleWriters!.get(out.stream)!, shardId, out.lane, out.elements, result.marker, groupsOfStream.get(out.stream))).markers;
    if (result.shuffles.length > 0) point('after-envelopes');
    return markers;
  };
  /**
   * Runs the batch (or finishes one already run) until its changes are in the log: deliver, append, and on a
   * lost slot run it again on the state the log then has. `point` is called between the effects.
   */
  const runToCommit = async (on: StageExecutor, batch: StageBatch, unreadable: readonly DeadLetter[], point: (name: FaultPointName) => void, ran?: PreparedBatch) => {
    for (let lostSlots = 0; ; lostSlots++) {
      const prepared = ran ?? (await on.run(batch));
      ran = undefined;
      try {
        point('after-state');
        const markers = await deliver(batch.shardId, unreadable, prepared.result, point);
        const committed = await prepared.commit();
        if (committed !== 'lost') return { result: prepared.result, markers, lostSlots, committed };
      } catch (e) {
        on.drop(batch.shardId);
        throw e;
      }
      if (lostSlots + 1 >= MAX_LOST_SLOTS) throw new Error(`stage ${stage.id}, shard ${batch.shardId}: lost its log slot ${MAX_LOST_SLOTS} times in a row (other writers keep appending); Lambda retries the batch`);
    }
  };
  // Chaos runs only: a keyed batch's container may have lost its cache, hold a stale one, or turn zombie.
  const containerFaults = deps.states && faultsEnabled() ? new ContainerFaults(executor, deps.states, (states) => new StageExecutor(deps.plan, stage, states, deps.lineage)) : undefined;
  const noFaults = (): void => {};

  /**
   * Runs an event's records as one (logical) shard: `group` names the key group when the stage has several,
   * and `share` is the part of the invocation this group is (chaos runs draw its faults at that share).
   */
  const runShard = async (event: KinesisStreamEvent, group: number | undefined, share = 1): Promise<void> => {
    const started = clock();
    const decoded = toStageBatch(stage, event);
    const unreadable = decoded.deadLetters;
    const batch = group === undefined ? decoded.batch : { ...decoded.batch, shardId: logicalShard(decoded.batch.shardId, group, keyGroups) };
    // Chaos runs only (inert otherwise): crash points between the effects, salted by what the batch holds.
    const salt = `${stage.id}/${batch.shardId}/${event.Records[0]!.kinesis.sequenceNumber}-${event.Records[event.Records.length - 1]!.kinesis.sequenceNumber}`;
    faultPoint('after-decode', salt, share);
    const on = containerFaults ? await containerFaults.before(batch, salt, share) : executor;
    if (on === 'zombie') throw await containerFaults!.zombie(batch, salt, (z, prepared) => runToCommit(z, batch, unreadable, noFaults, prepared));
    const countsBefore = deps.states && { ...deps.states.counters };
    const { result, markers } = await runToCommit(on, batch, unreadable, (name) => faultPoint(name, salt, share));
    faultPoint('after-commit', salt, share);
    // After the commit: a watermark function deciding to sleep reads the shards' log heads after saying
    // so, so either it sees this shard active or this claim sees it asleep.
    if (result.wokeInput && deps.wakeWatermark && (await deps.coordination.claimWatermarkWake())) await wake(deps.wakeWatermark);
    faultPoint('before-return', salt, share);
    const done = clock();
    const countsAfter = deps.states?.counters;
    deps.onInvocation?.({
      stage: stage.id,
      shardId: batch.shardId,
      recordsIn: event.Records.length,
      shuffled: result.shuffles.reduce((n, o) => n + o.elements.length, 0),
      outputs: result.outputs.length,
      late: result.late.length,
      deadLetters: unreadable.length + result.deadLetters.length,
      markers,
      watermarkMs: result.watermarkMs,
      durationMs: done - started,
      atMs: done,
      elementsIn: batch.kind === 'source' ? event.Records.length : batch.inputs.reduce((n, i) => n + (i.kind === 'envelope' ? i.elements.length : 0), 0),
      ...(countsBefore &&
        countsAfter && {
          stateAppends: countsAfter.appends - countsBefore.appends,
          stateBytes: countsAfter.bytesAppended - countsBefore.bytesAppended,
          lostSlots: countsAfter.lostSlots - countsBefore.lostSlots,
          stateLoads: countsAfter.loads - countsBefore.loads,
          shardStateBytes: deps.states!.bytesOf(executor.logOf(batch.shardId)),
        }),
      lateSample: lateSample(result.late),
      deadLetterSample: deadLetterSample([...unreadable, ...result.deadLetters]),
    });
  };

  return async (event) => {
    if (event.Records.length === 0) return { batchItemFailures: [] };
    if (keyGroups <= 1) await runShard(event, undefined);
    // One logical shard after another; a retry of the batch finds the groups already committed in their logs.
    else {
      const groups = splitByKeyGroup(stage.id, event.Records, keyGroups);
      for (const [group, records] of groups) await runShard({ ...event, Records: records }, group, 1 / groups.size);
    }
    return { batchItemFailures: [] };
  };
}

/**
 * A batch of a stage with key groups, split by the records' partition keys (each a key group's name, see
 * lib/runtime/keyed/key-groups.ts), each group's records in their order, the groups in order of first
 * appearance. A record under another partition key was put by a sender that did not know the stage's key
 * groups: applying it to any one group would split its keys' state, so the batch fails and says so.
 */
export function splitByKeyGroup(stageId: string, records: readonly KinesisStreamRecord[], keyGroups: number): Map<number, KinesisStreamRecord[]> {
  const byGroup = new Map<number, KinesisStreamRecord[]>();
  for (const r of records) {
    const group = groupOfPartitionKey(r.kinesis.partitionKey, keyGroups);
    if (group === undefined) {
      throw new Error(
        `stage ${stageId} has ${keyGroups} key groups, but record ${r.kinesis.sequenceNumber} has partition key '${r.kinesis.partitionKey}', which names none (g0..g${keyGroups - 1}): were its key groups changed while records were in flight? Drain the job (\`shardflow drain\`) before changing keyGroups`,
      );
    }
    let list = byGroup.get(group);
    if (!list) byGroup.set(group, (list = []));
    list.push(r);
  }
  return byGroup;
}
