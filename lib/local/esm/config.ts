/**
 * The settings of one event source mapping, named after Lambda's own `CreateEventSourceMapping`
 * parameters and checked against the same limits, so a configuration that runs locally is one
 * Lambda accepts. Limits: https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html
 */

/**
 * What a local event source mapping reads, and how it calls the function.
 *
 * @example
 * ```ts
 * const config: EventSourceMappingConfig = {
 *   streamName: 'clicks', functionName: 'click-counts-s0',
 *   batchSize: 100, maxBatchingWindowSeconds: 0, startingPosition: 'TRIM_HORIZON',
 *   parallelizationFactor: 1, bisectOnError: true, maxRetryAttempts: 3,
 *   maxRecordAgeSeconds: -1, reportBatchItemFailures: true,
 * };
 * ```
 */
export interface EventSourceMappingConfig {
  readonly streamName: string;
  /** For logs, checkpoint keys and failure records. */
  readonly functionName: string;
  /** Max records per invocation (`BatchSize`, 1..10000). */
  readonly batchSize: number;
  /**
   * `MaximumBatchingWindowInSeconds`: whole seconds, 0..300, as Lambda takes it ("in increments of
   * seconds", API_CreateEventSourceMapping). A lane's window starts when its previous invocation
   * completes; 0 = invoke as soon as records exist.
   */
  readonly maxBatchingWindowSeconds: number;
  /** Where a shard with no checkpoint starts (`StartingPosition`). */
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  /** `StartingPositionTimestamp` (epoch ms), required with AT_TIMESTAMP: the first record read is the first that arrived at or after it. */
  readonly startingPositionTimestampMs?: number;
  /** Concurrent batches per shard (`ParallelizationFactor`, 1..10); a partition key always maps to the same lane. */
  readonly parallelizationFactor: number;
  /** `BisectBatchOnFunctionError`: split a failed batch in two before retrying. */
  readonly bisectOnError: boolean;
  /** `MaximumRetryAttempts` (-1..10000); -1 = retry until the record expires. */
  readonly maxRetryAttempts: number;
  /** `MaximumRecordAgeInSeconds` (-1, or 60..604800); -1 = never, which locally means the stream's retention. */
  readonly maxRecordAgeSeconds: number;
  /** `FunctionResponseTypes: [ReportBatchItemFailures]`: honour `{ batchItemFailures }` responses. */
  readonly reportBatchItemFailures: boolean;
  /**
   * Pause between GetRecords calls on a caught-up shard. Default 1000 ms, as Lambda ("Lambda polls
   * each shard in your Kinesis stream for records at a base rate of once per second", with-kinesis.html).
   */
  readonly pollIntervalMs?: number;
  /** The role ARN in each record's `invokeIdentityArn`. Default: a role named after the function, in the stream's account. */
  readonly invokeIdentityArn?: string;
  /** How often the shard list is re-read to notice resharding. Default 2000 ms. */
  readonly shardSyncIntervalMs?: number;
}

/** {@link EventSourceMappingConfig} with defaults filled in and limits checked. */
export type ResolvedMappingConfig = Required<Omit<EventSourceMappingConfig, 'startingPositionTimestampMs' | 'invokeIdentityArn'>> &
  Pick<EventSourceMappingConfig, 'startingPositionTimestampMs' | 'invokeIdentityArn'>;

/** Default pause between polls of a caught-up shard (Lambda's once a second). */
export const DEFAULT_POLL_INTERVAL_MS = 1_000;
/** Default period of ListShards re-reads. */
export const DEFAULT_SHARD_SYNC_INTERVAL_MS = 2_000;

/**
 * A setting Lambda would refuse. The message names the mapping, the field, the problem and the fix:
 * `click-counts-s0 <- clicks: batchSize 0 is out of range — use 1..10000 (Lambda's BatchSize limit for Kinesis)`.
 */
export class MappingConfigError extends Error {
  constructor(
    readonly mapping: string,
    readonly field: keyof EventSourceMappingConfig,
    readonly problem: string,
    readonly hint: string,
  ) {
    super(`${mapping}: ${String(field)} ${problem} — ${hint}`);
    this.name = 'MappingConfigError';
  }
}

/**
 * Checks a configuration against Lambda's limits for Kinesis mappings and fills in the local defaults.
 *
 * @throws MappingConfigError for the first setting out of range.
 */
export function resolveMappingConfig(config: EventSourceMappingConfig): ResolvedMappingConfig {
  const mapping = `${config.functionName} <- ${config.streamName}`;
  const fail = (field: keyof EventSourceMappingConfig, value: unknown, hint: string): never => {
    throw new MappingConfigError(mapping, field, `${JSON.stringify(value)} is out of range`, hint);
  };
  const intIn = (field: keyof EventSourceMappingConfig, value: number, min: number, max: number, hint: string): void => {
    if (!Number.isInteger(value) || value < min || value > max) fail(field, value, hint);
  };
  if (config.streamName.trim() === '') fail('streamName', config.streamName, 'name the Kinesis stream to read');
  if (config.functionName.trim() === '') fail('functionName', config.functionName, 'name the function the records go to');
  intIn('batchSize', config.batchSize, 1, 10_000, "use 1..10000 (Lambda's BatchSize limit for Kinesis)");
  intIn('maxBatchingWindowSeconds', config.maxBatchingWindowSeconds, 0, 300, 'use whole seconds, 0..300 (Lambda takes MaximumBatchingWindowInSeconds in increments of seconds, up to 5 minutes)');
  if (!['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'].includes(config.startingPosition)) {
    fail('startingPosition', config.startingPosition, 'use TRIM_HORIZON, LATEST or AT_TIMESTAMP');
  }
  const at = config.startingPositionTimestampMs;
  if (config.startingPosition === 'AT_TIMESTAMP' && (at === undefined || !Number.isFinite(at) || at < 0)) {
    fail('startingPositionTimestampMs', at, 'AT_TIMESTAMP needs startingPositionTimestampMs, the epoch milliseconds to start reading at');
  }
  if (config.startingPosition !== 'AT_TIMESTAMP' && at !== undefined) {
    fail('startingPositionTimestampMs', at, 'a timestamp only goes with startingPosition AT_TIMESTAMP (Lambda refuses it otherwise)');
  }
  intIn('parallelizationFactor', config.parallelizationFactor, 1, 10, 'use 1..10 concurrent batches per shard');
  intIn('maxRetryAttempts', config.maxRetryAttempts, -1, 10_000, 'use -1 (until the record expires) or 0..10000');
  // Lambda rejects 0..59: the smallest finite maximum age is one minute.
  const age = config.maxRecordAgeSeconds;
  if (!Number.isInteger(age) || (age !== -1 && (age < 60 || age > 604_800))) {
    fail('maxRecordAgeSeconds', age, 'use -1 (never) or 60..604800 s; to test expiry sooner, inject a clock');
  }
  const pollIntervalMs = config.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (!(pollIntervalMs > 0)) fail('pollIntervalMs', pollIntervalMs, 'use a positive number of milliseconds');
  const shardSyncIntervalMs = config.shardSyncIntervalMs ?? DEFAULT_SHARD_SYNC_INTERVAL_MS;
  if (!(shardSyncIntervalMs > 0)) fail('shardSyncIntervalMs', shardSyncIntervalMs, 'use a positive number of milliseconds');
  return { ...config, pollIntervalMs, shardSyncIntervalMs };
}
