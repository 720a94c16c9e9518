/**
 * A local copy of Lambda's Kinesis event source mapping: one poller per shard, discovered with
 * ListShards and re-listed periodically to follow resharding, children started only once their
 * parents are processed to their end. The per-shard work (batches, lanes, retries, checkpoints)
 * lives in ShardConsumer; this class only decides which shards run.
 */
import { DescribeStreamSummaryCommand, ListShardsCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import { SHARD_END, checkpointKey, memoryCheckpointStore, type CheckpointStore } from './checkpoint-store';
import { resolveMappingConfig, type EventSourceMappingConfig, type ResolvedMappingConfig } from './config';
import { ShardConsumer } from './shard-consumer';
import { lineageOf, parentsToAwait, startPositionOf } from './shard-lineage';
import type { Invoke, MappingStats, OnFailure, ShardStats } from './types';
import { Wakeup, backoffMs, sleep } from './waiting';

/** Optional collaborators of an {@link EventSourceMapping}. */
export interface EventSourceMappingOptions {
  /** Where checkpoints are kept. Default: in memory (a new mapping starts from `startingPosition`). */
  readonly checkpoints?: CheckpointStore;
  /** Lambda's on-failure destination. Default: discarded records are only logged. */
  readonly onFailure?: OnFailure;
  /** Receives one line per notable event (errors, retries, discards, shard changes). Default: silent. */
  readonly log?: (line: string) => void;
  /**
   * Wall-clock time in epoch ms, for record age, iterator age and failure timestamps. Default
   * `Date.now`. Pauses (poll interval, batching window, backoff) use real timers regardless.
   */
  readonly clock?: () => number;
}

/** What the mapping knows about one shard. */
interface KnownShard {
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  /** Listed when the mapping first listed the stream: the starting position applies to it. */
  readonly inFirstListing: boolean;
  /** The checkpoint in the store when the shard was discovered. */
  readonly storedCheckpoint: string | undefined;
  consumer: ShardConsumer | undefined;
  finished: boolean;
}

/**
 * Polls every shard of a Kinesis stream and invokes a function with batches of records, with the
 * semantics of Lambda's event source mapping (batch size and window, per-shard order,
 * ParallelizationFactor, retries, bisect, partial batch responses, record age, on-failure
 * destination, checkpoints, parent shards before children).
 *
 * @example
 * ```ts
 * const mapping = new EventSourceMapping(kinesisClient({ endpoint }), {
 *   streamName: 'clicks', functionName: 'click-counts-s0', batchSize: 100, maxBatchingWindowSeconds: 0,
 *   startingPosition: 'TRIM_HORIZON', parallelizationFactor: 1, bisectOnError: true,
 *   maxRetryAttempts: 3, maxRecordAgeSeconds: -1, reportBatchItemFailures: true,
 * }, (event) => handler(event), { checkpoints: fileCheckpointStore('.shardflow/checkpoints') });
 * mapping.start();
 * // …
 * await mapping.stop();
 * ```
 */
export class EventSourceMapping {
  private readonly config: ResolvedMappingConfig;
  private readonly checkpoints: CheckpointStore;
  private readonly log: (line: string) => void;
  private readonly clock: () => number;
  private readonly abort = new AbortController();
  private readonly wake = new Wakeup();
  private readonly shards = new Map<string, KnownShard>();
  private running: Promise<void> | undefined;
  private stopped = false;
  private listedOnce = false;
  private stream: { readonly arn: string; readonly retentionHours: number } | undefined;

  /**
   * @throws MappingConfigError if a setting is outside Lambda's limits.
   */
  constructor(
    private readonly kinesis: KinesisClient,
    config: EventSourceMappingConfig,
    private readonly invoke: Invoke,
    private readonly options: EventSourceMappingOptions = {},
  ) {
    this.config = resolveMappingConfig(config);
    this.checkpoints = options.checkpoints ?? memoryCheckpointStore();
    this.log = options.log ?? (() => undefined);
    this.clock = options.clock ?? Date.now;
  }

  /** Begins polling every shard. Calling it again has no effect; a stopped mapping cannot restart (create a new one). */
  start(): void {
    if (this.running !== undefined || this.stopped) return;
    this.running = this.run().catch((e) => this.say(`stopped by an unexpected error: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** Stops polling and waits for in-flight invocations to finish and their checkpoints to be saved. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake.notify();
    await this.running;
    await Promise.all([...this.shards.values()].map((s) => s.consumer?.stop()));
  }

  /** Per-shard figures; see {@link ShardStats}. */
  stats(): MappingStats {
    const shards = [...this.shards.values()]
      .sort((a, b) => a.shardId.localeCompare(b.shardId))
      .map((s): ShardStats => s.consumer?.stats() ?? this.placeholderStats(s));
    return { functionName: this.config.functionName, streamName: this.config.streamName, shards };
  }

  /** True when every shard is caught up or finished and nothing is in flight. False before the first shard listing and after stop. */
  idle(): boolean {
    if (this.running === undefined || this.stopped || !this.listedOnce) return false;
    for (const shard of this.shards.values()) {
      if (shard.finished) continue;
      if (shard.consumer === undefined || !shard.consumer.idle()) return false;
    }
    return true;
  }

  // ---- the control loop -----------------------------------------------------------------------

  private async run(): Promise<void> {
    this.stream = await this.describeStream();
    if (this.stream === undefined) return;
    this.say(`started (${this.config.parallelizationFactor} lane(s) per shard, batch ${this.config.batchSize}, window ${this.config.maxBatchingWindowSeconds} s)`);
    while (!this.abort.signal.aborted) {
      try {
        await this.syncShards(this.stream.arn);
      } catch (e) {
        if (this.abort.signal.aborted) break;
        this.say(`could not list shards (${e instanceof Error ? e.message : String(e)}); trying again`);
      }
      await this.wake.wait(this.config.shardSyncIntervalMs, this.abort.signal);
    }
  }

  /** The stream's ARN and retention, retried until the stream exists or the mapping stops. */
  private async describeStream(): Promise<{ arn: string; retentionHours: number } | undefined> {
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      try {
        const out = await this.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: this.config.streamName }), { abortSignal: this.abort.signal });
        const summary = out.StreamDescriptionSummary;
        if (summary?.StreamARN) return { arn: summary.StreamARN, retentionHours: summary.RetentionPeriodHours ?? 24 };
      } catch (e) {
        if (this.abort.signal.aborted) break;
        this.say(`cannot describe stream ${this.config.streamName} (${e instanceof Error ? e.message : String(e)}); waiting for it`);
      }
      await sleep(backoffMs(attempt, 200, 5_000), this.abort.signal);
    }
    return undefined;
  }

  /** Lists the shards, registers new ones, and starts every shard whose parents are done. */
  private async syncShards(streamArn: string): Promise<void> {
    const listed = await this.listShards(streamArn);
    const firstListing = !this.listedOnce;
    for (const shard of listed) {
      const { shardId, parentShardIds } = lineageOf(shard);
      if (shardId === '' || this.shards.has(shardId)) continue;
      const storedCheckpoint = await this.checkpoints.load(this.keyOf(shardId));
      this.shards.set(shardId, { shardId, parentShardIds, inFirstListing: firstListing, storedCheckpoint, consumer: undefined, finished: storedCheckpoint === SHARD_END });
      if (!firstListing) this.say(`new shard ${shardId}${parentShardIds.length > 0 ? ` (child of ${parentShardIds.join(' + ')})` : ''}`);
    }
    this.listedOnce = true;

    const listedIds = new Set(listed.map((s) => s.ShardId));
    for (const shard of this.shards.values()) {
      if (this.abort.signal.aborted) return;
      if (shard.consumer !== undefined || shard.finished) continue;
      const waitingFor = parentsToAwait(shard, (id) => listedIds.has(id), (id) => this.shards.get(id)?.finished === true);
      if (waitingFor.length > 0) continue;
      const start = startPositionOf({
        checkpoint: shard.storedCheckpoint,
        inFirstListing: shard.inFirstListing,
        parentEverCheckpointed: shard.parentShardIds.some((p) => this.shards.get(p)?.storedCheckpoint !== undefined),
        startingPosition: this.config.startingPosition,
        startingPositionTimestampMs: this.config.startingPositionTimestampMs,
      });
      if (start === 'finished') {
        shard.finished = true;
        continue;
      }
      shard.consumer = new ShardConsumer({
        kinesis: this.kinesis,
        config: this.config,
        streamArn,
        shardId: shard.shardId,
        parentShardIds: shard.parentShardIds,
        start,
        checkpoint: shard.storedCheckpoint,
        checkpointKey: this.keyOf(shard.shardId),
        checkpoints: this.checkpoints,
        invoke: this.invoke,
        onFailure: this.options.onFailure,
        log: this.log,
        clock: this.clock,
        maxRecordAgeMs: this.maxRecordAgeMs(),
        onFinished: (id) => this.onShardFinished(id),
      });
      shard.consumer.start();
    }
  }

  private async listShards(streamArn: string): Promise<Shard[]> {
    const shards: Shard[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.kinesis.send(
        nextToken === undefined ? new ListShardsCommand({ StreamARN: streamArn }) : new ListShardsCommand({ NextToken: nextToken }),
        { abortSignal: this.abort.signal },
      );
      shards.push(...(out.Shards ?? []));
      nextToken = out.NextToken;
    } while (nextToken !== undefined);
    return shards;
  }

  private onShardFinished(shardId: string): void {
    const shard = this.shards.get(shardId);
    if (shard) shard.finished = true;
    // Children may be waiting: list again now rather than at the next periodic sync.
    this.wake.notify();
  }

  /**
   * MaximumRecordAgeInSeconds, or with -1 the stream's retention: Kinesis trims older records, so
   * they cannot be retried past it (kinesis-local never trims, so we stand in for it).
   */
  private maxRecordAgeMs(): number {
    const seconds = this.config.maxRecordAgeSeconds;
    return seconds === -1 ? (this.stream?.retentionHours ?? 24) * 3_600_000 : seconds * 1_000;
  }

  private keyOf(shardId: string): string {
    return checkpointKey(this.config.functionName, this.config.streamName, shardId);
  }

  private placeholderStats(shard: KnownShard): ShardStats {
    return {
      shardId: shard.shardId,
      state: shard.finished ? 'finished' : 'waiting-for-parents',
      parentShardIds: shard.parentShardIds,
      recordsDelivered: 0,
      invocations: 0,
      functionErrors: 0,
      retries: 0,
      bisections: 0,
      discarded: 0,
      readThrottles: 0,
      throttles: 0,
      maxConcurrentBatches: 0,
      iteratorAgeMs: 0,
      lastCheckpoint: shard.storedCheckpoint,
    };
  }

  private say(line: string): void {
    this.log(`[${this.config.functionName} <- ${this.config.streamName}] ${line}`);
  }
}
