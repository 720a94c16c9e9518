import type { KeyedOperator } from '../../plan/plan';
import { assignTimeWindows, cover, intersects, isProcessingTime, type TimeWindow, type WindowAssignerSpec } from '../../time/window';
import { accumulationFor, type Accumulation } from '../accumulation';
import { RecordError, recordDeadLetterId, versionOrder, type Element, type Output } from '../records';
import { shortText, type KeyedOperatorRuntime, type OperatorContext } from './keyed-operator';

type WindowOperator = Extract<KeyedOperator, { kind: 'window' }>;

/**
 * One window of a key: [start, end, accumulator, firings] (a tuple: the shard's log bills per byte). A window
 * is its start and end: cumulative windows share their start.
 */
type Win = [start: number, end: number, acc: unknown, firings: number];
/**
 * A key's time windows or sessions, earliest first, and how many results the key has emitted: the sink
 * keeps a result only over an older one (`order`), and a session that grew fires again under a new end.
 */
interface KeyWindows {
  n: number;
  w: Win[];
}
/** A key's count window: elements seen so far and the values still inside a window. */
interface KeyCount {
  seen: number;
  buffer: unknown[];
}

/** The keyed operator of a window: time windows and sessions share one trigger; count windows fire as elements come. */
export function windowOperator(op: WindowOperator): KeyedOperatorRuntime {
  const acc = accumulationFor(op.fn, op.id);
  if (op.assigner.kind === 'count') return countWindows(op, op.assigner.size, op.assigner.slide, acc);
  const windows = timeWindows(op, op.assigner, acc);
  if (!isProcessingTime(op.assigner)) return windows;
  // Processing time: the same windows and trigger on the shard's processing-time clock, due at their end (see
  // timeWindows), instead of on its watermark.
  return {
    ...windows,
    onWatermark: () => undefined,
    nextFireAt: () => undefined,
    onProcessingTime: windows.onWatermark,
    nextProcessingTimeAt: (keyState) => {
      const at = windows.nextFireAt(keyState);
      return at === undefined ? undefined : at + 1;
    },
  };
}

/**
 * Tumbling, sliding, cumulative and session windows, with Flink's EventTimeTrigger and cleanup: a window fires when the
 * watermark reaches its last timestamp; an element for a window already due fires it again at once (a late
 * firing, within the allowed lateness); the window is dropped once the watermark passes its last timestamp
 * plus the allowed lateness, and an element for a dropped window is late. Sessions merge first and decide
 * lateness on the merged window, as Flink's MergingWindowSet does.
 *
 * With processing time (Flink's ProcessingTimeTrigger) an element's time is its arrival and a window is due
 * at its end, the first millisecond after it: at a record that arrived at or after it, before that record's
 * elements. The clock the trigger reads is then one below the shard's processing time, so the same tests
 * serve. An element's windows always lie ahead of the clock, so nothing is late, and a window fires once,
 * with every element that arrived in it — never again for one that arrives later, as a late event-time
 * firing would.
 */
