import type { JobDefinition } from '../api/graph';
import { flowOutputs, senderOf, stageOutputs, type Plan, type Stage } from '../plan/plan';
import { planJob } from '../plan/planner';
import type { DeadLetter, Element, Output } from '../runtime/records';
import { StageExecutor, type ShuffleInput, type SourceRecord, type StageBatch, type StageResult } from '../runtime/stage-executor';
import { MemoryLogStore } from '../state/memory/memory-log-store';
import type { ShardLogStore } from '../state/shard-log';
import { ShardStates } from '../state/shard-states';
import { END_OF_INPUT, NO_WATERMARK } from '../time/watermark';

/** Omit over each member of a union (a plain Omit would merge the members). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Options of {@link harness}. */
export interface HarnessOptions {
  /**
   * 'manual' (default): watermarks move only when you call `watermark(ts)`, as in Flink's operator test
   * harness. 'strategy': the source's watermark strategy moves them as events are sent.
   */
  watermarks?: 'manual' | 'strategy';
  /**
   * Processing time, epoch ms: the Kinesis arrival time of what is sent, for idleness, processing-time
   * timers and windows. Default: starts at 0 and moves with `advanceProcessingTime` or `setProcessingTime`.
   */
  startMs?: number;
  /**
   * Where the keyed shards' logs live. Default: in memory. A `DynamoLogStore` runs the job's state on
   * DynamoDB (or an emulator), as the deployed stage functions keep it.
   */
  logs?: ShardLogStore;
}

/** Options of `send`. */
export interface SendOptions {
  /** The source stream to send on, for a job with several sources (default: the first source). */
  source?: string;
  /** The source shard the event arrives on. Default 'shard-0'. */
  shard?: string;
  /**
   * When it arrives (epoch ms of processing time); later sends arrive then too. Default: the harness's
   * processing time. Unlike `setProcessingTime`, no tick comes first: what is due fires at this record.
   */
  arrivalMs?: number;
}

/** Options of `replay`. */
export interface ReplayOptions {
  /**
   * How the first keyed stage's invocation (the source stage's, in a job without one) dies, so that
   * Lambda will deliver the batch again (replay it to see that nothing counts twice and nothing is lost):
   * 'after-state': once it has computed the batch — its outputs are lost, its state changes never reach
   * the log and its container's cache is gone. 'after-delivery': once its outputs reached the sinks and
   * the next keyed stage, before its log entry — the retry delivers them again.
   */
  crash?: 'after-state' | 'after-delivery';
  /** The source stream the records are on, for a job with several sources (default: the first source). */
  source?: string;
}

/**
 * Runs a job in memory, stage by stage, exactly as the stage functions would, with events and
 * watermarks pushed by hand: Flink's operator test harness for shardflow jobs. Each keyed stage fed by a
 * shuffle runs on one shard; a keyed stage sends the next its outputs and its watermark, as deployed.
 * @example
 * const h = harness(clickCounts);
 * await h.send({ userId: 'a', clicks: 2, ts: 1000 });
 * await h.watermark(4999);
 * expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 5000, clicks: 2 }]);
 */
export function harness(job: JobDefinition, options: HarnessOptions = {}): Harness {
  return new Harness(planJob(job), options);
}

/** The plan with every stage at parallelizationFactor 1 and one key group per shard: the harness runs one batch at a time, and results do not depend on it. */
const oneBatchAtATime = (plan: Plan): Plan => ({
  ...plan,
  stages: plan.stages.map((s) => (s.batch.parallelizationFactor === 1 && s.keyGroups === 1 ? s : { ...s, keyGroups: 1, batch: { ...s.batch, parallelizationFactor: 1 } })),
});

export class Harness {
  /** The keyed shards' logs: in memory unless the options name a store; what the deployed job keeps in DynamoDB. */
  readonly logs: ShardLogStore;
  private states: ShardStates;
  private executors: Map<string, StageExecutor>;
  /** Per shard (source or shuffle), the next sequence number on it. */
  private readonly sequence = new Map<string, bigint>();
  private readonly emitted = new Map<string, Output[]>();
  private readonly lateElements: Element[] = [];
  private readonly dead: DeadLetter[] = [];
  private nowMs: number;
  /** Source shards that have delivered a batch, in order, by source stage. */
  private readonly heardShards = new Map<string, Set<string>>();
  /** Each keyed shard's watermark after its last committed batch, by stage and shard. */
  private readonly watermarks = new Map<string, number>();

