/**
 * Per-event cost against a key's state size: one key holding 10, 1,000 and 100,000 entries, then the time
 * of each further event of that key through the keyed process operator (lib/runtime/keyed/process-operator.ts)
 * — a process function putting into a MapState, and a SQL COUNT(DISTINCT) GROUP BY (lib/sql/continuous.ts).
 * The cost of an event must not grow with the state: the figure is the ratio of the per-event time at
 * 100,000 entries to that at 10 (near 1 is right). The operator alone, in memory: packing the batch's delta
 * for the log (once per batch and key, ShardState.takeDelta) is not in it. `npm run bench -- --only state-growth`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { KeyedContext } from '../lib/api/functions';
import { mapState, valueState, type StateDescriptor } from '../lib/api/state';
import type { KeyedOperator } from '../lib/plan/plan';
import type { KeyedOperatorRuntime, OperatorContext } from '../lib/runtime/keyed/keyed-operator';
import { processOperator } from '../lib/runtime/keyed/process-operator';
import { groupAggregate, type GroupAccumulator, type GroupedRow } from '../lib/sql/aggregates';
import { continuousAggregate } from '../lib/sql/continuous';
import { ShardState } from '../lib/state/shard-state';
import { round, table, writeResult } from './run-info';

const SIZES = (process.env.BENCH_STATE_SIZES ?? '10,1000,100000').split(',').map(Number);
const EVENTS = Number(process.env.BENCH_STATE_EVENTS ?? 50_000);
const RUNS = Number(process.env.BENCH_STATE_RUNS ?? 3);
const BUDGET_MS = 2000;
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const KEY = 'k';

type Context = KeyedContext<Record<string, StateDescriptor>, object>;
type Handler = (event: unknown, context: Context) => void;

function operatorOf(state: Record<string, StateDescriptor>, onEvent: Handler): KeyedOperatorRuntime {
  const op: Extract<KeyedOperator, { kind: 'process' }> = { kind: 'process', id: 'process#1', fn: { state, onEvent: [onEvent] }, ttlMs: {}, written: 'process' };
  return processOperator(op);
}

function contextOf(state: ShardState): OperatorContext {
  return {
    state,
    watermarkMs: 0,
    processingTimeMs: 0,
    firingId: () => '0',
    emit: () => undefined,
    late: () => undefined,
    fail: (f) => {
      throw new Error(`unexpected failure in the benchmark: ${f.reason}`);
    },
  };
}

const element = (i: number, value: unknown) => ({ origin: { shardId: 's', sequenceNumber: String(i), subIndex: 0 }, timestampMs: i, value });

/**
 * Fills the key with `size` entries (one event), then returns the mean time of `EVENTS` further events, in
 * µs — or of as many as ran in `BUDGET_MS` (at least 20), as a cost that grows with the state is slow.
 */
function perEventMicros(operator: KeyedOperatorRuntime, fill: unknown, eventAt: (i: number) => unknown): number {
  const ctx = contextOf(new ShardState());
  operator.onElement(KEY, element(0, fill), ctx, 0);
  ctx.state.takeDelta();
  // The fill's garbage is collected now rather than in the middle of the measured events.
  collectGarbage();
  const started = performance.now();
  let events = 0;
  while (events < EVENTS && (events < 20 || performance.now() - started < BUDGET_MS)) operator.onElement(KEY, element(++events, eventAt(events)), ctx, 0);
  return ((performance.now() - started) * 1000) / events;
}

/** A process function keeping a map of the ids it saw and a count: each event puts one id. */
function processCase(size: number): number {
  const state = { seen: mapState<number>(), count: valueState(0) };
  const operator = operatorOf(state, (event, ctx) => {
    const s = ctx.state as unknown as { seen: { put(k: string, v: number): void }; count: { value(): number; update(v: number): void } };
    const e = event as { fill?: number; id?: number };
    for (let i = 0; i < (e.fill ?? 0); i++) s.seen.put(String(i), i);
    if (e.id !== undefined) s.seen.put(String(e.id), e.id);
    s.count.update(s.count.value() + 1);
  });
  return perEventMicros(operator, { fill: size }, (i) => ({ id: i % size }));
}

/** `SELECT k, COUNT(DISTINCT v) FROM t GROUP BY k` on one group that already has `size` distinct values. */
function distinctCase(size: number): number {
  const aggregate = groupAggregate([{ fn: 'COUNT', star: false, distinct: true }]);
  const row = (v: number): GroupedRow => ({ g: [KEY], v: [v] });
  // The group's accumulator with `size` values, merged in halves (each add of the old code copies the set).
  const build = (lo: number, hi: number): GroupAccumulator => (hi - lo === 1 ? aggregate.add(aggregate.create(), row(lo)) : aggregate.merge(build(lo, (lo + hi) >> 1), build((lo + hi) >> 1, hi)));
  const fn = continuousAggregate(aggregate, (r) => r, false, undefined);
  const operator = operatorOf(fn.state, (event, ctx) => {
    const e = event as { fill?: GroupAccumulator; row?: GroupedRow };
    if (e.fill) (ctx.state as unknown as { accumulator: { update(a: GroupAccumulator): void } }).accumulator.update(e.fill);
    else fn.onEvent(e.row!, ctx as never);
  });
  return perEventMicros(operator, { fill: build(0, size) }, (i) => ({ row: row(i % size) }));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function main(): void {
  const cases: Record<string, (size: number) => number> = { 'process function, MapState put': processCase, 'SQL COUNT(DISTINCT) GROUP BY': distinctCase };
  const rows: { case: string; entries: number; microsPerEvent: number }[] = [];
  const ratios: { case: string; ratio: number }[] = [];
  for (const [name, run] of Object.entries(cases)) {
    run(SIZES[0]!); // warm-up: the first sizes measured must not pay for the compiler
    const figures = SIZES.map((size) => {
      const micros = median(Array.from({ length: RUNS }, () => run(size)));
      rows.push({ case: name, entries: size, microsPerEvent: round(micros) });
      return micros;
    });
    ratios.push({ case: name, ratio: round(figures[figures.length - 1]! / figures[0]!) });
  }
  console.log(table(['case', 'entries in the key', 'µs per event (median)'], rows.map((r) => [r.case, r.entries, r.microsPerEvent])));
  console.log(`\n${table(['case', `per-event time at ${SIZES[SIZES.length - 1]!.toLocaleString()} / at ${SIZES[0]!.toLocaleString()} entries`], ratios.map((r) => [r.case, `${r.ratio}×`]))}`);
  writeResult('state-growth', process.env.BENCH_COMMAND ?? 'node bin/run-ts.js bench/state-growth.ts', { events: EVENTS, runs: RUNS, rows, ratios });
}

main();