function timeWindows(op: WindowOperator, assigner: WindowAssignerSpec, acc: Accumulation): KeyedOperatorRuntime {
  const L = op.allowedLatenessMs;
  const isSession = assigner.kind === 'session';
  const tumblingMs = assigner.kind === 'tumbling' ? assigner.sizeMs : 0;
  const processing = isProcessingTime(assigner);
  /** The clock windows fire by: the watermark, or the last millisecond before the shard's processing time. */
  const clockOf = (ctx: OperatorContext): number => (processing ? ctx.processingTimeMs - 1 : ctx.watermarkMs);
  /** Dropped once the watermark passes this; an element for it is late from then on. */
  const cleanupAt = (end: number): number => end - 1 + L;
  /** Whether a window ending at `end` is gone by `clock` (never, by processing time: see above). */
  const isLate = (end: number, clock: number): boolean => !processing && cleanupAt(end) <= clock;

  /** Emits a window's result(s); a window function that throws becomes a dead letter naming the window. */
  const fire = (key: string, kw: KeyWindows, w: Win, ctx: OperatorContext): void => {
    w[3] += 1;
    kw.n += 1;
    const [start, end, a, firings] = w;
    let results: Record<string, unknown>[];
    try {
      results = acc.result(a, { key, start, end });
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      ctx.fail({ id: `window/${op.id}/${key}/${start}/${end}/v${firings}`, operator: e.operator, reason: e.message, value: { key, windowStart: start, windowEnd: end } });
      return;
    }
    const order = versionOrder(kw.n);
    results.forEach((fields, i) => {
      const output: Output = {
        id: `${key}/${start}/${end}/v${firings}${i ? `.${i}` : ''}`,
        // The window's own fields win: a result carrying `key` or `windowStart` must not move to another item.
        record: Object.assign({ key, windowStart: start, windowEnd: end }, fields, { key, windowStart: start, windowEnd: end }),
        order,
      };
      ctx.emit(output, end - 1);
    });
  };

  /** The accumulator with one more value; undefined when the window function refused it (a dead letter said why). */
  const added = (a: unknown, element: Element, ctx: OperatorContext, report: boolean): unknown => {
    if (acc.addInPlace) {
      acc.addInPlace(a as Record<string, number>, element.value);
      return a;
    }
    try {
      return acc.add(a, element.value);
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      if (report) ctx.fail({ id: failureId(op.id, element), operator: e.operator, reason: e.message, value: element.value, element });
      return undefined;
    }
  };

  /** A value the window function cannot take (a missing or non-numeric field): one dead letter, whatever the windows. */
  const rejected = (element: Element, ctx: OperatorContext): boolean => {
    const reason = acc.reject(element.value);
    if (reason) ctx.fail({ id: failureId(op.id, element), operator: op.id, reason, value: element.value, element });
    return reason !== undefined;
  };

  const keyWindows = (key: string, ctx: OperatorContext): KeyWindows => {
    let kw = ctx.state.forUpdate(key) as KeyWindows | undefined;
    if (!kw) ctx.state.put(key, (kw = { n: 0, w: [] }));
    return kw;
  };

  const onTimeElement = (key: string, element: Element, ctx: OperatorContext): void => {
    const wm = clockOf(ctx);
    const ts = processing ? ctx.processingTimeMs : element.timestampMs;
    let windows: TimeWindow[];
    if (tumblingMs > 0) {
      const start = ts - (((ts % tumblingMs) + tumblingMs) % tumblingMs);
      windows = isLate(start + tumblingMs, wm) ? [] : [{ start, end: start + tumblingMs }];
    } else {
      windows = assignTimeWindows(assigner, ts).filter((w) => !isLate(w.end, wm));
    }
    if (windows.length === 0) return ctx.late(element);
    if (rejected(element, ctx)) return;
    const kw = keyWindows(key, ctx);
    let reported = false;
    for (const { start, end } of windows) {
      let w = kw.w.find((x) => x[0] === start && x[1] === end);
      const a = added(w ? w[2] : acc.create(), element, ctx, !reported);
      if (a === undefined) {
        reported = true;
        continue;
      }
      if (!w) {
        w = [start, end, a, 0];
        insertInOrder(kw.w, w);
      } else {
        w[2] = a;
      }
      // Due already (Flink's EventTimeTrigger.onElement): a late firing, or the first firing of a window
      // created after the watermark passed its end, within the allowed lateness.
      if (!processing && end - 1 <= wm) fire(key, kw, w, ctx);
    }
    if (kw.w.length === 0) ctx.state.put(key, undefined);
  };

  const onSessionElement = (key: string, element: Element, ctx: OperatorContext): void => {
    const wm = clockOf(ctx);
    const ts = processing ? ctx.processingTimeMs : element.timestampMs;
    const gapMs = (assigner as Extract<WindowAssignerSpec, { kind: 'session' }>).gapMs;
    const existing = (ctx.state.get(key) as KeyWindows | undefined)?.w ?? [];
    // Every session the new one overlaps or touches, until none is left (Flink's MergingWindowSet).
    let window: TimeWindow = { start: ts, end: ts + gapMs };
    let merging: Win[] = [];
    for (let more = existing.filter((s) => touches(s, window)); more.length > 0; more = existing.filter((s) => !merging.includes(s) && touches(s, window))) {
      for (const s of more) window = cover({ start: s[0], end: s[1] }, window);
      merging = [...merging, ...more];
    }
    if (isLate(window.end, wm)) return ctx.late(element);
    if (rejected(element, ctx)) return;
    const single = added(acc.create(), element, ctx, true);
    if (single === undefined) return;
    const kw = keyWindows(key, ctx);
    let merged: Win = [window.start, window.end, single, 0];
    for (const s of merging) {
      merged = [merged[0], merged[1], acc.merge(s[2], merged[2]), Math.max(s[3], merged[3])];
      kw.w.splice(kw.w.indexOf(s), 1);
    }
    insertInOrder(kw.w, merged);
    // Due: a late firing, or the first firing of a session created or extended within the allowed
    // lateness. Not due: a session that grew past the watermark fires again when the watermark reaches
    // its new end.
    if (!processing && merged[1] - 1 <= wm) fire(key, kw, merged, ctx);
    else merged[3] = 0;
  };

  return {
    id: op.id,
    onElement: isSession ? onSessionElement : onTimeElement,
    onWatermark(key, ctx) {
      const kw = ctx.state.forUpdate(key) as KeyWindows | undefined;
      if (!kw) return;
      const wm = clockOf(ctx);
      for (const w of kw.w) if (w[3] === 0 && w[1] - 1 <= wm) fire(key, kw, w, ctx);
      kw.w = kw.w.filter((w) => cleanupAt(w[1]) > wm);
      if (kw.w.length === 0) ctx.state.put(key, undefined);
    },
    nextFireAt(keyState) {
      let next: number | undefined;
      for (const w of (keyState as KeyWindows | undefined)?.w ?? []) {
        const at = w[3] === 0 ? w[1] - 1 : cleanupAt(w[1]);
        if (next === undefined || at < next) next = at;
      }
      return next;
    },
    pending: (keyState) =>
      ((keyState as KeyWindows | undefined)?.w ?? []).map(([startMs, endMs, a, firings]) => ({ startMs, endMs, fireAtMs: firings === 0 ? endMs - 1 : cleanupAt(endMs), value: shortText(a) })),
  };
}

