/**
 * The window vocabulary shared by the API, the planner and the runtime (Flink's TimeWindow,
 * WindowAssigner and the firing rule of its event-time trigger).
 */

/** A half-open event-time interval [start, end), in epoch ms. */
export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/** The last timestamp that belongs to a window: Flink's `maxTimestamp()`. */
export const maxTimestamp = (w: TimeWindow): number => w.end - 1;

/** How a keyed stream is cut into windows. Plain data: the plan prints it and infra reads it. */
export type WindowAssignerSpec = (
  | { readonly kind: 'tumbling'; readonly sizeMs: number; readonly time?: 'processing' }
  | { readonly kind: 'sliding'; readonly sizeMs: number; readonly slideMs: number; readonly time?: 'processing' }
  | { readonly kind: 'session'; readonly gapMs: number; readonly time?: 'processing' }
  /** Flink's CumulativeWindowAssigner: windows start every `sizeMs` and end every `stepMs` after their start, up to `sizeMs`. */
  | { readonly kind: 'cumulative'; readonly sizeMs: number; readonly stepMs: number; readonly time?: 'processing' }
  | { readonly kind: 'count'; readonly size: number; readonly slide: number }
) & {
  /** The values as written when one is not a duration (`{ size: '-1s' }`), for the planner's message. */
  readonly invalid?: Readonly<Record<string, unknown>>;
};

/** Whether windows are cut and fired by processing time (Kinesis arrival time) rather than event time. */
export const isProcessingTime = (spec: WindowAssignerSpec): boolean => spec.kind !== 'count' && spec.time === 'processing';

/** Non-negative remainder, so windows align to the epoch for negative timestamps too. */
const mod = (a: number, b: number): number => ((a % b) + b) % b;

/**
 * The time windows an element with timestamp `ts` belongs to, aligned to the epoch
 * (start = ts − ts mod slide), earliest first. Sessions start as [ts, ts + gap) and merge later.
 * Cumulative windows share the start of the size's period and end at each step after `ts` up to its end,
 * earliest end first: for size 10 s, step 2 s, 13 s is in [10 s, 14 s), [10 s, 16 s), [10 s, 18 s), [10 s, 20 s).
 */
export function assignTimeWindows(spec: WindowAssignerSpec, ts: number): TimeWindow[] {
  switch (spec.kind) {
    case 'tumbling': {
      const start = ts - mod(ts, spec.sizeMs);
      return [{ start, end: start + spec.sizeMs }];
    }
    case 'sliding': {
      const windows: TimeWindow[] = [];
      const lastStart = ts - mod(ts, spec.slideMs);
      for (let start = lastStart; start > ts - spec.sizeMs; start -= spec.slideMs) {
        windows.push({ start, end: start + spec.sizeMs });
      }
      return windows.reverse();
    }
    case 'session':
      return [{ start: ts, end: ts + spec.gapMs }];
    case 'cumulative': {
      const windows: TimeWindow[] = [];
      const start = ts - mod(ts, spec.sizeMs);
      for (let end = ts - mod(ts, spec.stepMs) + spec.stepMs; end <= start + spec.sizeMs; end += spec.stepMs) windows.push({ start, end });
      return windows;
    }
    case 'count':
      throw new Error('count windows are assigned by element count, not by time');
  }
}

/**
 * Flink's lateness rule: a window is late once the watermark has passed its last timestamp plus the
 * allowed lateness; its state is gone (or going) and it may not be updated.
 */
export const isWindowLate = (w: TimeWindow, allowedLatenessMs: number, watermarkMs: number): boolean =>
  maxTimestamp(w) + allowedLatenessMs <= watermarkMs;

/** Flink's event-time trigger: a window fires when the watermark reaches its last timestamp. */
export const isWindowDue = (w: TimeWindow, watermarkMs: number): boolean => maxTimestamp(w) <= watermarkMs;

/** Whether two session windows overlap or touch, and so merge (Flink's `TimeWindow.intersects`). */
export const intersects = (a: TimeWindow, b: TimeWindow): boolean => a.start <= b.end && b.start <= a.end;

/** The smallest window that covers both. */
export const cover = (a: TimeWindow, b: TimeWindow): TimeWindow => ({
  start: Math.min(a.start, b.start),
  end: Math.max(a.end, b.end),
});
