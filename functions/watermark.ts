import { randomUUID } from 'node:crypto';
import { asyncInvoker } from '../lib/io/aws-clients';
import { createWatermarkHandler } from '../lib/io/watermark-handler';
import { watermarkTickMetrics } from '../lib/io/metrics';
import { listShardIds, shardParents } from '../lib/io/shard-list';
import { KinesisWriter } from '../lib/io/kinesis-writer';
import { sourceBacklogOf } from '../lib/io/source-backlog';
import { readUpgradeStart } from '../lib/state/dynamodb/dynamo-layout-record';
import { coordination, ddb, kinesis, logger, logs, metrics, plan } from './runtime-env';

/**
 * The scheduled watermark function: it puts tick records on keyed stages' input shards, so idle inputs
 * stop holding their watermark back. EventBridge runs it at most once a minute, so it may tick inside one
 * invocation: SHARDFLOW_WATERMARK_LOOP_MS (e.g. 55000 on AWS) and SHARDFLOW_WATERMARK_TICK_MS (default 1000).
 * With SHARDFLOW_WATERMARK_STOP_WHEN_IDLE=1 it returns as soon as every input is idle; a stage function
 * invokes it again when data comes back (SHARDFLOW_WATERMARK_FUNCTION on the stage functions). With
 * SHARDFLOW_WATERMARK_HAND_OVER_MS (its lease, the function's timeout) one invocation ticks at a time and
 * starts its successor at the end of its loop while events flow.
 */
const loopForMs = Number(process.env.SHARDFLOW_WATERMARK_LOOP_MS ?? 0);
const leaseMs = Number(process.env.SHARDFLOW_WATERMARK_HAND_OVER_MS ?? 0);
const self = process.env.AWS_LAMBDA_FUNCTION_NAME;
const invokeSelf = leaseMs > 0 && self ? asyncInvoker(self) : undefined;
const writers: Record<string, KinesisWriter> = {};

export const handler = createWatermarkHandler({
  plan,
  logs,
  coordination,
  writerFor: (stream) => (writers[stream] ??= new KinesisWriter(kinesis, stream)),
  loopForMs,
  tickMs: Number(process.env.SHARDFLOW_WATERMARK_TICK_MS ?? 1000),
  stopWhenIdle: process.env.SHARDFLOW_WATERMARK_STOP_WHEN_IDLE === '1',
  ...(invokeSelf && {
    handOver: {
      holder: () => randomUUID(),
      leaseMs,
      invokeSuccessor: () => invokeSelf({ source: 'shardflow.continue' }),
      warn: (message: string, detail: Record<string, unknown>) => logger.warn(message, detail),
    },
  }),
  // Which upstream shards each keyed shard waits for: every shard, by id.
  listShards: (stream) => listShardIds(kinesis, stream),
  // Which of them a reshard closed and are done (a child has a log): they stop holding watermarks back.
  shardParents: (stream) => shardParents(kinesis, stream),
  // Whether a silent source shard is quiet or its reader stalled: only a quiet one goes idle.
  sourceBacklog: sourceBacklogOf(kinesis),
  // Where the keyed stages this version added start reading the source (recorded at the upgrade).
  upgradeStart: () => readUpgradeStart(ddb, plan.stateTable),
  onTick: (tick) => {
    metrics.publish(tick.stage, watermarkTickMetrics(tick));
    logger.debug('watermark tick', { ...tick });
  },
});
