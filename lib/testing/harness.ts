import type { JobDefinition } from '../api/graph';
import type { Plan, Stage } from '../plan/plan';
import { planJob } from '../plan/planner';
import type { DeadLetter, Element, Output } from '../runtime/records';
import { StageExecutor, type ShuffleInput, type StageBatch, type StageResult } from '../runtime/stage-executor';
import { MemoryLogStore } from '../state/memory/memory-log-store';
import type { ShardLogStore } from '../state/shard-log';
import { ShardStates } from '../state/shard-states';
import { END_OF_INPUT, NO_WATERMARK } from '../time/watermark';

/** Options of {@link harness}. */
export interface HarnessOptions {
  /**
   * 'manual' (default): watermarks move only when you call `watermark(ts)`, as in Flink's operator test
   * harness. 'strategy': the source's watermark strategy moves them as events are sent.
   */
  watermarks?: 'manual' | 'strategy';
  /** Processing time for idleness, epoch ms. Default: starts at 0 and moves with `advanceProcessingTime`. */
  startMs?: number;
  /**
   * Where the keyed shards' logs live. Default: in memory. A `DynamoLogStore` runs the job's state on
   * DynamoDB (or an emulator), as the deployed stage functions keep it.
   */
  logs?: ShardLogStore;
}

/** Options of `send`. */
export interface SendOptions {
  /** The source shard the event arrives on. Default 'shard-0'. */
  shard?: string;
}

/** Options of `replay`. */
export interface ReplayOptions {
  /**
   * 'after-state': the invocation dies once it has computed the batch: its outputs are lost, its state
   * changes never reach the log and its container's cache is gone, so Lambda will deliver the batch again
   * (replay it to see that nothing counts twice and nothing is lost).
   */
  crash?: 'after-state';
}

/**
 * Runs a job in memory, stage by stage, exactly as the stage functions would, with events and
 * watermarks pushed by hand: Flink's operator test harness for shardflow jobs.
 * @example
 * const h = harness(clickCounts);
 * await h.send({ userId: 'a', clicks: 2, ts: 1000 });
 * await h.watermark(4999);
 * expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 5000, clicks: 2 }]);
 */
export function harness(job: JobDefinition, options: HarnessOptions = {}): Harness {
  return new Harness(planJob(job), options);
}

export class Harness {
  /** The keyed shards' logs: in memory unless the options name a store; what the deployed job keeps in DynamoDB. */
  readonly logs: ShardLogStore;
  private states: ShardStates;
  private executors: Map<string, StageExecutor>;
  private readonly sequence = new Map<string, bigint>();
  private readonly emitted = new Map<string, Output[]>();
  private readonly lateElements: Element[] = [];
  private readonly dead: DeadLetter[] = [];
  private nowMs: number;
  /** Source shards that have delivered a batch, in order. */
  private readonly heardShards = new Set<string>();
  /** Each keyed shard's watermark after its last committed batch. */
  private readonly watermarks = new Map<string, number>();

  constructor(
    readonly plan: Plan,
    private readonly options: HarnessOptions,
  ) {
    this.logs = options.logs ?? new MemoryLogStore();
    this.states = new ShardStates(this.logs);
    this.executors = this.newExecutors();
    this.nowMs = options.startMs ?? 0;
  }

  /** Sends one event (as JSON, like a producer) into the source stream. */
  async send(event: unknown, options: SendOptions = {}): Promise<void> {
    await this.sendBatch([event], options);
  }

  /** Sends events as one batch of one shard. */
  async sendBatch(events: readonly unknown[], options: SendOptions = {}): Promise<void> {
    const shardId = options.shard ?? 'shard-0';
    await this.sendRaw(events.map((e) => JSON.stringify(e)), shardId);
  }

  /** Sends raw record data (malformed JSON included), as Kinesis would deliver it. */
  async sendRaw(data: readonly string[], shard = 'shard-0'): Promise<void> {
    const first = this.sequence.get(shard) ?? 1n;
    this.sequence.set(shard, first + BigInt(data.length));
    const records = data.map((d, i) => ({ shardId: shard, sequenceNumber: String(first + BigInt(i)), data: d }));
    await this.replay(records);
  }

