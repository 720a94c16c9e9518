/**
 * The GROUP BY aggregates add a row to their accumulator in place (a DISTINCT set is not copied per row):
 * the undo `change` returns puts it back exactly, and a continuous GROUP BY whose row fails after the add
 * (in its select list or HAVING) leaves the group's state as it was, the row in the dead letters.
 */
import type { KeyedContext } from '../../lib/api/functions';
import type { StateDescriptor } from '../../lib/api/state';
import type { Failure, OperatorContext } from '../../lib/runtime/keyed/keyed-operator';
import { processOperator } from '../../lib/runtime/keyed/process-operator';
import { groupAggregate, retractingGroupAggregate, type AggregateCall, type GroupedRow } from '../../lib/sql/aggregates';
import { continuousAggregate } from '../../lib/sql/continuous';
import { ShardState } from '../../lib/state/shard-state';

const calls: AggregateCall[] = [
  { fn: 'COUNT', star: false, distinct: true },
  { fn: 'MAX', star: false, distinct: false },
  { fn: 'SUM', star: false, distinct: true },
  { fn: 'COUNT', star: true, distinct: false },
];
const row = (v: number | null, r = false): GroupedRow => ({ g: ['k'], v: [v, v, v, v], ...(r && { r: true as const }) });

test.each([
  ['groupAggregate', groupAggregate(calls), [row(1), row(2), row(2), row(null), row(3)]],
  ['retractingGroupAggregate', retractingGroupAggregate(calls), [row(1), row(2), row(2), row(2, true), row(1, true), row(3)]],
])('%s: each change undone in reverse gives back each accumulator before it, exactly', (_name, aggregate, rows) => {
  const acc = aggregate.create();
  const seen: string[] = [];
  const undos = rows.map((r) => {
    seen.push(JSON.stringify(acc));
    return aggregate.change(acc, r);
  });
  expect(aggregate.result(acc).$a).toEqual(_name === 'groupAggregate' ? [3, 3, 6, 5] : [2, 3, 5, 2]);
  for (const undo of undos.reverse()) {
    undo();
    expect(JSON.stringify(acc)).toBe(seen.pop());
  }
});

test('COUNT(DISTINCT) over an updating input counts a value until its last row is taken back', () => {
  const aggregate = retractingGroupAggregate([{ fn: 'COUNT', star: false, distinct: true }]);
  const acc = aggregate.create();
  const counts = [row(5), row(5), row(6), row(5, true), row(5, true), row(6, true)].map((r) => {
    aggregate.change(acc, { ...r, v: [r.v[0]!] });
    return aggregate.result(acc).$a[0];
  });
  expect(counts).toEqual([1, 1, 2, 2, 1, 0]);
});

test('a continuous GROUP BY whose row fails after the add leaves the group as it was', () => {
  // The select list fails once the group has three distinct values (as a division by zero would).
  const fn = continuousAggregate(
    groupAggregate([{ fn: 'COUNT', star: false, distinct: true }]),
    (r) => {
      if (r.$a[0] === 3) throw new Error('no row for 3');
      return r;
    },
    false,
    undefined,
  );
  const operator = processOperator({ kind: 'process', id: 'process#1', fn: { state: fn.state, onEvent: [fn.onEvent as (e: unknown, c: KeyedContext<Record<string, StateDescriptor>, object>) => void] }, ttlMs: {}, written: 'process' });
  const failures: Failure[] = [];
  const ctx: OperatorContext = { state: new ShardState(), watermarkMs: 0, processingTimeMs: 0, firingId: () => '0', emit: () => undefined, late: () => undefined, fail: (f) => void failures.push(f) };
  const send = (i: number, v: number): void => operator.onElement('k', { origin: { shardId: 's', sequenceNumber: String(i), subIndex: 0 }, timestampMs: i, value: { g: ['k'], v: [v] } }, ctx, 0);
  send(0, 10);
  send(1, 20);
  ctx.state.takeDelta();
  const before = JSON.stringify(ctx.state.get('k'));
  send(2, 30);
  expect(failures.map((f) => f.reason)).toEqual(['process#1 onEvent threw: no row for 3']);
  expect(JSON.stringify(ctx.state.get('k'))).toBe(before);
  expect(ctx.state.takeDelta()).toBeUndefined();
  send(3, 20);
  expect(failures).toHaveLength(1);
});
