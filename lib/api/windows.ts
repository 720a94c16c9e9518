import { toMs, type Duration } from '../time/duration';
import type { WindowAssignerSpec } from '../time/window';

/**
 * Fixed-size, non-overlapping windows aligned to the epoch.
 * @example .window(tumbling('5s'))
 */
export const tumbling = (size: Duration): WindowAssignerSpec => ({ kind: 'tumbling', sizeMs: durationField(size), ...invalid({ size }) });

/**
 * Windows of `size` starting every `slide`; each element belongs to size / slide windows.
 * @example .window(sliding('5s', '1s'))
 */
export const sliding = (size: Duration, slide: Duration): WindowAssignerSpec => ({
  kind: 'sliding',
  sizeMs: durationField(size),
  slideMs: durationField(slide),
  ...invalid({ size, slide }),
});

/**
 * Per-key sessions: a session closes after `gap` without elements; sessions that come to overlap merge.
 * @example .window(session('30s'))
 */
export const session = (gap: Duration): WindowAssignerSpec => ({ kind: 'session', gapMs: durationField(gap), ...invalid({ gap }) });

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