  /**
   * Delivers source records again exactly as given (same shard and sequence numbers): what Lambda does
   * when it retries a batch. State must not change.
   */
  async replay(records: readonly { shardId: string; sequenceNumber: string; data: string }[], options: ReplayOptions = {}): Promise<void> {
    const crashed = options.crash === 'after-state';
    const byShard = new Map<string, { shardId: string; sequenceNumber: string; data: string }[]>();
    for (const r of records) {
      let list = byShard.get(r.shardId);
      if (!list) byShard.set(r.shardId, (list = []));
      list.push(r);
    }
    const [first, next] = this.plan.stages;
    for (const [shardId, shardRecords] of byShard) {
      this.heardShards.add(shardId);
      const source = await this.run(first!, { kind: 'source', shardId, records: shardRecords }, crashed);
      if (!next) continue;
      const inputs: ShuffleInput[] = [{ kind: 'envelope', from: shardId, arrivalMs: this.nowMs, elements: source.shuffled }];
      if (this.options.watermarks === 'strategy') inputs.push({ kind: 'marker', from: shardId, arrivalMs: this.nowMs, watermarkMs: source.markerWatermarkMs });
      await this.runKeyed(inputs, crashed);
    }
  }

  /** Moves the keyed stage's watermark to `ts` (every input at `ts`), firing every window and timer it makes due. */
  async watermark(ts: number): Promise<void> {
    const stage = this.keyedStage();
    if (!stage || ts <= this.currentWatermark()) return;
    if (stage.input.kind === 'source') {
      // A keyed source stage: its shards' watermarks follow their records' event time; a manual one moves
      // them all, as a marker would.
      for (const shardId of this.heardShards) await this.run(stage, { kind: 'shuffled', shardId, inputs: [{ kind: 'marker', from: 'harness', arrivalMs: this.nowMs, watermarkMs: ts }] });
      return;
    }
    await this.runKeyed(this.upstreamShards().map((u) => ({ kind: 'marker', from: u, arrivalMs: this.nowMs, watermarkMs: ts })));
  }

  /** End of input: fires and closes everything still open (Flink's final MAX_WATERMARK). */
  async finish(): Promise<void> {
    await this.watermark(END_OF_INPUT);
  }

  /**
   * Moves processing time (for idle shards). With `watermarks: 'strategy'`, a tick then tells the keyed
   * stage which inputs have been silent for `idleAfter`, as the watermark function's ticks do.
   */
  async advanceProcessingTime(ms: number): Promise<void> {
    this.nowMs += ms;
    const stage = this.keyedStage();
    if (this.options.watermarks !== 'strategy' || stage?.input.kind !== 'shuffle') return;
    await this.runKeyed([{ kind: 'tick', arrivalMs: this.nowMs, upstream: this.upstreamShards() }]);
  }

  /**
   * A container's cache lost (recycled, or another container takes the next batch): the keyed state is
   * loaded again from its log. Nothing must change.
   */
  loseCaches(): void {
    this.states = new ShardStates(this.logs);
    this.executors = this.newExecutors();
  }

  /** The records a sink received, in order (default: the job's main sink). */
  results(sink?: string): Record<string, unknown>[] {
    return this.outputs(sink).map((o) => o.record);
  }

  /** The records a sink received with their deterministic ids. */
  outputs(sink: string = this.mainSink()): Output[] {
    return [...(this.emitted.get(sink) ?? [])];
  }

  /**
   * What a DynamoDB sink table would hold: one item per key + windowStart (window results), per the
   * sink's `key` option, or per id; of results for one item, the newest (by order) wins.
   */
  table(sink: string = this.mainSink()): Record<string, unknown>[] {
    const spec = this.plan.sinks.find((s) => s.name === sink);
    const keyOption = spec?.kind === 'dynamodb' ? spec.options.key : undefined;
    const items = new Map<string, Output>();
    for (const o of this.outputs(sink)) {
      const r = o.record;
      const itemKey =
        typeof r.key === 'string' && typeof r.windowStart === 'number' ? `${r.key}\u0000${r.windowStart}` : keyOption ? `key\u0000${keyOption(r)}` : o.id;
      const held = items.get(itemKey);
      if (held?.order !== undefined && o.order !== undefined && held.order > o.order) continue;
      items.set(itemKey, o);
    }
    return [...items.values()].map((o) => o.record);
  }