  readonly plan: Plan;

  constructor(plan: Plan, private readonly options: HarnessOptions) {
    this.plan = oneBatchAtATime(plan);
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
    if (options.arrivalMs !== undefined) this.nowMs = options.arrivalMs;
    await this.sendRaw(events.map((e) => JSON.stringify(e)), shardId, options.source);
  }

  /** Sends raw record data (malformed JSON included), as Kinesis would deliver it. */
  async sendRaw(data: readonly string[], shard = 'shard-0', source?: string): Promise<void> {
    const stage = this.sourceStage(source);
    const records = data.map((d) => ({ shardId: shard, sequenceNumber: this.nextSequenceNumber(`${stage.input.stream}/${shard}`), data: d, arrivalMs: this.nowMs }));
    await this.replay(records, { ...(source !== undefined && { source }) });
  }

  /**
   * Delivers source records again exactly as given (same shard and sequence numbers): what Lambda does
   * when it retries a batch. State must not change.
   */
  async replay(records: readonly SourceRecord[], options: ReplayOptions = {}): Promise<void> {
    const byShard = new Map<string, SourceRecord[]>();
    for (const r of records) {
      let list = byShard.get(r.shardId);
      if (!list) byShard.set(r.shardId, (list = []));
      list.push(r);
    }
    const stage = this.sourceStage(options.source);
    for (const [shardId, shardRecords] of byShard) {
      this.heardOf(stage).add(shardId);
      await this.runStage(stage, { kind: 'source', shardId, records: shardRecords }, options.crash);
    }
  }

  /**
   * Moves the watermark of the keyed stages that read the sources to `ts` (every input at `ts`), firing
   * every window and timer it makes due; the keyed stages after them follow, as their outputs and
   * watermarks reach them.
   */
  async watermark(ts: number): Promise<void> {
    if (ts <= this.currentWatermark()) return;
    for (const stage of this.plan.stages.filter((s) => s.keyed && this.readsSources(s))) {
      if (stage.input.kind === 'source') {
        // A keyed source stage: its shards' watermarks follow their records' event time; a manual one moves
        // them all, as a marker would.
        for (const shardId of this.heardOf(stage)) await this.runStage(stage, { kind: 'shuffled', shardId, inputs: [this.shuffleInput(shardId, { kind: 'marker', from: 'harness', watermarkMs: ts })] });
        continue;
      }
      const shardId = this.shuffledShard(stage);
      await this.runStage(stage, { kind: 'shuffled', shardId, inputs: this.upstreamShards(stage).map((u) => this.shuffleInput(shardId, { kind: 'marker', from: u, watermarkMs: ts })) });
    }
  }

  /** A keyed stage that reads sources (itself, or through a shuffle from a source stage): `watermark(ts)` moves it. */
  private readsSources(stage: Stage): boolean {
    if (stage.input.kind === 'source') return true;
    return stage.input.lanes.some((l) => this.plan.stages.find((s) => s.id === l.fromStage)!.keyed === undefined);
  }

  /** End of input: fires and closes everything still open (Flink's final MAX_WATERMARK). */
  async finish(): Promise<void> {
    await this.watermark(END_OF_INPUT);
  }

  /**
   * Moves processing time on by `ms`: what is sent from now on arrives then. A tick then reaches the keyed
   * stage, as the watermark function's ticks do: it fires the processing-time timers and windows due by
   * then, and (with `watermarks: 'strategy'`) tells the stage which inputs have been silent for `idleAfter`.
   * A keyed stage on a source declared `partitionedBy` its key gets no ticks, deployed or here: its
   * processing time moves with its own records.
   */
  async advanceProcessingTime(ms: number): Promise<void> {
    await this.setProcessingTime(this.nowMs + ms);
  }

  /** Sets processing time to `ms` (epoch ms; Flink's harness `setProcessingTime`): see {@link advanceProcessingTime}. */
  async setProcessingTime(ms: number): Promise<void> {
    this.nowMs = ms;
    // As the watermark function does: a tick on every shuffled keyed stage's shard, naming its upstream shards.
    for (const stage of this.plan.stages) {
      if (!stage.keyed || stage.input.kind !== 'shuffle') continue;
      const shardId = this.shuffledShard(stage);
      const upstream = this.upstreamShards(stage);
      await this.runStage(stage, { kind: 'shuffled', shardId, inputs: [this.shuffleInput(shardId, { kind: 'tick', upstream, caughtUp: await this.readToTheEnd(stage, shardId, upstream) })] });
    }
  }

