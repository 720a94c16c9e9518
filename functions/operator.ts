import { createStageHandler } from '../lib/io/stage-handler';
import { KinesisWriter } from '../lib/io/kinesis-writer';
import { stageBatchMetrics } from '../lib/io/metrics';
import { backend, kinesis, logger, metrics, plan, sinks, stateCounters } from './runtime-env';

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
  stateCounters,
  onInvocation: ({ lateSample, deadLetterSample, ...info }) => {
    metrics.publish(info.stage, stageBatchMetrics(info));
    logger.info('stage batch', { ...info });
    if (lateSample?.length) logger.warn('late records', { stage: info.stage, late: info.late, sample: lateSample });
    if (deadLetterSample?.length) logger.warn('dead letters', { stage: info.stage, deadLetters: info.deadLetters, sample: deadLetterSample });
  },
});