  /** Elements dropped as late (also sent to the late output when the job has one). */
  late(): unknown[] {
    return this.lateElements.map((e) => e.value);
  }

  deadLetters(): DeadLetter[] {
    return [...this.dead];
  }

  /**
   * The keyed stage's state per key (open windows, sessions, process state), as a cold container would
   * load it from the shards' logs: what a crash or a lost cache would leave.
   */
  async state(): Promise<Record<string, unknown>> {
    const stage = this.keyedStage();
    if (!stage) return {};
    const shards = stage.input.kind === 'source' ? [...this.heardShards] : [this.shuffledShard(stage)];
    const cold = new ShardStates(this.logs);
    const keys: Record<string, unknown> = {};
    for (const shardId of shards) {
      const state = await cold.current({ stageId: stage.id, shardId });
      for (const key of state.keys()) keys[key] = structuredClone(state.get(key));
    }
    return keys;
  }

  /** The keyed stage's watermark: the lowest of its shards' (one shuffled shard, or one per source shard). */
  currentWatermark(): number {
    const stage = this.keyedStage();
    if (!stage) return NO_WATERMARK;
    const shards = stage.input.kind === 'source' ? [...this.heardShards] : [this.shuffledShard(stage)];
    if (shards.length === 0) return NO_WATERMARK;
    return Math.min(...shards.map((shardId) => this.watermarks.get(shardId) ?? NO_WATERMARK));
  }

  /** Runs one batch on a stage and, unless it crashed, collects and commits it; a crash drops the shard's cache. */
  private async run(stage: Stage, batch: StageBatch, crashed = false): Promise<StageResult> {
    const executor = this.executors.get(stage.id)!;
    const prepared = await executor.run(batch);
    if (crashed) {
      executor.drop(batch.shardId);
      return prepared.result;
    }
    this.collect(prepared.result);
    if ((await prepared.commit()) === 'lost') throw new Error(`harness: log slot of ${stage.id}/${batch.shardId} taken (nothing else writes here)`);
    if (stage.keyed) this.watermarks.set(batch.shardId, prepared.result.watermarkMs);
    return prepared.result;
  }

  private async runKeyed(inputs: ShuffleInput[], crashed = false): Promise<void> {
    const stage = this.keyedStage();
    if (!stage || stage.input.kind !== 'shuffle') return;
    await this.run(stage, { kind: 'shuffled', shardId: this.shuffledShard(stage), inputs }, crashed);
  }

  /** The source shards: those the plan declares (`shard-0`, `shard-1`, …) and any a test sent on. */
  private upstreamShards(): string[] {
    const declared = Array.from({ length: this.plan.stages[0]!.input.shards }, (_, i) => `shard-${i}`);
    return [...new Set([...declared, ...this.heardShards])];
  }

  private shuffledShard(stage: Stage): string {
    return `${stage.input.stream}-0`;
  }

  private collect(result: StageResult): void {
    for (const { sink, output } of result.outputs) {
      let list = this.emitted.get(sink);
      if (!list) this.emitted.set(sink, (list = []));
      list.push(output);
    }
    this.lateElements.push(...result.late);
    this.dead.push(...result.deadLetters);
  }

  private newExecutors(): Map<string, StageExecutor> {
    return new Map(this.plan.stages.map((s) => [s.id, new StageExecutor(this.plan, s, this.states)]));
  }

  private keyedStage(): Stage | undefined {
    return this.plan.stages.find((s) => s.keyed);
  }

  private mainSink(): string {
    const last = this.plan.stages[this.plan.stages.length - 1]!;
    return last.output.kind === 'sink' ? last.output.sink.name : '';
  }
}
