/**
 * One shard's poller, as Lambda runs it for a Kinesis event source mapping
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html):
 *
 * - GetRecords in a loop: at once again while records keep coming, after the poll interval once
 *   caught up; throttling (ProvisionedThroughputExceededException) is waited out, never surfaced.
 * - Records go to ParallelizationFactor lanes by partition key. A lane runs one batch at a time, so a
 *   key's records are processed in order, and a lane's next batch starts only when the previous one
 *   succeeded or was discarded.
 * - A lane invokes when it has a full batch (BatchSize records, or the 6 MB payload limit), when its
 *   batching window has closed (see BatchingWindow: it opens when the lane's previous invocation
 *   completes), or at once with a window of 0 ("Lambda invokes your function as soon as records are
 *   available").
 * - The checkpoint moves to the end of the longest finished prefix of the shard (see
 *   CheckpointTracker) and is saved before the lane goes on.
 * - At the end of a closed shard (GetRecords returns no NextShardIterator), the consumer drains its
 *   lanes, saves SHARD_END and stops: its children may then start.
 */
import { randomUUID } from 'node:crypto';
import { GetRecordsCommand, GetShardIteratorCommand, type GetRecordsCommandOutput, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { arnParts, localInvokeIdentityArn, toLambdaRecord, type LambdaKinesisRecord } from '../lambda-event';
import { cutBatch, eventBytesOf } from './batch-cut';
import { BatchingWindow } from './batching-window';
import { DEFAULT_RETRY_BASE_MS, DEFAULT_RETRY_MAX_MS, runBatch, type BatchEvent, type BatchRunnerHooks, type DiscardInfo, type RetryPolicy } from './batch-runner';
import { SHARD_END, type CheckpointStore } from './checkpoint-store';
import { CheckpointTracker } from './checkpoint-tracker';
import type { ResolvedMappingConfig } from './config';
import { laneOf } from './lanes';
import { compareSequenceNumbers } from './sequence-number';
import type { StartPosition } from './shard-lineage';
import type { Invoke, KinesisFailureRecord, OnFailure, ShardState, ShardStats } from './types';
import { Wakeup, backoffMs, sleep } from './waiting';

/** GetRecords returns at most 10,000 records per call. */
const MAX_GET_RECORDS = 10_000;
/** Backoff for throttled or failed Kinesis calls. */
const KINESIS_RETRY_BASE_MS = 200;
const KINESIS_RETRY_MAX_MS = 5_000;

/** A record read from the shard, with what the consumer needs at hand. */
export interface ShardRecord {
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly arrivalMs: number;
  /** The record as the function receives it. */
  readonly event: LambdaKinesisRecord;
  /** Its size in the invocation event's JSON, for the 6 MB payload limit. */
  readonly eventBytes: number;
}

/** Everything a shard consumer is given. */
export interface ShardConsumerOptions {
  readonly kinesis: KinesisClient;
  readonly config: ResolvedMappingConfig;
  readonly streamArn: string;
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  readonly start: StartPosition;
  /** The checkpoint loaded from the store, if any. */
  readonly checkpoint: string | undefined;
  readonly checkpointKey: string;
  readonly checkpoints: CheckpointStore;
  readonly invoke: Invoke;
  readonly onFailure: OnFailure | undefined;
  readonly log: (line: string) => void;
  readonly clock: () => number;
  /** Records older than this are discarded; `undefined` = never. */
  readonly maxRecordAgeMs: number | undefined;
  /** Called once the shard has been processed to its end and SHARD_END saved. */
  readonly onFinished: (shardId: string) => void;
}

interface Lane {
  readonly index: number;
  readonly queue: ShardRecord[];
  busy: boolean;
  readonly window: BatchingWindow;
  windowTimer: NodeJS.Timeout | undefined;
}

interface Counters {
  recordsDelivered: number;
  invocations: number;
  functionErrors: number;
  retries: number;
  bisections: number;
  discarded: number;
  readThrottles: number;
  throttles: number;
  maxConcurrentBatches: number;
}

/** Reads one shard and feeds its records to the function. Create, `start()`, and later `stop()`. */
export class ShardConsumer {
  private readonly abort = new AbortController();
  private readonly lanes: Lane[];
  private readonly tracker: CheckpointTracker;
  private readonly space = new Wakeup();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counters: Counters = { recordsDelivered: 0, invocations: 0, functionErrors: 0, retries: 0, bisections: 0, discarded: 0, readThrottles: 0, throttles: 0, maxConcurrentBatches: 0 };
  private readonly policy: RetryPolicy;
  /** Bound on records read but not yet checkpointed, so a stuck lane cannot make the reader buffer the whole shard. */
  private readonly maxBuffered: number;
  private state: ShardState = 'polling';
  private polling: Promise<void> | undefined;
  private polledOnce = false;
  private caughtUp = false;
  private ended = false;
  private finishing: Promise<void> | undefined;
  private millisBehindLatest = 0;
  private lastRead: string | undefined;
  private savedCheckpoint: string | undefined;
  private saveChain: Promise<void> = Promise.resolve();
  private throttleStreak = 0;
  private readonly invokeIdentityArn: string;

  constructor(private readonly opts: ShardConsumerOptions) {
    const { config } = opts;
    const monotonic = (): number => performance.now();
    this.lanes = Array.from({ length: config.parallelizationFactor }, (_, index) => ({
      index,
      queue: [],
      busy: false,
      window: new BatchingWindow(config.maxBatchingWindowSeconds, monotonic),
      windowTimer: undefined,
    }));
    this.invokeIdentityArn = config.invokeIdentityArn ?? localInvokeIdentityArn(opts.streamArn, config.functionName);
    this.tracker = new CheckpointTracker(opts.checkpoint);
    this.savedCheckpoint = opts.checkpoint;
    this.lastRead = opts.start.type === 'AFTER_SEQUENCE_NUMBER' ? opts.start.sequenceNumber : undefined;
    this.maxBuffered = Math.max(2 * config.batchSize * config.parallelizationFactor, config.batchSize + 1);
    this.policy = {
      bisectOnError: config.bisectOnError,
      maxRetryAttempts: config.maxRetryAttempts,
      reportBatchItemFailures: config.reportBatchItemFailures,
      maxRecordAgeMs: opts.maxRecordAgeMs,
      retryBaseMs: DEFAULT_RETRY_BASE_MS,
      retryMaxMs: DEFAULT_RETRY_MAX_MS,
    };
  }

  /** Starts polling. */
  start(): void {
    this.polling ??= this.poll().catch((e) => this.log(`poller stopped by an unexpected error: ${describe(e)}`));
  }

  /** Stops polling and starting batches, lets in-flight invocations finish and saves their checkpoint. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const lane of this.lanes) this.clearWindow(lane);
    this.space.notify();
    await this.polling;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.finishing;
    await this.saveChain.catch(() => undefined);
    if (this.state !== 'finished') this.state = 'stopped';
  }

  /** True when the shard is caught up (or finished) and nothing is queued, in flight or unsaved. */
  idle(): boolean {
    if (this.state === 'finished') return true;
    return (
      this.polledOnce &&
      this.caughtUp &&
      !this.ended &&
      this.tracker.pending === 0 &&
      this.inFlight.size === 0 &&
      this.savedCheckpoint === this.tracker.checkpoint
    );
  }

  get finished(): boolean {
    return this.state === 'finished';
  }

  stats(): ShardStats {
    const oldest = this.tracker.oldestPendingArrivalMs();
    const iteratorAgeMs = oldest !== undefined ? Math.max(0, this.opts.clock() - oldest) : this.millisBehindLatest;
    return {
      shardId: this.opts.shardId,
      state: this.state,
      parentShardIds: this.opts.parentShardIds,
      ...this.counters,
      iteratorAgeMs,
      lastCheckpoint: this.savedCheckpoint,
    };
  }

  // ---- reading -------------------------------------------------------------------------------

  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async poll(): Promise<void> {
    const { config } = this.opts;
    let iterator = await this.acquireIterator(this.opts.start);
    while (iterator !== undefined && !this.stopping) {
      const room = this.maxBuffered - this.tracker.pending;
      if (room <= 0) {
        await this.space.wait(config.pollIntervalMs, this.abort.signal);
        continue;
      }
      let out: GetRecordsCommandOutput;
      try {
        const limit = Math.min(MAX_GET_RECORDS, config.batchSize * config.parallelizationFactor, room);
        out = await this.opts.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }), { abortSignal: this.abort.signal });
        this.throttleStreak = 0;
      } catch (e) {
        if (this.stopping) break;
        if (isThrottle(e)) {
          // Kinesis allows 5 GetRecords per second per shard; Lambda backs off and tries again.
          this.counters.readThrottles++;
          await sleep(backoffMs(++this.throttleStreak, KINESIS_RETRY_BASE_MS, KINESIS_RETRY_MAX_MS), this.abort.signal);
          continue;
        }
        if (errorName(e) === 'ExpiredIteratorException') {
          // Iterators expire after 5 minutes; resume just after the last record read.
          iterator = await this.acquireIterator(this.resumePosition());
          continue;
        }
        this.log(`GetRecords failed (${describe(e)}); retrying`);
        await sleep(backoffMs(++this.throttleStreak, KINESIS_RETRY_BASE_MS, KINESIS_RETRY_MAX_MS), this.abort.signal);
        continue;
      }
      const records = out.Records ?? [];
      this.accept(records);
      this.polledOnce = true;
      this.millisBehindLatest = out.MillisBehindLatest ?? 0;
      this.caughtUp = records.length === 0 && this.millisBehindLatest === 0;
      iterator = out.NextShardIterator ?? undefined;
      if (iterator === undefined) {
        // No next iterator: the shard is closed and we have read its last record.
        this.ended = true;
        if (this.state === 'polling') this.state = 'draining';
        this.log(`reached the end of the closed shard; draining`);
      }
      this.pump();
      if (iterator !== undefined && records.length === 0 && this.millisBehindLatest === 0) {
        await sleep(config.pollIntervalMs, this.abort.signal);
      }
    }
    this.maybeFinish();
  }

  private resumePosition(): StartPosition {
    return this.lastRead !== undefined ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: this.lastRead } : this.opts.start;
  }

  /** GetShardIterator, retried until it succeeds or the consumer stops (then `undefined`). */
  private async acquireIterator(position: StartPosition): Promise<string | undefined> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        const out = await this.opts.kinesis.send(
          new GetShardIteratorCommand({
            StreamARN: this.opts.streamArn,
            ShardId: this.opts.shardId,
            ShardIteratorType: position.type,
            ...(position.type === 'AFTER_SEQUENCE_NUMBER' && { StartingSequenceNumber: position.sequenceNumber }),
            ...(position.type === 'AT_TIMESTAMP' && { Timestamp: new Date(position.timestampMs) }),
          }),
          { abortSignal: this.abort.signal },
        );
        if (out.ShardIterator) return out.ShardIterator;
        this.log(`GetShardIterator returned no iterator; retrying`);
      } catch (e) {
        if (this.stopping) return undefined;
        if (isThrottle(e)) this.counters.readThrottles++;
        else this.log(`GetShardIterator ${position.type} failed (${describe(e)}); retrying`);
      }
      await sleep(backoffMs(attempt, KINESIS_RETRY_BASE_MS, KINESIS_RETRY_MAX_MS), this.abort.signal);
    }
    return undefined;
  }

  private accept(records: readonly _Record[]): void {
    const lanes = this.lanes.length;
    for (const raw of records) {
      const sequenceNumber = raw.SequenceNumber;
      if (sequenceNumber === undefined) continue;
      // Never hand a record over twice, even if an iterator is re-acquired at an older position.
      if (this.lastRead !== undefined && compareSequenceNumbers(sequenceNumber, this.lastRead) <= 0) continue;
      const arrivalMs = raw.ApproximateArrivalTimestamp?.getTime() ?? this.opts.clock();
      const event = toLambdaRecord(raw, this.opts.shardId, this.opts.streamArn, this.invokeIdentityArn, arrivalMs);
      const record: ShardRecord = { sequenceNumber, partitionKey: raw.PartitionKey ?? '', arrivalMs, event, eventBytes: eventBytesOf(event) };
      this.tracker.add(sequenceNumber, record.arrivalMs);
      this.lanes[laneOf(record.partitionKey, lanes)]!.queue.push(record);
      this.lastRead = sequenceNumber;
    }
  }

  // ---- batching ------------------------------------------------------------------------------

  /** Starts a batch on every free lane whose batch is ready; arms the window timer of the others. */
  private pump(): void {
    if (this.stopping) return;
    const { batchSize } = this.opts.config;
    for (const lane of this.lanes) {
      if (lane.busy || lane.queue.length === 0) continue;
      const remainingMs = lane.window.remainingMs();
      const cut = cutBatch(lane.queue, batchSize);
      // A closed shard that has been read to its end gets no more records: waiting would only delay.
      if (cut.full || remainingMs === 0 || this.ended) {
        this.startBatch(lane, cut.count);
      } else if (lane.windowTimer === undefined) {
        lane.windowTimer = setTimeout(() => {
          lane.windowTimer = undefined;
          this.pump();
        }, remainingMs);
      }
    }
  }

  private clearWindow(lane: Lane): void {
    if (lane.windowTimer !== undefined) clearTimeout(lane.windowTimer);
    lane.windowTimer = undefined;
  }

  private startBatch(lane: Lane, count: number): void {
    this.clearWindow(lane);
    const batch = lane.queue.splice(0, count);
    lane.busy = true;
    const task: Promise<void> = runBatch(batch, this.policy, this.hooks(lane))
      .then(() => undefined)
      .catch((e) => this.log(`lane ${lane.index}: batch aborted by an unexpected error (${describe(e)}); its records will be read again after a restart`))
      .finally(() => {
        lane.busy = false;
        lane.window.restart();
        this.inFlight.delete(task);
        this.space.notify();
        this.pump();
        this.maybeFinish();
      });
    this.inFlight.add(task);
    this.counters.maxConcurrentBatches = Math.max(this.counters.maxConcurrentBatches, this.inFlight.size);
  }

  private hooks(lane: Lane): BatchRunnerHooks<ShardRecord> {
    const signal = this.abort.signal;
    return {
      invoke: (records) => this.opts.invoke({ Records: records.map((r) => r.event) }),
      succeeded: async (records) => {
        this.counters.recordsDelivered += records.length;
        await this.finish(records);
      },
      discard: async (records, info) => {
        if (!(await this.sendToFailureDestination(records, info))) return false;
        this.counters.discarded += records.length;
        await this.finish(records);
        return true;
      },
      sleep: (ms) => sleep(ms, signal),
      now: () => this.opts.clock(),
      stopped: () => signal.aborted,
      onEvent: (event) => this.onBatchEvent(lane, event),
    };
  }

  private onBatchEvent(lane: Lane, event: BatchEvent): void {
    switch (event.kind) {
      case 'invoked':
        this.counters.invocations++;
        if (event.retry) this.counters.retries++;
        break;
      case 'throttled':
        this.counters.throttles++;
        this.log(`lane ${lane.index}: invoke of ${event.size} record(s) throttled (the function is at its concurrency limit); again in ${event.delayMs} ms`);
        break;
      case 'function-error':
        this.counters.functionErrors++;
        this.log(`lane ${lane.index}: function error on ${event.size} record(s): ${event.reason}`);
        break;
      case 'partial-failure':
        this.counters.functionErrors++;
        this.log(`lane ${lane.index}: ${event.succeeded} record(s) succeeded, retrying from ${event.firstFailed} (${event.failed} record(s))`);
        break;
      case 'bisected':
        this.counters.bisections++;
        this.log(`lane ${lane.index}: bisecting into ${event.first} + ${event.second} record(s)`);
        break;
      case 'retry-scheduled':
        this.log(`lane ${lane.index}: retry ${event.retry} of ${event.size} record(s) in ${event.delayMs} ms`);
        break;
    }
  }

  // ---- finishing records and the shard ------------------------------------------------------

  /** Records are done (succeeded or discarded): move the checkpoint and save it before the lane goes on. */
  private async finish(records: readonly ShardRecord[]): Promise<void> {
    this.tracker.markDone(records.map((r) => r.sequenceNumber));
    await this.persistCheckpoint();
  }

  private persistCheckpoint(): Promise<void> {
    // Saves run one after another and each saves the newest checkpoint, so the stored value only moves forward.
    this.saveChain = this.saveChain.then(async () => {
      const latest = this.tracker.checkpoint;
      if (latest === undefined || latest === this.savedCheckpoint) return;
      await this.save(latest);
    });
    return this.saveChain;
  }

  /** Saves a checkpoint, retrying a failing store until it works or the consumer stops. */
  private async save(value: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.checkpoints.save(this.opts.checkpointKey, value);
        this.savedCheckpoint = value;
        return;
      } catch (e) {
        this.log(`could not save checkpoint ${value} (${describe(e)})`);
        if (!(await sleep(backoffMs(attempt, KINESIS_RETRY_BASE_MS, KINESIS_RETRY_MAX_MS), this.abort.signal))) return;
      }
    }
  }

  private async sendToFailureDestination(records: readonly ShardRecord[], info: DiscardInfo): Promise<boolean> {
    const first = records[0]!;
    const last = records[records.length - 1]!;
    const { config, clock } = this.opts;
    const { region, account } = arnParts(this.opts.streamArn);
    const failure: KinesisFailureRecord = {
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:${region}:${account}:function:${config.functionName}`,
        condition: info.condition,
        approximateInvokeCount: info.approximateInvokeCount,
      },
      ...(info.approximateInvokeCount > 0 && {
        responseContext: { statusCode: 200, executedVersion: '$LATEST', ...(info.functionError !== undefined && { functionError: info.functionError }) },
      }),
      version: '1.0',
      timestamp: new Date(clock()).toISOString(),
      KinesisBatchInfo: {
        shardId: this.opts.shardId,
        startSequenceNumber: first.sequenceNumber,
        endSequenceNumber: last.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date(first.arrivalMs).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.arrivalMs).toISOString(),
        batchSize: records.length,
        streamArn: this.opts.streamArn,
      },
    };
    this.log(
      `discarding ${records.length} record(s) ${first.sequenceNumber}..${last.sequenceNumber}: ${info.condition}` +
        ` after ${info.approximateInvokeCount} invocation(s)${info.lastError !== undefined ? ` (last error: ${info.lastError})` : ''}`,
    );
    const onFailure = this.opts.onFailure;
    if (onFailure === undefined) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        await onFailure(failure);
        return true;
      } catch (e) {
        // Lambda moves past discarded records only once the destination has them; so do we.
        this.log(`on-failure destination refused ${first.sequenceNumber}..${last.sequenceNumber} (${describe(e)}); retrying`);
        if (!(await sleep(backoffMs(attempt, DEFAULT_RETRY_BASE_MS, DEFAULT_RETRY_MAX_MS), this.abort.signal))) return false;
      }
    }
  }

  /** A closed shard whose records are all checkpointed is done: save SHARD_END and let its children start. */
  private maybeFinish(): void {
    if (!this.ended || this.finishing !== undefined || this.stopping) return;
    if (this.tracker.pending > 0 || this.inFlight.size > 0 || this.lanes.some((l) => l.busy || l.queue.length > 0)) return;
    this.saveChain = this.saveChain.catch(() => undefined).then(() => this.save(SHARD_END));
    this.finishing = this.saveChain.then(() => {
      // If the consumer stopped before SHARD_END was stored, a restart reads the shard's end again and finishes then.
      if (this.savedCheckpoint !== SHARD_END) return;
      this.state = 'finished';
      this.log(`finished: every record is checkpointed`);
      this.opts.onFinished(this.opts.shardId);
    });
  }

  private log(line: string): void {
    this.opts.log(`[${this.opts.config.functionName} <- ${this.opts.config.streamName}/${this.opts.shardId}] ${line}`);
  }
}

function errorName(e: unknown): string | undefined {
  return e !== null && typeof e === 'object' ? (e as { name?: string }).name : undefined;
}

function isThrottle(e: unknown): boolean {
  const name = errorName(e);
  return name === 'ProvisionedThroughputExceededException' || name === 'LimitExceededException' || name === 'ThrottlingException';
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
