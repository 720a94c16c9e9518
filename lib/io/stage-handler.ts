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
  /**
   * Starts the watermark function now (on AWS an asynchronous Lambda invoke), for a batch of a keyed
   * stage (whose inputs the watermark function reads) that finds the job waking from idleness while the
   * watermark function sleeps. Without it a sleeping watermark function resumes on its schedule (within a
   * minute).
   */
  readonly wakeWatermark?: () => Promise<void>;
  /** Warnings that do not fail the batch (a wake that could not be sent). */
  readonly warn?: (message: string, detail: Record<string, unknown>) => void;
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
  const wake = async (send: () => Promise<void>): Promise<void> => {
    try {
      await send();
    } catch (e) {
      // Nothing is lost: the schedule starts the watermark function within a minute. Say it sleeps
      // again, so the next stage function to wake from idleness tries too.
      deps.warn?.('could not wake the watermark function', { stage: stage.id, error: (e as Error).message });
      await deps.backend.markWatermarkAsleep();
    }
  };

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
    // After the commit: a watermark function deciding to sleep reads the keyed stages' inputs after
    // saying so, so either it sees this batch's input active or this claim sees it asleep.
    if (stage.keyed && result.wokeInput && deps.wakeWatermark && (await deps.backend.claimWatermarkWake())) await wake(deps.wakeWatermark);
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
