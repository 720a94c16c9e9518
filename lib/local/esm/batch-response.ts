/**
 * What a function's response means for its batch, by Lambda's rules for Kinesis partial batch
 * responses (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html):
 * - without `ReportBatchItemFailures` the response is ignored: the batch succeeded;
 * - a null/empty response or a null/empty `batchItemFailures` list is a complete success;
 * - an `itemIdentifier` that is null, empty or under a wrong key name is a complete failure;
 * - otherwise the lowest failed sequence number becomes the retry point: the records before it
 *   succeeded, it and everything after are retried.
 * An `itemIdentifier` that is not in the batch is not listed by the docs; like LocalStack's parity
 * tests against AWS, we treat it as a complete failure rather than guess a checkpoint.
 */
import { compareSequenceNumbers } from './sequence-number';

/** The outcome of one invocation. */
export type InvocationOutcome =
  | { readonly kind: 'success' }
  /** Records `[0, firstFailedIndex)` succeeded; the rest must be retried. */
  | { readonly kind: 'partial'; readonly firstFailedIndex: number }
  | { readonly kind: 'failure'; readonly reason: string };

/**
 * Reads a function's response for a batch whose records have `sequenceNumbers` (in shard order).
 *
 * @example
 * interpretResponse({ batchItemFailures: [{ itemIdentifier: '7' }, { itemIdentifier: '5' }] }, ['4', '5', '6', '7'], true)
 * // { kind: 'partial', firstFailedIndex: 1 }
 */
export function interpretResponse(response: unknown, sequenceNumbers: readonly string[], reportBatchItemFailures: boolean): InvocationOutcome {
  if (!reportBatchItemFailures) return { kind: 'success' };
  if (response === null || response === undefined || typeof response !== 'object') return { kind: 'success' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return { kind: 'success' };
  if (!Array.isArray(failures)) return { kind: 'failure', reason: 'batchItemFailures is not a list' };
  if (failures.length === 0) return { kind: 'success' };

  const indexOf = new Map(sequenceNumbers.map((s, i) => [s, i]));
  let lowest: string | undefined;
  for (const failure of failures as unknown[]) {
    const id = failure !== null && typeof failure === 'object' ? (failure as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '') {
      return { kind: 'failure', reason: `invalid batch item failure ${JSON.stringify(failure)}: itemIdentifier must be a record's sequence number` };
    }
    if (!indexOf.has(id)) return { kind: 'failure', reason: `batch item failure ${id} is not a sequence number of this batch` };
    if (lowest === undefined || compareSequenceNumbers(id, lowest) < 0) lowest = id;
  }
  return { kind: 'partial', firstFailedIndex: indexOf.get(lowest!)! };
}
