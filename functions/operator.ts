import { asyncInvoker } from '../lib/io/aws-clients';
import { createStageHandler, shuffleWritersFor } from '../lib/io/stage-handler';
import { KinesisWriter } from '../lib/io/kinesis-writer';
import { shardLineage } from '../lib/io/shard-list';
import { stageBatchMetrics } from '../lib/io/metrics';
import { coordination, kinesis, logger, metrics, plan, sinks, states } from './runtime-env';

/** A stage function: SHARDFLOW_STAGE names the stage this deployment of the function runs. */
const stageId = process.env.SHARDFLOW_STAGE ?? 's0';
const stage = plan.stages.find((s) => s.id === stageId);
const shuffleWriters = stage ? shuffleWritersFor(stage, (stream) => new KinesisWriter(kinesis, stream)) : new Map<string, KinesisWriter>();
/** The watermark function to wake when the job comes back from idleness (set by the deployment). */
const watermarkFunction = process.env.SHARDFLOW_WATERMARK_FUNCTION;
const invokeWatermark = watermarkFunction ? asyncInvoker(watermarkFunction) : undefined;

export const handler = createStageHandler({
  plan,
  stageId,
  ...(stage?.keyed && { states }),
  // A child shard of a reshard of the stage's input stream takes its parents' state for its hash range.
  ...(stage?.keyed && { lineage: (shardId: string) => shardLineage(kinesis, stage.input.stream, shardId) }),
  coordination,
  sinks,
  shuffleWriters,
  ...(invokeWatermark && { wakeWatermark: () => invokeWatermark({ source: 'shardflow.wake', stage: stageId }) }),
  warn: (message, detail) => logger.warn(message, detail),
  onInvocation: ({ lateSample, deadLetterSample, ...info }) => {
    metrics.publish(info.stage, stageBatchMetrics(info));
    logger.info('stage batch', { ...info });
    if (lateSample?.length) logger.warn('late records', { stage: info.stage, late: info.late, sample: lateSample });
    if (deadLetterSample?.length) logger.warn('dead letters', { stage: info.stage, deadLetters: info.deadLetters, sample: deadLetterSample });
  },
});
