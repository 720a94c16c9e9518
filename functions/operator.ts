import { createStageHandler } from '../lib/io/stage-handler';
import { KinesisWriter } from '../lib/io/kinesis-writer';
import { backend, kinesis, logJson, plan, sinks } from './runtime-env';

/** A stage function: SHARDFLOW_STAGE names the stage this deployment of the function runs. */
const stageId = process.env.SHARDFLOW_STAGE ?? 's0';
const stage = plan.stages.find((s) => s.id === stageId);
const shuffle = stage?.output.kind === 'shuffle' ? new KinesisWriter(kinesis, stage.output.stream) : undefined;

export const handler = createStageHandler({
  plan,
  stageId,
  backend,
  sinks,
  ...(shuffle && { shuffleWriter: shuffle }),
  onInvocation: (info) => logJson({ type: 'stage-batch', ...info }),
});