const touches = (s: Win, w: TimeWindow): boolean => intersects({ start: s[0], end: s[1] }, w);

/** By start, then end: the windows of one start (cumulative) fire earliest end first. */
function insertInOrder(windows: Win[], w: Win): void {
  let i = windows.length;
  while (i > 0 && (windows[i - 1]![0] > w[0] || (windows[i - 1]![0] === w[0] && windows[i - 1]![1] > w[1]))) i--;
  windows.splice(i, 0, w);
}

/** A dead letter's id for an element an operator refused: its origin and the operator. */
export const failureId = (operator: string, e: Element): string => recordDeadLetterId(e.origin, operator);

/**
 * Count windows (Flink's countWindow: a count trigger plus, when sliding, a count evictor): every `slide`
 * elements of a key, the last `size` of them form a window. Fired as elements come; no timers. A result's
 * event time is the element's that completed the window (Flink's global window would say Long.MAX_VALUE,
 * which a later event-time window could not place).
 */
function countWindows(op: WindowOperator, size: number, slide: number, acc: Accumulation): KeyedOperatorRuntime {
  return {
    id: op.id,
    onElement(key, element, ctx) {
      const rejected = acc.reject(element.value);
      if (rejected) return ctx.fail({ id: failureId(op.id, element), operator: op.id, reason: rejected, value: element.value, element });
      let kc = ctx.state.forUpdate(key) as KeyCount | undefined;
      if (!kc) ctx.state.put(key, (kc = { seen: 0, buffer: [] }));
      kc.buffer.push(element.value);
      if (kc.buffer.length > size) kc.buffer.shift();
      kc.seen += 1;
      if (kc.seen % slide !== 0) return;
      const values = kc.buffer.slice(-Math.min(size, kc.seen));
      const start = kc.seen - values.length;
      const end = kc.seen;
      kc.buffer = size > slide ? kc.buffer.slice(-(size - slide)) : [];
      let a = acc.create();
      try {
        for (const value of values) a = acc.addInPlace ? (acc.addInPlace(a as Record<string, number>, value), a) : acc.add(a, value);
        acc.result(a, { key, start, end }).forEach((fields, i) =>
          ctx.emit(
            {
              id: `${key}/c${start}-${end}${i ? `.${i}` : ''}`,
              record: Object.assign({ key, windowStart: start, windowEnd: end }, fields, { key, windowStart: start, windowEnd: end }),
              order: versionOrder(1),
            },
            element.timestampMs,
          ),
        );
      } catch (e) {
        if (!(e instanceof RecordError)) throw e;
        ctx.fail({ id: `window/${op.id}/${key}/c${start}-${end}`, operator: e.operator, reason: e.message, value: { key, windowStart: start, windowEnd: end } });
      }
    },
    onWatermark: () => undefined,
    nextFireAt: () => undefined,
    pending: () => [],
  };
}
