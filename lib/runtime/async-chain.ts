import type { AsyncOperator, StatelessOperator, SyncOperator } from '../plan/plan';
import { runChain } from './chain';
import { forEachConcurrently } from './concurrently';
import { RecordError } from './records';

/**
 * A stage's stateless chain cut at its first `mapAsync`: the head runs record by record and synchronously,
 * as a chain without `mapAsync` always does (so that hot path stays as it was); the tail — the `mapAsync`
 * and everything after it — runs over the whole batch at once, so that the calls overlap.
 */
export interface SplitChain {
  readonly head: readonly SyncOperator[];
  readonly tail: readonly StatelessOperator[];
}

export function splitAtAsync(ops: readonly StatelessOperator[]): SplitChain {
  const at = ops.findIndex((o) => o.kind === 'mapAsync');
  return at < 0 ? { head: ops as readonly SyncOperator[], tail: [] } : { head: ops.slice(0, at) as SyncOperator[], tail: ops.slice(at) };
}

/** What became of one record in the tail: its new value, or why it goes to the dead letters; undefined: filtered out. */
export type TailOutcome = { readonly value: unknown } | { readonly error: RecordError } | undefined;

/** Waits, for the backoff between retries (injected in tests). */
export type Sleep = (ms: number) => Promise<void>;
const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a chain's tail over a batch's values, in order. A map or filter applies value by value; a `mapAsync`
 * calls its function for every value still in, at most `concurrency` at a time, each call with a timeout and
 * retries. One outcome per value, in the values' order (Flink's ordered mode): the tail holds no flatMap
 * (the planner refuses one after `mapAsync`), so a record keeps its position whatever the service answers,
 * and a retried batch numbers its records as the first attempt did — which is what lets the next stage drop
 * what it applied already.
 */
export async function runAsyncTail(tail: readonly StatelessOperator[], values: readonly unknown[], sleep: Sleep = realSleep): Promise<TailOutcome[]> {
  const outcomes: TailOutcome[] = values.map((value) => ({ value }));
  for (const op of tail) {
    const live = outcomes.flatMap((o, i) => (o && 'value' in o ? [i] : []));
    if (op.kind === 'mapAsync') {
      await forEachConcurrently(live, op.concurrency, async (i) => {
        outcomes[i] = await callWithRetries(op, (outcomes[i] as { value: unknown }).value, sleep);
      });
      continue;
    }
    for (const i of live) outcomes[i] = applySync(op, (outcomes[i] as { value: unknown }).value);
  }
  return outcomes;
}

function applySync(op: SyncOperator, value: unknown): TailOutcome {
  const out: unknown[] = [];
  try {
    runChain([op], value, (v) => out.push(v));
  } catch (e) {
    if (!(e instanceof RecordError)) throw e;
    return { error: e };
  }
  if (out.length > 1) return { error: new RecordError(op.id, `${op.id} made ${out.length} records after a mapAsync, which must keep one record per input`) };
  return out.length === 1 ? { value: out[0] } : undefined;
}

/** One record's calls: the first, then `retries` more after failures or timeouts, waiting `backoffMs`, 2 × `backoffMs`, … */
async function callWithRetries(op: AsyncOperator, value: unknown, sleep: Sleep): Promise<TailOutcome> {
  let reason = '';
  for (let attempt = 0; attempt <= op.retries; attempt++) {
    if (attempt > 0) await sleep(op.backoffMs * 2 ** (attempt - 1));
    const result = await callOnce(op, value, attempt);
    if ('value' in result) {
      return result.value === undefined ? { error: new RecordError(op.id, `${op.id} returned undefined`) } : result;
    }
    reason = result.failed;
  }
  const attempts = op.retries + 1;
  return { error: new RecordError(op.id, `${op.id} ${reason}${attempts > 1 ? ` (${attempts} attempts)` : ''}`) };
}

/** One call, settled by its result, its failure or its timeout (which aborts the signal it was given). */
function callOnce(op: AsyncOperator, value: unknown, attempt: number): Promise<{ value: unknown } | { failed: string }> {
  const controller = new AbortController();
  return new Promise((resolve) => {
    const timedOut = `timed out after ${op.timeoutMs} ms`;
    const timer = setTimeout(() => {
      controller.abort(new Error(timedOut));
      resolve({ failed: timedOut });
    }, op.timeoutMs);
    let call: Promise<unknown>;
    try {
      call = Promise.resolve(op.fn(value, { signal: controller.signal, attempt }));
    } catch (e) {
      call = Promise.reject(e);
    }
    // A call that settles after its timeout changes nothing (the promise is settled already).
    call.then(
      (v) => {
        clearTimeout(timer);
        resolve({ value: v });
      },
      (e: unknown) => {
        clearTimeout(timer);
        resolve({ failed: `threw: ${e instanceof Error ? e.message : String(e)}` });
      },
    );
  });
}
