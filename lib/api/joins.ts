import type { ProcessFunctionSpec } from '../plan/plan';
import { assignTimeWindows, maxTimestamp, type WindowAssignerSpec } from '../time/window';
import { outputTag, type CoGroupFunction, type JoinFunction, type KeyedContext } from './functions';
import { mapState, type MapState, type StateDescriptor } from './state';
import type { JoinContext } from '../runtime/keyed/process-operator';

/**
 * The joins are co-process functions shardflow writes for you, on the same keyed state and event-time
 * timers a user's co-process function has: so they inherit its exactly-once state, its replays and its
 * dead letters, and the stage that runs them is an ordinary two-input keyed stage.
 */

type Context = KeyedContext<Record<string, StateDescriptor>, object>;
/** The process operator's context also emits with an event time of its own choosing (a join result's), and counts late records. */
type TimedContext = Context & JoinContext;
type Handler = ProcessFunctionSpec['onEvent'][number];

const bufferOf = (ctx: Context, side: 'left' | 'right'): MapState<unknown[]> => ctx.state[side] as unknown as MapState<unknown[]>;

/**
 * Flink's IntervalJoinOperator: a left record at `t` joins the right records at [t + lower, t + upper]
 * (both inclusive), whichever comes first; the result's event time is the later of the two. A record
 * behind the watermark is late: dropped, as in Flink, or sent to its side's late-data side output. Each side keeps its records, by event time,
 * until the watermark passes the last time the other side could still match them (Flink's cleanup
 * timers: a left record at `t` until t + upper, a right one at `t` until t − lower).
 */
export function intervalJoinFunction(lowerMs: number, upperMs: number, fn: JoinFunction<unknown, unknown, object>, lateTags: { readonly left?: string; readonly right?: string } = {}): ProcessFunctionSpec {
  const leftCleanup = (t: number): number => (upperMs > 0 ? t + upperMs : t);
  const rightCleanup = (t: number): number => (lowerMs < 0 ? t - lowerMs : t);
  const onSide =
    (side: 'left' | 'right'): Handler =>
    (event, context) => {
      const ctx = context as TimedContext;
      const t = ctx.timestamp;
      if (t < ctx.watermark) {
        const tag = lateTags[side];
        if (tag) ctx.output(outputTag(tag), event as object);
        ctx.late();
        return;
      }
      const own = bufferOf(ctx, side);
      own.put(String(t), [...(own.get(String(t)) ?? []), event]);
      // For a left record the right ones in [t + lower, t + upper]; for a right one, the left in [t − upper, t − lower].
      const [from, to] = side === 'left' ? [t + lowerMs, t + upperMs] : [t - upperMs, t - lowerMs];
      const others = [...bufferOf(ctx, side === 'left' ? 'right' : 'left').entries()]
        .map(([ts, list]) => [Number(ts), list] as const)
        .filter(([ts]) => ts >= from && ts <= to)
        .sort((a, b) => a[0] - b[0]);
      for (const [ts, list] of others) {
        const at = Math.max(t, ts);
        for (const other of list) {
          const [left, right] = side === 'left' ? [event, other] : [other, event];
          ctx.emitAt(fn(left, right, { key: ctx.key, timestamp: at }), at);
        }
      }
      ctx.timers.registerEventTime(side === 'left' ? leftCleanup(t) : rightCleanup(t));
    };
  return {
    state: { left: mapState<unknown[]>(), right: mapState<unknown[]>() },
    onEvent: [onSide('left'), onSide('right')],
    onTimer: (timestampMs, ctx) => {
      for (const [side, cleanup] of [
        ['left', leftCleanup],
        ['right', rightCleanup],
      ] as const) {
        const buffer = bufferOf(ctx, side);
        for (const [ts] of buffer.entries()) if (cleanup(Number(ts)) <= timestampMs) buffer.remove(ts);
      }
    },
  };
}

/**
 * Flink's window join and coGroup: both streams' records are assigned to the (tumbling or sliding)
 * windows of their event time; when the watermark passes a window's last millisecond, `join` makes a
 * result of every pair of the window's left and right records (none when a side is empty), `coGroup`
 * sees both sides at once. Results carry the window's last millisecond as their event time. A record for
 * windows that have all fired is late and dropped (a join has no allowed lateness in Flink's DataStream API).
 */
export function windowJoinFunction(
  assigner: WindowAssignerSpec,
  spec: { readonly kind: 'join'; readonly fn: JoinFunction<unknown, unknown, object> } | { readonly kind: 'coGroup'; readonly fn: CoGroupFunction<unknown, unknown, object> },
): ProcessFunctionSpec {
  type Sides = { l: unknown[]; r: unknown[] };
  const windowsOf = (ctx: Context): MapState<Sides> => ctx.state.windows as unknown as MapState<Sides>;
  const onSide =
    (side: 'l' | 'r'): Handler =>
    (event, context) => {
      const ctx = context as TimedContext;
      const windows = windowsOf(ctx);
      const assigned = assignTimeWindows(assigner, ctx.timestamp);
      // Late for every window it belongs to: dropped, and counted.
      if (assigned.every((w) => maxTimestamp(w) <= ctx.watermark)) return ctx.late();
      for (const w of assigned) {
        if (maxTimestamp(w) <= ctx.watermark) continue;
        const id = `${w.start}:${w.end}`;
        const held = windows.get(id) ?? { l: [], r: [] };
        windows.put(id, { ...held, [side]: [...held[side], event] });
        ctx.timers.registerEventTime(maxTimestamp(w));
      }
    };
  return {
    state: { windows: mapState<Sides>() },
    onEvent: [onSide('l'), onSide('r')],
    onTimer: (timestampMs, context) => {
      const ctx = context as TimedContext;
      const windows = windowsOf(ctx);
      const due = [...windows.entries()]
        .map(([id, sides]) => ({ id, start: Number(id.split(':')[0]), end: Number(id.split(':')[1]), sides }))
        .filter((w) => w.end - 1 <= timestampMs)
        .sort((a, b) => a.start - b.start);
      for (const w of due) {
        windows.remove(w.id);
        const at = w.end - 1;
        const join = { key: ctx.key, timestamp: at };
        if (spec.kind === 'join') {
          for (const left of w.sides.l) for (const right of w.sides.r) ctx.emitAt(spec.fn(left, right, join), at);
        } else {
          const out = spec.fn(w.sides.l, w.sides.r, { ...join, window: { start: w.start, end: w.end } });
          for (const o of Array.isArray(out) ? out : [out]) ctx.emitAt(o, at);
        }
      }
    },
  };
}
