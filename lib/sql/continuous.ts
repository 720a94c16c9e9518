/**
 * GROUP BY without a window (Flink's continuous GroupAggFunction, without mini-batch): one keyed process
 * stage holding each group's accumulators, emitting the group's row again at every change of it — `+I`
 * for its first row, `-U` and `+U` for an update, `-D` when HAVING drops a row it had let through. A row
 * that comes out the same is not sent again.
 */
import type { AggregateFunction, KeyedProcessFunction } from '../api/functions';
import { valueState, type StateDescriptor } from '../api/state';
import type { GroupAccumulator, GroupedRow, GroupResult } from './aggregates';
import { rowChanges, type RowKind } from './changelog';

/** A change of a group's row, with the group's key. */
export interface GroupChange<R> {
  readonly op: RowKind;
  readonly key: string;
  readonly row: R;
}

type GroupState = { accumulator: StateDescriptor<GroupAccumulator | null> & { kind: 'value' } };

/**
 * @param view the group's row as the query writes it (select list, or a Top-N's input), or null when
 *   HAVING filters the group out
 * @param upsert leave `-U` out: the sink (or the Top-N after) takes the new row alone
 * @param ttlMs `table.exec.state.ttl`: a group not updated for this long (event time) starts again from nothing
 */
export function continuousAggregate<R>(
  aggregate: AggregateFunction<GroupedRow, GroupAccumulator, GroupResult>,
  view: (result: GroupResult) => R | null,
  upsert: boolean,
  ttlMs: number | undefined,
): KeyedProcessFunction<GroupedRow, GroupState, GroupChange<R>> {
  const same = (a: R, b: R): boolean => JSON.stringify(a) === JSON.stringify(b);
  return {
    state: { accumulator: valueState<GroupAccumulator | null>(null, ttlMs ? { ttl: ttlMs } : {}) },
    onEvent(row, ctx) {
      const before = ctx.state.accumulator.value();
      const after = aggregate.add(before ?? aggregate.create(), row);
      ctx.state.accumulator.update(after);
      // The row before is computed again from the accumulator before: no need to keep it in state too.
      const changes = rowChanges(before && view(aggregate.result(before)), view(aggregate.result(after)), same, upsert);
      for (const c of changes) ctx.emit({ op: c.op, key: ctx.key, row: c.row });
    },
  };
}
