/**
 * The contracts between an event source mapping and the outside: how it calls the function, where
 * discarded records go, and what it reports.
 */
import type { BatchResponse, KinesisStreamEvent, KinesisStreamRecord } from '../../io/kinesis-event';

/**
 * A function invocation: resolves with the function's response, rejects on a function error (throw,
 * crash, timeout). With `reportBatchItemFailures` on, a `{ batchItemFailures }` response reports a
 * partial failure; otherwise the response is ignored.
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
 * Records the mapping gave up on: what Lambda sends to an on-failure destination (its
 * `KinesisBatchInfo` and `requestContext`), plus the records themselves (Lambda's S3 destination
 * carries them too; SQS/SNS destinations carry only the positions).
 */
export interface DiscardedBatch {
  readonly functionName: string;
  readonly streamName: string;
  readonly streamArn: string;
  readonly shardId: string;
  readonly condition: DiscardCondition;
  /** First and last sequence number of the discarded records (inclusive). */
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  /** ISO-8601 arrival time of the first and last record. */
  readonly approximateArrivalOfFirstRecord: string;
  readonly approximateArrivalOfLastRecord: string;
  readonly batchSize: number;
  /** How many invocations these records were part of, counting the bisections that led to them. */
  readonly approximateInvokeCount: number;
  /** The last function error seen for these records, if they were ever invoked. */
  readonly lastError: string | undefined;
  /** ISO-8601 time of the discard. */
  readonly timestamp: string;
  /** The records, in the shape the function receives them. */
  readonly records: readonly KinesisStreamRecord[];
}

/** Where discarded batches go (Lambda's on-failure destination). A rejection is retried until it succeeds or the mapping stops. */
export type OnFailure = (failure: DiscardedBatch) => Promise<void>;

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
  /** GetRecords/GetShardIterator calls refused by throttling and retried. */
  readonly throttles: number;
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
