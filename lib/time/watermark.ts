/**
 * Event-time progress. A source shard's watermark is the highest event time it has seen minus the
 * declared out-of-orderness (Flink's BoundedOutOfOrdernessWatermarks); a stage's watermark is the
 * minimum over its inputs, ignoring inputs idle for longer than `idleAfter` (Flink's `withIdleness`).
 */

/** No watermark yet: nothing is due. */
export const NO_WATERMARK = Number.MIN_SAFE_INTEGER;
/** End of input: everything is due (Flink's MAX_WATERMARK at the end of a bounded stream). */
export const END_OF_INPUT = Number.MAX_SAFE_INTEGER;

/** What a stage knows of one of its inputs (a source shard, or an upstream shard heard through the stream). */
export interface InputWatermark {
  /** The input's watermark, epoch ms. */
  readonly watermarkMs: number;
  /** Processing time of the last record seen on this input, for idleness. */
  readonly lastActiveMs: number;
}

/** The watermark of a shard that has seen event times up to `maxEventTimeMs`. */
export const boundedOutOfOrderness = (maxEventTimeMs: number, outOfOrdernessMs: number): number =>
  maxEventTimeMs === NO_WATERMARK ? NO_WATERMARK : maxEventTimeMs - outOfOrdernessMs - 1;

/**
 * The combined watermark of several inputs at processing time `nowMs`: the minimum over the inputs
 * active within `idleAfterMs`. When every input is idle the stage holds the highest watermark seen,
 * so windows of a quiet job still close.
 */
export function combineWatermarks(inputs: readonly InputWatermark[], nowMs: number, idleAfterMs: number): number {
  let active = Number.POSITIVE_INFINITY;
  let highest = NO_WATERMARK;
  for (const input of inputs) {
    highest = Math.max(highest, input.watermarkMs);
    if (nowMs - input.lastActiveMs < idleAfterMs) active = Math.min(active, input.watermarkMs);
  }
  return active === Number.POSITIVE_INFINITY ? highest : active;
}