  /**
   * What the watermark function's ticks say of a source stream's shards (by the ids `send` got): `upstream`
   * exist, so the keyed stages after them wait for each until it speaks; `ended` were closed by a reshard
   * and are read to their end, so they stop holding the watermark back. `shardflow run --from-stream` says
   * so as it replays a stream's history, shard by shard, as live.
   */
  async tickSourceShards(shards: { upstream: readonly string[]; ended: readonly string[] }, source?: string): Promise<void> {
    const from = this.sourceStage(source);
    for (const stage of this.plan.stages) {
      if (!stage.keyed || stage.input.kind !== 'shuffle') continue;
      const lanes = stage.input.lanes.filter((l) => l.fromStage === from.id);
      if (lanes.length === 0) continue;
      const senders = (ids: readonly string[]): string[] => lanes.flatMap((l) => ids.map((id) => senderOf(l.name, id)));
      const shardId = this.shuffledShard(stage);
      const upstream = senders(shards.upstream);
      await this.runStage(stage, { kind: 'shuffled', shardId, inputs: [this.shuffleInput(shardId, { kind: 'tick', upstream, ended: senders(shards.ended), caughtUp: await this.readToTheEnd(stage, shardId, upstream) })] });
    }
  }

  /**
   * What the watermark function would find in the source shards here: everything sent has been delivered, so
   * each upstream shard is read to its end — up to the last position the keyed shard heard of it, or from its
   * start for one not heard from yet. A silent one is then idle after `idleAfter`, as a quiet shard is.
   */
  private async readToTheEnd(stage: Stage, shardId: string, upstream: readonly string[]): Promise<Record<string, string>> {
    const state = await this.states.current(this.executors.get(stage.id)!.logOf(shardId));
    const caughtUp: Record<string, string> = Object.fromEntries(upstream.map((u) => [u, '']));
    for (const [u, input] of state.allInputs()) caughtUp[u] = input.statusAt ?? '';
    return caughtUp;
  }

