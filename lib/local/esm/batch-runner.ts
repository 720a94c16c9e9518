/**
 * One batch from invocation to its end — every record either succeeded or was discarded — with
 * Lambda's error handling for stream sources
 * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html,
 *  https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html):
 *
 * - Before every invocation, the first one included, records older than MaximumRecordAgeInSeconds
 *   are discarded ("the maximum age of a record that Lambda sends to a function").
 * - A function error retries the batch, with backoff, until MaximumRetryAttempts retries have failed;
 *   then the records are discarded.
 * - With BisectBatchOnFunctionError, a failed batch of two or more records is split in two and the
 *   halves are processed in order, each from scratch. "Splitting a batch does not count towards the
 *   retry quota" (kinesis-on-failure-destination.html): the split is not a retry, and each half is a
 *   new batch whose retries count from zero ("breaks the impacted batch of records into two […] and
 *   retries them separately", AWS's announcement of the feature, 2019). AWS does not say more, and
 *   LocalStack does not bisect, so this reading is ours.
 * - A throttled invocation (the function is at its concurrency limit: Lambda's
 *   TooManyRequestsException) never ran: it is retried with backoff until it runs or the records
 *   expire — not counted as a retry or an invocation, never bisected ("If a Lambda event source mapping
 *   is unable to invoke the function due to throttling […], it retries until the records expire or
 *   exceed the maximum age", kinesis-on-failure-destination.html).
 * - A partial batch response checkpoints the records before the lowest reported failure and retries
 *   the rest; that retry counts like any other ("the batch is bisected at the returned sequence
 *   number and Lambda retries only the remaining records").
 *
 * Nothing here knows Kinesis: records, the function, time and the outcome sinks come in as hooks,
 * so the rules can be tested in memory.
 */
import { interpretResponse, type InvocationOutcome } from './batch-response';
import type { DiscardCondition } from './types';
import { THROTTLE_ERROR_NAME } from '../concurrency';
import { backoffMs } from './waiting';

/** The two things the runner needs to know about a record. */
export interface BatchRecord {
  readonly sequenceNumber: string;
  /** Approximate arrival time in the stream (epoch ms). */
  readonly arrivalMs: number;
}

