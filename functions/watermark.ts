import { createWatermarkHandler } from '../lib/io/watermark-handler';
import { backend, logJson, plan, sinks } from './runtime-env';

/**
 * The scheduled watermark function. EventBridge runs it at most once a minute, so it may tick inside one
 * invocation: SHARDFLOW_WATERMARK_LOOP_MS (e.g. 55000 on AWS) and SHARDFLOW_WATERMARK_TICK_MS (default 1000).
 */
export const handler = createWatermarkHandler({
  plan,
  backend,
  sinks,
  loopForMs: Number(process.env.SHARDFLOW_WATERMARK_LOOP_MS ?? 0),
  tickMs: Number(process.env.SHARDFLOW_WATERMARK_TICK_MS ?? 1000),
  onTick: (tick) => logJson({ type: 'watermark-tick', ...tick }),
});