  /** The processing time things sent now arrive at. */
  get processingTime(): number {
    return this.nowMs;
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
   * A keyed stage's state per key (open windows, sessions, process state), as a cold container would
   * load it from the shards' logs: what a crash or a lost cache would leave. Default: the first keyed stage.
   */
  async state(stageId?: string): Promise<Record<string, unknown>> {
    const stage = stageId === undefined ? this.keyedStage() : this.plan.stages.find((s) => s.id === stageId && s.keyed);
    if (!stage) return {};
    const cold = new ShardStates(this.logs);
    const keys: Record<string, unknown> = {};
    for (const shardId of this.shardsOf(stage)) {
      const state = await cold.current({ stageId: stage.stateId, shardId });
      for (const key of state.keys()) keys[key] = structuredClone(state.get(key));
    }
    return keys;
  }

  /**
   * A keyed stage's watermark: the lowest of its shards' (one shuffled shard, or one per source shard).
   * Default: the first keyed stage, the one `watermark(ts)` moves.
   */
  currentWatermark(stageId?: string): number {
    const stage = stageId === undefined ? this.keyedStage() : this.plan.stages.find((s) => s.id === stageId && s.keyed);
    if (!stage) return NO_WATERMARK;
    const shards = this.shardsOf(stage);
    if (shards.length === 0) return NO_WATERMARK;
    return Math.min(...shards.map((shardId) => this.watermarks.get(`${stage.id}/${shardId}`) ?? NO_WATERMARK));
  }

  /**
   * Runs one batch on a stage and hands what it shuffles, with its marker, to the next stage as one batch
   * on its shard. `crash` hits the first keyed stage (or the source stage of a job without one): stages
   * before it run but deliver nothing to sinks, as that invocation's retry will run them again.
   */
  private async runStage(stage: Stage, batch: StageBatch, crash?: ReplayOptions['crash']): Promise<void> {
    const executor = this.executors.get(stage.id)!;
    const prepared = await executor.run(batch);
    const result = prepared.result;
    if (crash !== undefined && (stage.keyed !== undefined || stageOutputs(stage).some((o) => o.kind === 'sink'))) {
      if (crash === 'after-delivery') {
        this.collect(result);
        await this.handOn(stage, batch.shardId, result);
      }
      executor.drop(batch.shardId);
      return;
    }
    if (crash === undefined) this.collect(result);
    if ((await prepared.commit()) === 'lost') throw new Error(`harness: log slot of ${stage.id}/${batch.shardId} taken (nothing else writes here)`);
    if (stage.keyed) this.watermarks.set(`${stage.id}/${batch.shardId}`, result.watermarkMs);
    await this.handOn(stage, batch.shardId, result, crash);
  }

  /** A stage's shuffled elements and its marker, as a batch of each next stage's shard. */
  private async handOn(stage: Stage, fromShard: string, result: StageResult, crash?: ReplayOptions['crash']): Promise<void> {
    for (const out of result.shuffles) {
      const next = this.plan.stages.find((s) => s.input.stream === out.stream)!;
      const shardId = this.shuffledShard(next);
      const from = senderOf(out.lane, fromShard);
      const inputs = [this.shuffleInput(shardId, { kind: 'envelope', from, elements: out.elements })];
      // A source stage's marker only with the strategy watermark (else `watermark(ts)` moves time); a keyed
      // stage's always: it is that stage's watermark.
      const marks = stage.keyed !== undefined || this.options.watermarks === 'strategy';
      if (marks && result.marker !== undefined) inputs.push(this.shuffleInput(shardId, { kind: 'marker', from, ...result.marker }));
      await this.runStage(next, { kind: 'shuffled', shardId, inputs }, crash);
    }
  }

  /** A record of a shuffled shard's stream: the next sequence number there, arriving now. */
  private shuffleInput(shardId: string, record: DistributiveOmit<ShuffleInput, 'sequenceNumber' | 'arrivalMs'>): ShuffleInput {
    return { ...record, sequenceNumber: this.nextSequenceNumber(shardId), arrivalMs: this.nowMs } as ShuffleInput;
  }

  private nextSequenceNumber(shardId: string): string {
    const next = this.sequence.get(shardId) ?? 1n;
    this.sequence.set(shardId, next + 1n);
    return String(next);
  }

  /** A keyed stage's shards: one per shuffled stage, or the source shards heard so far. */
  private shardsOf(stage: Stage): string[] {
    return stage.input.kind === 'source' ? [...this.heardOf(stage)] : [this.shuffledShard(stage)];
  }

  /**
   * The shards upstream of a shuffled stage: the source shards the plan declares (`shard-0`, `shard-1`, …)
   * and any a test sent on; after a keyed stage, its shards.
   */
  private upstreamShards(stage: Stage): string[] {
    const lanes = stage.input.kind === 'shuffle' ? stage.input.lanes : [];
    return lanes.flatMap((lane) => {
      const from = this.plan.stages.find((s) => s.id === lane.fromStage)!;
      if (from.input.kind === 'shuffle') return [senderOf(lane.name, this.shuffledShard(from))];
      const declared = Array.from({ length: from.input.shards }, (_, i) => `shard-${i}`);
      return [...new Set([...declared, ...this.heardOf(from)])].map((shardId) => senderOf(lane.name, shardId));
    });
  }

  private heardOf(stage: Stage): Set<string> {
    let heard = this.heardShards.get(stage.id);
    if (!heard) this.heardShards.set(stage.id, (heard = new Set()));
    return heard;
  }

  /** The stage reading a source stream (by name; default the job's first source). */
  private sourceStage(stream?: string): Stage {
    const sources = this.plan.stages.filter((s) => s.input.kind === 'source');
    const stage = stream === undefined ? sources[0] : sources.find((s) => s.input.stream === stream);
    if (!stage) throw new Error(`harness: the job has no source stream '${stream}' (it has ${sources.map((s) => s.input.stream).join(', ')})`);
    return stage;
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
    // The harness runs one shard per shuffled stage: a keyed stage after another waits for that one shard.
    const plan: Plan = { ...this.plan, stages: this.plan.stages.map((s) => (s.input.kind === 'shuffle' ? { ...s, input: { ...s.input, shards: 1 } } : s)) };
    return new Map(plan.stages.map((s) => [s.id, new StageExecutor(plan, s, this.states)]));
  }

  /** The first keyed stage. */
  private keyedStage(): Stage | undefined {
    return this.plan.stages.find((s) => s.keyed);
  }

  /** The job's main sink: the last stage's first (searching back for a stage with one). */
  private mainSink(): string {
    for (const stage of [...this.plan.stages].reverse()) {
      const sink = flowOutputs(stage.flow).find((o) => o.kind === 'sink');
      if (sink?.kind === 'sink') return sink.sink.name;
    }
    return '';
  }
}
