/**
 * A process function's call that throws leaves its key's state exactly as it was — values, lists, maps,
 * both clocks' timers, key order included — and the batch's delta does not name the key: the state is
 * changed in place (no copy per call), so every change the call made must be undone.
 */
import { listState, mapState, valueState, type StateDescriptor } from '../../lib/api/state';
import type { KeyedContext } from '../../lib/api/functions';
import type { Failure, OperatorContext } from '../../lib/runtime/keyed/keyed-operator';
import { processOperator } from '../../lib/runtime/keyed/process-operator';
import { ShardState } from '../../lib/state/shard-state';

type Context = KeyedContext<Record<string, StateDescriptor>, object>;
interface Handles {
  total: { value(): { n: number; seen: number[] }; update(v: { n: number; seen: number[] }): void; clear(): void };
  log: { get(): { at: number }[]; add(v: { at: number }): void; update(vs: { at: number }[]): void; clear(): void };
  byName: { get(k: string): { n: number } | undefined; put(k: string, v: { n: number }): void; remove(k: string): void; entries(): [string, { n: number }][]; clear(): void };
  ids: { put(k: string, v: number): void; remove(k: string): void; clear(): void };
}

const state = { total: valueState({ n: 0, seen: [] as number[] }), log: listState<{ at: number }>(), byName: mapState<{ n: number }>(), ids: mapState<number>() };

/** Sets the key up (event `setup`), then changes everything it holds in every way, then throws (event `wreck`). */
function onEvent(event: unknown, ctx: Context): void {
  const s = ctx.state as unknown as Handles;
  if (event === 'setup') {
    s.total.update({ n: 1, seen: [1] });
    s.log.add({ at: 1 });
    s.log.add({ at: 2 });
    for (const k of ['b', 'a', 'c']) s.byName.put(k, { n: k.charCodeAt(0) });
    for (const k of ['x', 'y', 'z']) s.ids.put(k, 1);
    ctx.timers.registerEventTime(100);
    ctx.timers.registerProcessingTime(5000);
    return;
  }
  // In place, without update: the objects read must be copies the undo can drop.
  s.total.value().seen.push(99);
  s.total.value().n = 42;
  s.log.get()[0]!.at = -1;
  s.byName.get('a')!.n = -1;
  for (const [, v] of s.byName.entries()) v.n = -2;
  s.log.add({ at: 3 });
  s.byName.remove('b');
  s.byName.put('b', { n: 0 });
  s.byName.put('d', { n: 4 });
  s.ids.remove('y');
  s.ids.clear();
  s.ids.put('w', 7);
  ctx.timers.registerEventTime(50);
  ctx.timers.deleteEventTime(100);
  ctx.timers.deleteProcessingTime(5000);
  ctx.timers.registerProcessingTime(6000);
  ctx.timers.deleteProcessingTime(6000);
  s.total.clear();
  s.log.clear();
  s.byName.clear();
  throw new Error('half-way');
}

function run(events: unknown[], handler = onEvent): { state: ShardState; failures: Failure[]; emitted: number } {
  const operator = processOperator({ kind: 'process', id: 'process#1', fn: { state, onEvent: [handler] }, ttlMs: {}, written: 'process' });
  const failures: Failure[] = [];
  let emitted = 0;
  const ctx: OperatorContext = {
    state: new ShardState(),
    watermarkMs: 0,
    processingTimeMs: 0,
    firingId: () => '0',
    emit: () => void emitted++,
    late: () => undefined,
    fail: (f) => void failures.push(f),
  };
  for (const [i, value] of events.entries()) {
    operator.onElement('k', { origin: { shardId: 's', sequenceNumber: String(i), subIndex: 0 }, timestampMs: i, value }, ctx, 0);
    if (i === 0) ctx.state.takeDelta();
  }
  return { state: ctx.state, failures, emitted };
}

test('a call that throws leaves the key exactly as it was, and the batch changed nothing', () => {
  const before = JSON.stringify(run(['setup']).state.get('k'));
  const { state: after, failures } = run(['setup', 'wreck']);
  expect(JSON.stringify(after.get('k'))).toBe(before);
  expect(failures.map((f) => f.reason)).toEqual(['process#1 onEvent threw: half-way']);
  expect(after.takeDelta()).toBeUndefined();
});

test('a call that throws on a key without state leaves it without state', () => {
  const { state, failures } = run(['wreck']);
  expect(state.get('k')).toBeUndefined();
  expect(state.keyCount).toBe(0);
  expect(failures).toHaveLength(1);
});

test('a call that returns keeps what it changed in place, as with update', () => {
  const { state: shard } = run(['setup', 'grow', 'grow'], (event, ctx) => {
    const s = ctx.state as unknown as Handles;
    if (event === 'setup') return s.total.update({ n: 0, seen: [] });
    const total = s.total.value();
    total.seen.push(total.n++);
  });
  expect((shard.get('k') as { values: Record<string, { v: unknown }> }).values.total!.v).toEqual({ n: 2, seen: [0, 1] });
});
