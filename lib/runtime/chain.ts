import type { SyncOperator } from '../plan/plan';
import { RecordError } from './records';

/**
 * Runs a chain of stateless operators on one value. Calls `emit(value, index)` for each record that
 * comes out, `index` counting them (flatMap fans out), and throws a RecordError naming the operator
 * when a user function throws or returns something unusable.
 */
export function runChain(ops: readonly SyncOperator[], value: unknown, emit: (value: unknown, index: number) => void): void {
  let index = 0;
  const step = (i: number, v: unknown): void => {
    const op = ops[i];
    if (!op) {
      emit(v, index++);
      return;
    }
    let out: unknown;
    try {
      out = op.fn(v);
    } catch (e) {
      throw new RecordError(op.id, `${op.id} threw: ${e instanceof Error ? e.message : String(e)}`);
    }
    switch (op.kind) {
      case 'map':
        if (out === undefined) throw new RecordError(op.id, `${op.id} returned undefined`);
        return step(i + 1, out);
      case 'filter':
        if (out) step(i + 1, v);
        return;
      case 'flatMap':
        if (out === null || typeof (out as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
          throw new RecordError(op.id, `${op.id} returned ${JSON.stringify(out)}, not an array or iterable`);
        }
        for (const o of out as Iterable<unknown>) step(i + 1, o);
        return;
    }
  };
  step(0, value);
}
