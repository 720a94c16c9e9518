/**
 * Where results go. Every record reaching a sink carries a deterministic `id`, so a replayed batch
 * rewrites the same items (DynamoDB) or sends repeats consumers can drop (Kinesis).
 */

/** Options of {@link dynamoSink}. */
export interface DynamoSinkOptions {
  /**
   * The item key for records that are not window results (window results are keyed by key + windowStart).
   * Records with the same key overwrite each other: the table holds the latest per key. Without it,
   * such records are keyed by their id, one item per record.
   */
  key?: (record: Record<string, unknown>) => string;
}

export type SinkSpec =
  | { readonly kind: 'dynamodb'; readonly name: string; readonly table: string; readonly options: DynamoSinkOptions }
  | { readonly kind: 'kinesis'; readonly name: string; readonly stream: string }
  | { readonly kind: 'log'; readonly name: string };

/**
 * A DynamoDB table, one item per window result (hash key `key`, range key `windowStart`): repeats
 * overwrite, never duplicate. The results are queryable while the job runs.
 * @example .sink(dynamoSink('click-counts'))
 */
export const dynamoSink = (table: string, options: DynamoSinkOptions = {}): SinkSpec => ({
  kind: 'dynamodb',
  name: table,
  table,
  options,
});

/**
 * A Kinesis stream, to feed another job. At least once: every record has a deterministic `id` to drop repeats by.
 * @example .sink(kinesisSink('click-counts-out'))
 */
export const kinesisSink = (stream: string): SinkSpec => ({ kind: 'kinesis', name: stream, stream });

/** Prints records (local runs and tests only; on AWS it writes to the function's log). */
export const logSink = (name = 'log'): SinkSpec => ({ kind: 'log', name });
