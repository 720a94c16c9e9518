import type { Duration } from '../time/duration';

/**
 * How Kinesis sizes a stream the job creates: `'provisioned'`, the shards the job declares (a source's
 * `shards`, `.parallelism(n)`), changed by `shardflow rescale`; or `'on-demand'`, Kinesis' own: the stream
 * starts with 4 shards and Kinesis splits and merges them as the write rate goes (billed per GB, not per
 * shard-hour). Keyed state follows its keys through either (docs/operations.md).
 */
export type StreamMode = 'provisioned' | 'on-demand';

/**
 * What applies to the whole job, given to `job(name, {...})`. docs/configuration.md has each field.
 * @example job('click-counts', { streamMode: 'on-demand' })
 */
export interface JobOptions {
  /** The mode of every stream the job creates (sources it creates, shuffle streams, Kinesis sinks), unless a stage's `.settings({ streamMode })` says otherwise. Default 'provisioned'. */
  streamMode?: StreamMode;
}

/**
 * How one stage's Lambda function runs and how its event source mapping feeds it: what a Flink user sets
 * per operator (memory, parallelism), in Lambda's terms. Every field is optional: an unset one keeps its
 * default. Set with `.settings({...})` right after `.source(...)` (the source stage) or after a keyed
 * operator (its stage). docs/configuration.md has every field's default and range.
 *
 * @example
 * .keyBy(c => c.userId).window(tumbling('5s')).sum('clicks')
 *   .settings({ memoryMb: 1024, timeout: '2m', batchSize: 1000, batchingWindow: '2s' })
 */
export interface StageSettings {
  /** The function's memory (`MemorySize`), 128–10240 MB. A keyed shard may hold a fifth of it as state. Default 512. */
  memoryMb?: number;
  /** How long one invocation may run (`Timeout`), whole seconds, 1 s–15 min. Default '60s'. */
  timeout?: Duration;
  /** Most records per invocation (`BatchSize`), 1–10000. Default 500. */
  batchSize?: number;
  /** How long the mapping gathers records before invoking (`MaximumBatchingWindowInSeconds`), whole seconds, 0–300 s. Default '1s'. */
  batchingWindow?: Duration;
  /** Retries of a failed batch before it goes to the on-failure queue (`MaximumRetryAttempts`), 0–10000, or -1: until the records expire. Default 1000. */
  retries?: number;
  /** Records older than this are not sent to the function (`MaximumRecordAgeInSeconds`), whole seconds, 60 s–7 days, or -1: never. Default '1d'. */
  maxRecordAge?: Duration | -1;
  /** Split a failed batch in two before retrying it (`BisectBatchOnFunctionError`). Default true. */
  bisectOnError?: boolean;
  /**
   * Concurrent batches per shard (`ParallelizationFactor`), 1–10. Above 1 on a keyed stage after a shuffle
   * (each shard is split into that many key groups, each with its own log) or on a source stage that keeps
   * no state and sends no shuffle; not on a stage that keys or shuffles a source stream. Default 1.
   */
  parallelizationFactor?: number;
  /**
   * Key groups per shard of a keyed stage after a shuffle, 1–10 (Flink's max parallelism): each (shard, key
   * group) keeps its own log, so the count is part of the state's layout and cannot change with state kept;
   * `parallelizationFactor` may then change from 1 up to it on a running job. Default: the stage's
   * `parallelizationFactor`.
   */
  keyGroups?: number;
  /** Concurrent invocations set aside for this function and its cap (`ReservedConcurrentExecutions`), at least 1. Default: none. */
  reservedConcurrency?: number;
  /**
   * The mode of the stage's input stream, when the job creates it (`StreamModeDetails`): over the job's
   * `streamMode`. On-demand takes no shard count: drop the source's `shards` or the stage's `.parallelism(n)`.
   */
  streamMode?: StreamMode;
}