/** How failures are handled; mirrors the mapping's settings. */
export interface RetryPolicy {
  readonly bisectOnError: boolean;
  /** -1 = retry until the records expire. */
  readonly maxRetryAttempts: number;
  readonly reportBatchItemFailures: boolean;
  /** Records older than this are discarded; `undefined` = never. */
  readonly maxRecordAgeMs: number | undefined;
  /** First retry backoff, doubled per retry up to {@link RetryPolicy.retryMaxMs}. */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

/** Lambda's retry backoff is not documented; locally 100 ms doubling up to 2 s keeps tests quick. */
export const DEFAULT_RETRY_BASE_MS = 100;
export const DEFAULT_RETRY_MAX_MS = 2_000;

/** Why and how records are discarded. */
export interface DiscardInfo {
  readonly condition: DiscardCondition;
  /** Invocations the records were part of (0 if they expired before the first). */
  readonly approximateInvokeCount: number;
  readonly lastError: string | undefined;
  /** `'Unhandled'` when the last invocation failed with a function error (throw, crash, timeout), as Lambda's `responseContext.functionError`. */
  readonly functionError: 'Unhandled' | undefined;
}

/** What happened, for logs and figures. */
export type BatchEvent =
  /** The function ran (a throttled invoke did not: it is a `'throttled'` event instead). */
  | { readonly kind: 'invoked'; readonly size: number; readonly retry: boolean }
  | { readonly kind: 'function-error'; readonly size: number; readonly reason: string }
  | { readonly kind: 'partial-failure'; readonly succeeded: number; readonly failed: number; readonly firstFailed: string }
  | { readonly kind: 'bisected'; readonly first: number; readonly second: number }
  | { readonly kind: 'throttled'; readonly size: number; readonly delayMs: number }
  | { readonly kind: 'retry-scheduled'; readonly size: number; readonly retry: number; readonly delayMs: number };

/** The runner's view of the world. */
export interface BatchRunnerHooks<R extends BatchRecord> {
  /** Calls the function; resolves with its response, rejects on a function error. */
  invoke(records: readonly R[]): Promise<unknown>;
  /** Records the function processed; called in order, before the next invocation. */
  succeeded(records: readonly R[]): Promise<void>;
  /** Hands records to the on-failure destination; `false` means the mapping stopped before it could. */
  discard(records: readonly R[], info: DiscardInfo): Promise<boolean>;
  /** Waits before a retry; `false` means the mapping stopped meanwhile. */
  sleep(ms: number): Promise<boolean>;
  /** Wall-clock time (epoch ms), for record age. */
  now(): number;
  /** True once the mapping is stopping: no new invocation starts. */
  stopped(): boolean;
  onEvent?(event: BatchEvent): void;
}

interface Work<R> {
  records: readonly R[];
  retries: number;
  invokes: number;
  lastError: string | undefined;
  functionError: 'Unhandled' | undefined;
  /** Consecutive throttled invokes, for their backoff. */
  throttles: number;
  /** Whether the next invocation re-sends records whose last invocation failed (not a bisected half). */
  isRetry: boolean;
}

/**
 * Processes one batch to its end. Resolves `'completed'` when every record has succeeded or been
 * discarded, `'stopped'` if the mapping stopped first (the unfinished records stay unfinished and
 * are read again after a restart).
 *
 * @example
 * ```ts
 * await runBatch(records, { bisectOnError: true, maxRetryAttempts: 2, reportBatchItemFailures: false,
 *   maxRecordAgeMs: undefined, retryBaseMs: 100, retryMaxMs: 2000 }, hooks);
 * ```
 */
export async function runBatch<R extends BatchRecord>(records: readonly R[], policy: RetryPolicy, hooks: BatchRunnerHooks<R>): Promise<'completed' | 'stopped'> {
  // A stack, so the first half of a bisected batch runs (to its end) before the second: per-shard order.
  const stack: Work<R>[] = [{ records, retries: 0, invokes: 0, lastError: undefined, functionError: undefined, throttles: 0, isRetry: false }];
  while (stack.length > 0) {
    if (hooks.stopped()) return 'stopped';
    const work = stack.pop()!;

    if (policy.maxRecordAgeMs !== undefined) {
      const now = hooks.now();
      const maxAgeMs = policy.maxRecordAgeMs;
      const expired = work.records.filter((r) => now - r.arrivalMs > maxAgeMs);
      if (expired.length > 0) {
        const info = { condition: 'RecordAgeExceeded', approximateInvokeCount: work.invokes, lastError: work.lastError, functionError: work.functionError } as const;
        if (!(await hooks.discard(expired, info))) return 'stopped';
        work.records = work.records.filter((r) => now - r.arrivalMs <= maxAgeMs);
        if (work.records.length === 0) continue;
      }
    }

    const outcome = await invokeOnce(work.records, policy, hooks);
    if (outcome.kind === 'throttled') {
      const delayMs = backoffMs(++work.throttles, policy.retryBaseMs, policy.retryMaxMs);
      hooks.onEvent?.({ kind: 'throttled', size: work.records.length, delayMs });
      if (!(await hooks.sleep(delayMs))) return 'stopped';
      stack.push(work);
      continue;
    }
    work.throttles = 0;
    hooks.onEvent?.({ kind: 'invoked', size: work.records.length, retry: work.isRetry });
    const invokes = work.invokes + 1;
    if (outcome.kind === 'success') {
      await hooks.succeeded(work.records);
      continue;
    }

    let failed = work.records;
    let reason: string;
    let functionError: 'Unhandled' | undefined;
    if (outcome.kind === 'partial') {
      const succeeded = work.records.slice(0, outcome.firstFailedIndex);
      failed = work.records.slice(outcome.firstFailedIndex);
      reason = `the function reported record ${failed[0]!.sequenceNumber} as failed`;
      hooks.onEvent?.({ kind: 'partial-failure', succeeded: succeeded.length, failed: failed.length, firstFailed: failed[0]!.sequenceNumber });
      if (succeeded.length > 0) await hooks.succeeded(succeeded);
    } else {
      reason = outcome.reason;
      functionError = 'Unhandled';
      hooks.onEvent?.({ kind: 'function-error', size: failed.length, reason });
      if (policy.bisectOnError && failed.length > 1) {
        const middle = Math.ceil(failed.length / 2);
        const first = failed.slice(0, middle);
        const second = failed.slice(middle);
        hooks.onEvent?.({ kind: 'bisected', first: first.length, second: second.length });
        const half = (part: readonly R[]): Work<R> => ({ records: part, retries: 0, invokes, lastError: reason, functionError, throttles: 0, isRetry: false });
        stack.push(half(second), half(first));
        continue;
      }
    }

    const retries = work.retries + 1;
    if (policy.maxRetryAttempts !== -1 && retries > policy.maxRetryAttempts) {
      if (!(await hooks.discard(failed, { condition: 'RetryAttemptsExhausted', approximateInvokeCount: invokes, lastError: reason, functionError }))) return 'stopped';
      continue;
    }
    const delayMs = backoffMs(retries, policy.retryBaseMs, policy.retryMaxMs);
    hooks.onEvent?.({ kind: 'retry-scheduled', size: failed.length, retry: retries, delayMs });
    if (!(await hooks.sleep(delayMs))) return 'stopped';
    stack.push({ records: failed, retries, invokes, lastError: reason, functionError, throttles: 0, isRetry: true });
  }
  return 'completed';
}

async function invokeOnce<R extends BatchRecord>(records: readonly R[], policy: RetryPolicy, hooks: BatchRunnerHooks<R>): Promise<InvocationOutcome | { kind: 'throttled' }> {
  let response: unknown;
  try {
    response = await hooks.invoke(records);
  } catch (e) {
    if (e instanceof Error && e.name === THROTTLE_ERROR_NAME) return { kind: 'throttled' };
    return { kind: 'failure', reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
  return interpretResponse(
    response,
    records.map((r) => r.sequenceNumber),
    policy.reportBatchItemFailures,
  );
}
