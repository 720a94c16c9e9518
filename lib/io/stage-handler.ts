import type { Plan } from '../plan/plan';
import { StageExecutor } from '../runtime/stage-executor';
import type { StateBackend } from '../state/backend';
import { toStageBatch, type BatchResponse, type KinesisStreamEvent } from './kinesis-event';
import { KinesisWriter } from './kinesis-writer';
import { emitShuffle } from './shuffle-emitter';
import { faultPoint } from './fault-points';
import type { SinkWriter } from './sinks';
import { deadLetterSample, lateSample, type DeadLetterSample, type LateRecordSample, type StateWriteCounts } from './metrics';

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
  /** State item writes (blind ADDs, versioned puts) and writes refused by their condition, when the backend counts them. */
  readonly stateWrites?: number;
  readonly conditionFailures?: number;
  /** Processing time when the batch was done (watermark lag = atMs − watermarkMs). */
  readonly atMs?: number;
  /** A few of the batch's late records and dead letters, for the logs and the dashboard. */
  readonly lateSample?: readonly LateRecordSample[];
  readonly deadLetterSample?: readonly DeadLetterSample[];
}

export interface StageHandlerDeps {
  readonly plan: Plan;
  readonly stageId: string;
  readonly backend: StateBackend;
  readonly sinks: SinkWriter;
  /** The next stage's stream, when the stage shuffles. */
  readonly shuffleWriter?: KinesisWriter;
  readonly clock?: () => number;
  readonly onInvocation?: (info: StageInvocation) => void;
  /** The backend's write counters so far (e.g. `DynamoBackend.counters`), for per-batch metrics. */
  readonly stateCounters?: () => StateWriteCounts;
}

/**
 * The Lambda handler of one stage, for a Kinesis event. The order of effects is what makes a retry
 * safe: state (exactly once by origin marks) → dead letters and sink outputs (idempotent) → envelopes
 * and markers to the next stage (deduplicated downstream by origin marks) → input progress last. A
 * crash anywhere means Lambda retries the batch (or bisects it), and nothing happens twice.
 */
export function createStageHandler(deps: StageHandlerDeps): (event: KinesisStreamEvent) => Promise<BatchResponse> {
  const stage = deps.plan.stages.find((s) => s.id === deps.stageId);
  if (!stage) throw new Error(`job ${deps.plan.job} has no stage '${deps.stageId}' (stages: ${deps.plan.stages.map((s) => s.id).join(', ')})`);
  if (stage.output.kind === 'shuffle' && !deps.shuffleWriter) throw new Error(`stage ${stage.id} shuffles to ${stage.output.stream} but has no Kinesis writer`);
  const executor = new StageExecutor(deps.plan, stage, deps.backend);
  const clock = deps.clock ?? Date.now;

  return async (event) => {
    const started = clock();
    if (event.Records.length === 0) return { batchItemFailures: [] };
    const { batch, deadLetters: unreadable } = toStageBatch(stage, event, started);
    // Chaos runs only (inert otherwise): crash points between the effects, salted by what the batch holds.
    const salt = `${stage.id}/${batch.shardId}/${event.Records[0]!.kinesis.sequenceNumber}-${event.Records[event.Records.length - 1]!.kinesis.sequenceNumber}`;
    faultPoint('after-decode', salt);
    const countsBefore = deps.stateCounters?.();
    const result = await executor.runBatch(batch);
    faultPoint('after-state', salt);
    await deps.sinks.deadLetters([...unreadable, ...result.deadLetters]);
    await deps.sinks.write(result.outputs);
    faultPoint('after-sinks', salt);
    let markers = 0;
    if (stage.output.kind === 'shuffle') {
      markers = (await emitShuffle(deps.shuffleWriter!, batch.shardId, result.shuffled, result.watermark)).markers;
      faultPoint('after-envelopes', salt);
    }
    await executor.commit(result);
    faultPoint('before-return', salt);
    const countsAfter = deps.stateCounters?.();
    const done = clock();
    deps.onInvocation?.({
      stage: stage.id,
      shardId: batch.shardId,
      recordsIn: event.Records.length,
      shuffled: result.shuffled.length,
      outputs: result.outputs.length,
      late: result.late.length,
      deadLetters: unreadable.length + result.deadLetters.length,
      markers,
      watermarkMs: result.watermark.afterMs,
      durationMs: done - started,
      atMs: done,
      elementsIn: batch.kind === 'source' ? event.Records.length : batch.elements.length,
      ...(countsBefore && countsAfter && { stateWrites: countsAfter.writes - countsBefore.writes, conditionFailures: countsAfter.conditionFailures - countsBefore.conditionFailures }),
      lateSample: lateSample(result.late),
      deadLetterSample: deadLetterSample([...unreadable, ...result.deadLetters]),
    });
    return { batchItemFailures: [] };
  };
}
