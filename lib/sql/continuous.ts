/**
 * GROUP BY without a window (Flink's continuous GroupAggFunction, without mini-batch): one keyed process
 * stage holding each group's accumulators, emitting the group's row again at every change of it — `+I`
 * for its first row, `-U` and `+U` for an update, `-D` when HAVING drops a row it had let through. A row
 * that comes out the same is not sent again.
 */
import type { KeyedProcessFunction } from '../api/functions';
import { READ_IN_PLACE, valueState, type StateDescriptor } from '../api/state';
import type { GroupAggregate, GroupedRow, GroupResult, GroupAccumulator } from './aggregates';
import { rowChanges, type RowKind } from './changelog';

/** A change of a group's row, with the group's key. */
export interface GroupChange<R> {
  readonly op: RowKind;
  readonly key: string;
  readonly row: R;
}

type GroupState = { accumulator: StateDescriptor<GroupAccumulator | null> & { kind: 'value'; [READ_IN_PLACE]: true } };

/**
 * @param view the group's row as the query writes it (select list, or a Top-N's input), or null when
 *   HAVING filters the group out
 * @param upsert leave `-U` out: the sink (or the Top-N after) takes the new row alone
 * @param ttlMs `table.exec.state.ttl`: a group not updated for this long (event time) starts again from nothing
 */
export function continuousAggregate<R>(
  aggregate: GroupAggregate,
  view: (result: GroupResult) => R | null,
  upsert: boolean,
  ttlMs: number | undefined,
): KeyedProcessFunction<GroupedRow, GroupState, GroupChange<R>> {
  const same = (a: R, b: R): boolean => JSON.stringify(a) === JSON.stringify(b);
  return {
    // The accumulator is changed in place, not copied per row (a DISTINCT set grows with its group): a row
    // that fails (in HAVING or the select list) takes itself back out before the call throws.
    state: { accumulator: { ...valueState<GroupAccumulator | null>(null, ttlMs ? { ttl: ttlMs } : {}), [READ_IN_PLACE]: true } },
    onEvent(row, ctx) {
      const stored = ctx.state.accumulator.value();
      // The row before is computed from the accumulator before the row: no need to keep it in state too.
      const before = stored && view(aggregate.result(stored));
      const accumulator = stored ?? aggregate.create();
      const undo = aggregate.change(accumulator, row);
      try {
        const changes = rowChanges(before, view(aggregate.result(accumulator)), same, upsert);
        ctx.state.accumulator.update(accumulator);
        for (const c of changes) ctx.emit({ op: c.op, key: ctx.key, row: c.row });
      } catch (e) {
        undo();
        throw e;
      }
    },
  };
}
