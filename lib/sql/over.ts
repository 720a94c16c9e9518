/**
 * Flink's event-time OVER aggregation (`SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS | RANGE BETWEEN …
 * PRECEDING AND CURRENT ROW)`) as one keyed process function, keyed by the PARTITION BY values. A row waits
 * in state, by its time, until the watermark passes it; then it is emitted once, with the aggregates of its
 * frame, and never changed (append-only). A row already behind the watermark when it comes is dropped.
 *
 * - **ROWS** (Flink's RowTimeRowsBoundedPrecedingFunction, RowTimeRowsUnboundedPrecedingFunction): rows of
 *   one time go in arrival order, and each frame is the row and the n rows before it.
 * - **RANGE** (RowTimeRangeBoundedPrecedingFunction, RowTimeRangeUnboundedPrecedingFunction): the frame is
 *   every row whose time is within the interval before the row's, and all rows of one time share it.
 *
 * The frame's aggregates are one accumulator: a row entering adds to it, a row leaving a bounded frame
 * takes back what it added (aggregates.ts's retracting accumulators: MIN and MAX keep their values' multiset).
 *
 * Ordered by a PROCTIME() column (Flink's ProcTimeRowsBoundedPrecedingFunction, ProcTimeRangeBoundedPrecedingFunction
 * and their unbounded forms), a row's time is its arrival (the shard's processing time): the rows of one
 * millisecond wait for the next one (a processing-time timer), then go as above — nothing is late.
 */
import type { AggregateFunction, KeyedProcessFunction } from '../api/functions';
import { mapState, valueState, type StateDescriptor } from '../api/state';
import type { GroupAccumulator, GroupedRow, GroupResult } from './aggregates';
import type { SqlValue } from './types';

/** A row of the OVER aggregation on its way to its partition's stage (JSON data: it crosses the shuffle). */
export interface OverInput {
  /** The partition's key (the stage's key). */
  readonly k: string;
  /** The row's event time (its ORDER BY column); by processing time, unused (its arrival is its time). */
  readonly t: number;
  /** The row's columns the select list reads, as portable values. */
  readonly r: Record<string, SqlValue>;
  /** Each aggregate's argument, and those whose FILTER leaves the row out (as a GroupedRow). */
  readonly v: SqlValue[];
  readonly skip?: number[];
}

/** A row of the frame: what it added to the accumulator (and takes back when it leaves), with its time. */
interface FrameRow {
  readonly t: number;
  readonly v: SqlValue[];
  readonly skip?: number[];
}

/** A row out: its columns, and the aggregates of its frame (a GroupResult's `$a`, portable values). */
export interface OverOutput {
  readonly r: Record<string, SqlValue>;
  readonly a: SqlValue[];
}

export interface OverFrameSpec {
  readonly unit: 'ROWS' | 'RANGE';
  /** Rows (ROWS) or milliseconds (RANGE) before the current row; undefined: UNBOUNDED PRECEDING. */
  readonly preceding?: number | undefined;
}

type OverState = {
  /** Rows waiting for the watermark, by their time. */
  pending: StateDescriptor<OverInput[]> & { kind: 'map' };
  /** The frame's rows, oldest first (a bounded frame only). */
  frame: StateDescriptor<FrameRow[]> & { kind: 'value' };
  accumulator: StateDescriptor<GroupAccumulator | null> & { kind: 'value' };
};

const asGrouped = (row: FrameRow, retract: boolean): GroupedRow => ({ g: [], v: row.v, ...(row.skip && { skip: row.skip }), ...(retract && { r: true as const }) });

/**
 * @param aggregate the select list's OVER aggregates: retracting ones (retractingGroupAggregate) for a bounded frame
 * @param ttlMs `table.exec.state.ttl`: a partition not updated for this long (event time) starts again from nothing
 * @param clock the ORDER BY column's: the event-time column's, or a PROCTIME() column's (arrival)
 */
export function overAggregate(
  frameSpec: OverFrameSpec,
  aggregate: AggregateFunction<GroupedRow, GroupAccumulator, GroupResult>,
  ttlMs: number | undefined,
  clock: 'event' | 'processing' = 'event',
): KeyedProcessFunction<OverInput, OverState, OverOutput> {
  const ttl = ttlMs ? { ttl: ttlMs } : {};
  const bounded = frameSpec.preceding !== undefined;
  // By processing time a millisecond's rows are complete once the next one comes: its timer is a millisecond later.
  const lag = clock === 'processing' ? 1 : 0;
  const register = (ctx: Parameters<KeyedProcessFunction<OverInput, OverState, OverOutput>['onEvent']>[1], t: number): void =>
    clock === 'processing' ? ctx.timers.registerProcessingTime(t + lag) : ctx.timers.registerEventTime(t);
  return {
    state: { pending: mapState<OverInput[]>(), frame: valueState<FrameRow[]>([], ttl), accumulator: valueState<GroupAccumulator | null>(null, ttl) },
    onEvent(input, ctx) {
      const row = clock === 'processing' ? { ...input, t: ctx.processingTime } : input;
      // Behind the watermark: its time has been emitted already (Flink drops it, counting it as late).
      if (clock === 'event' && row.t <= ctx.watermark) return;
      const at = String(row.t);
      ctx.state.pending.put(at, [...(ctx.state.pending.get(at) ?? []), row]);
      register(ctx, row.t);
    },
    onTimer(timer, ctx) {
      const time = timer - lag;
      const rows = ctx.state.pending.get(String(time)) ?? [];
      ctx.state.pending.remove(String(time));
      let accumulator = ctx.state.accumulator.value() ?? aggregate.create();
      let frame = bounded ? ctx.state.frame.value() : [];
      const leave = (keep: (oldest: FrameRow) => boolean): void => {
        while (frame.length > 0 && !keep(frame[0]!)) {
          accumulator = aggregate.add(accumulator, asGrouped(frame[0]!, true));
          frame = frame.slice(1);
        }
      };
      const enter = (row: OverInput): void => {
        accumulator = aggregate.add(accumulator, asGrouped(row, false));
        if (bounded) frame = [...frame, { t: row.t, v: row.v, ...(row.skip && { skip: row.skip }) }];
      };
      if (frameSpec.unit === 'ROWS') {
        // Each row its own frame: it and the n rows before it, in time and then arrival order.
        for (const row of rows) {
          enter(row);
          if (bounded) leave(() => frame.length <= frameSpec.preceding! + 1);
          ctx.emit({ r: row.r, a: aggregate.result(accumulator).$a });
        }
      } else {
        // One frame for every row of this time: the rows within the interval before it, this time's included.
        if (bounded) leave((oldest) => oldest.t >= time - frameSpec.preceding!);
        rows.forEach(enter);
        const a = aggregate.result(accumulator).$a;
        for (const row of rows) ctx.emit({ r: row.r, a });
        // A timer for when the last of these rows leaves the frame, so that a partition gone quiet lets go of its state.
        if (bounded && rows.length > 0) register(ctx, time + frameSpec.preceding! + 1);
      }
      if (bounded && frame.length === 0) {
        ctx.state.frame.clear();
        ctx.state.accumulator.clear();
        return;
      }
      ctx.state.accumulator.update(accumulator);
      if (bounded) ctx.state.frame.update(frame);
    },
  };
}
