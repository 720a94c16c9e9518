import type { Plan } from '../plan/plan';
import { StageExecutor } from '../runtime/stage-executor';
import type { StateBackend } from '../state/backend';
import { toStageBatch, type BatchResponse, type KinesisStreamEvent } from './kinesis-event';
import { KinesisWriter } from './kinesis-writer';
import { emitShuffle } from './shuffle-emitter';
import type { SinkWriter } from './sinks';

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
    const result = await executor.runBatch(batch);
    await deps.sinks.deadLetters([...unreadable, ...result.deadLetters]);
    await deps.sinks.write(result.outputs);
    let markers = 0;
    if (stage.output.kind === 'shuffle') {
      markers = (await emitShuffle(deps.shuffleWriter!, batch.shardId, result.shuffled, result.watermark)).markers;
    }
    await executor.commit(result);
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
      durationMs: clock() - started,
    });
    return { batchItemFailures: [] };
  };
}
