/**
 * The contracts between an event source mapping and the outside: how it calls the function, where
 * discarded records go, and what it reports.
 */
import type { BatchResponse, KinesisStreamEvent } from '../../io/kinesis-event';

/**
 * A function invocation: resolves with the function's response, rejects on a function error (throw,
 * crash, timeout) — or, with an error named `TooManyRequestsException`, on a throttle (the function
 * never ran; see lib/local/concurrency.ts). With `reportBatchItemFailures` on, a `{ batchItemFailures }`
 * response reports a partial failure; otherwise the response is ignored.
 *
 * @example
 * ```ts
 * const invoke: Invoke = async (event) => { await handler(event); };
 * ```
 */
export type Invoke = (event: KinesisStreamEvent) => Promise<BatchResponse | void | undefined>;

/**
 * Why records were discarded, with Lambda's names for the conditions in its on-failure records
 * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
 */
export type DiscardCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/**
 * What Lambda sends an SQS or SNS on-failure destination when it gives up on records — the
 * documented "invocation record" (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html):
 * positions and arrival times, never the records themselves (only an S3 destination gets those). To
 * look at or redrive the records, read them from the stream while it still holds them (see
 * `readFailedRecords`).
 *
 * @example
 * ```json
 * { "requestContext": { "requestId": "…", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:clicks-s0",
 *     "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 2 },
 *   "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
 *   "version": "1.0", "timestamp": "2026-11-30T12:00:00.000Z",
 *   "KinesisBatchInfo": { "shardId": "shardId-000000000000", "startSequenceNumber": "…", "endSequenceNumber": "…",
 *     "approximateArrivalOfFirstRecord": "…", "approximateArrivalOfLastRecord": "…", "batchSize": 1,
 *     "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/clicks" } }
 * ```
 */
export interface KinesisFailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: DiscardCondition;
    readonly approximateInvokeCount: number;
  };
  /** The last invocation's outcome; absent when the records were never invoked. */
  readonly responseContext?: {
    readonly statusCode: number;
    readonly executedVersion: string;
    /** `'Unhandled'` when the last invocation threw, crashed or timed out; absent after a partial batch response. */
    readonly functionError?: 'Unhandled';
  };
  readonly version: '1.0';
  /** ISO-8601 time of the discard. */
  readonly timestamp: string;
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    /** First and last sequence number of the discarded records (inclusive). */
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    /** ISO-8601 arrival time of the first and last record. */
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

/** Where discarded batches go (Lambda's on-failure destination). A rejection is retried until it succeeds or the mapping stops. */
export type OnFailure = (failure: KinesisFailureRecord) => Promise<void>;

/** Where a shard's consumer is in its life. */
export type ShardState = 'waiting-for-parents' | 'polling' | 'draining' | 'finished' | 'stopped';

/** Figures for one shard. Counters start at zero when the mapping starts. */
export interface ShardStats {
  readonly shardId: string;
  readonly state: ShardState;
  readonly parentShardIds: readonly string[];
  /** Records in invocations that succeeded (each counted once). */
  readonly recordsDelivered: number;
  readonly invocations: number;
  /** Invocations that rejected, returned an invalid partial response, or reported failed items. */
  readonly functionErrors: number;
  /** Invocations that re-sent records after a failure (bisected halves are not retries, as in Lambda). */
  readonly retries: number;
  readonly bisections: number;
  /** Records sent to the on-failure destination (or dropped if there is none). */
  readonly discarded: number;
  /** GetRecords/GetShardIterator calls refused by Kinesis' throughput limits and retried. */
  readonly readThrottles: number;
  /** Invocations refused for the function's concurrency limit and retried (Lambda's `Throttles`). */
  readonly throttles: number;
  /** The most batches of this shard that were in flight at once (up to ParallelizationFactor: one per busy lane). */
  readonly maxConcurrentBatches: number;
  /** now − arrival of the oldest record not yet checkpointed; 0 when caught up. */
  readonly iteratorAgeMs: number;
  /** Last sequence number saved for the shard, `SHARD_END` once a closed shard is done. */
  readonly lastCheckpoint: string | undefined;
}

/** Figures for a whole mapping, one entry per shard ever seen, ordered by shard id. */
export interface MappingStats {
  readonly functionName: string;
  readonly streamName: string;
  readonly shards: readonly ShardStats[];
}
