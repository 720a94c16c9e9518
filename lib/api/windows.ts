import { toMs, type Duration } from '../time/duration';
import type { WindowAssignerSpec } from '../time/window';

/** Options of the time windows. */
export interface TimeWindowOptions {
  /**
   * 'event' (default): windows by the element's event time, fired as the watermark passes them.
   * 'processing': windows by when the element reached its keyed stage (its Kinesis arrival time), fired once
   * the stage processes a record that arrived at or after the window's end, ticks included (Flink's
   * TumblingProcessingTimeWindows, SlidingProcessingTimeWindows, ProcessingTimeSessionWindows).
   */
  time?: 'event' | 'processing';
}

/**
 * Fixed-size, non-overlapping windows aligned to the epoch.
 * @example .window(tumbling('5s'))  .window(tumbling('5s', { time: 'processing' }))
 */
export const tumbling = (size: Duration, options: TimeWindowOptions = {}): WindowAssignerSpec => ({
  kind: 'tumbling',
  sizeMs: durationField(size),
  ...clock(options),
  ...invalid({ size }),
});

/**
 * Windows of `size` starting every `slide`; each element belongs to size / slide windows.
 * @example .window(sliding('5s', '1s'))
 */
export const sliding = (size: Duration, slide: Duration, options: TimeWindowOptions = {}): WindowAssignerSpec => ({
  kind: 'sliding',
  sizeMs: durationField(size),
  slideMs: durationField(slide),
  ...clock(options),
  ...invalid({ size, slide }),
});

/**
 * Cumulating windows (Flink SQL's CUMULATE): windows start every `size` (epoch-aligned) and end `step`,
 * 2 × `step`, … up to `size` after their start, so each result is the running aggregate of its period so far.
 * An element belongs to every window of its period that ends after it; `size` must be a multiple of `step`.
 * The windows of a period share their `windowStart`, so a DynamoDB results table (an item per key and
 * windowStart) holds each period's latest window: the running total so far.
 * @example .window(cumulative('1d', '1h'))   // [00:00, 01:00), [00:00, 02:00), …, [00:00, 24:00) each day
 */
export const cumulative = (size: Duration, step: Duration, options: TimeWindowOptions = {}): WindowAssignerSpec => ({
  kind: 'cumulative',
  sizeMs: durationField(size),
  stepMs: durationField(step),
  ...clock(options),
  ...invalid({ size, step }),
});

/**
 * Per-key sessions: a session closes after `gap` without elements; sessions that come to overlap merge.
 * @example .window(session('30s'))
 */
export const session = (gap: Duration, options: TimeWindowOptions = {}): WindowAssignerSpec => ({
  kind: 'session',
  gapMs: durationField(gap),
  ...clock(options),
  ...invalid({ gap }),
});

/** Event time is the default and is left out of the spec, so event-time plans print and compare as before. */
const clock = (options: TimeWindowOptions): { time?: 'processing' } => (options.time === 'processing' ? { time: 'processing' } : {});

/**
 * Per-key windows of `size` elements, every `slide` elements (default: tumbling). Results carry element
 * ordinals (0-based, per key) in `windowStart`/`windowEnd` instead of times.
 * @example .window(countWindow(100))
 */
export const countWindow = (size: number, slide: number = size): WindowAssignerSpec => ({ kind: 'count', size, slide });

/** Durations are checked by the planner, which names the operator: NaN until then, with the value as written. */
function durationField(d: Duration): number {
  try {
    return toMs(d);
  } catch {
    return Number.NaN;
  }
}

/** `{ invalid: { size: '-1s' } }` when a duration is not one, so the planner's message can echo it. */
function invalid(durations: Record<string, Duration>): { invalid?: Record<string, unknown> } {
  const bad = Object.entries(durations).filter(([, d]) => Number.isNaN(durationField(d)));
  return bad.length > 0 ? { invalid: Object.fromEntries(bad) } : {};
}
