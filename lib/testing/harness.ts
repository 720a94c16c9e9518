import type { JobDefinition } from '../api/graph';
import type { Plan, Stage } from '../plan/plan';
import { planJob } from '../plan/planner';
import type { DeadLetter, Element, Output } from '../runtime/records';
import { StageExecutor, type SinkOutput, type StageResult } from '../runtime/stage-executor';
import { MemoryBackend } from '../state/memory/memory-backend';
import { END_OF_INPUT } from '../time/watermark';

/** Options of {@link harness}. */
export interface HarnessOptions {
  /**
   * 'manual' (default): watermarks move only when you call `watermark(ts)`, as in Flink's operator test
   * harness. 'strategy': the source's watermark strategy moves them as events are sent.
   */
  watermarks?: 'manual' | 'strategy';
  /** Processing time for idleness, epoch ms. Default: starts at 0 and moves with `advanceProcessingTime`. */
  startMs?: number;
}

/** Options of `send`. */
export interface SendOptions {
  /** The source shard the event arrives on. Default 'shard-0'. */
  shard?: string;
}

/** Options of `replay`. */
export interface ReplayOptions {
  /**
   * 'after-state': the invocation dies once state is written: its outputs are lost and nothing is
   * committed, so Lambda will deliver the batch again (replay it to see that nothing counts twice and
   * nothing is lost).
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
  readonly backend = new MemoryBackend();
  private readonly executors: Map<string, StageExecutor>;
  private readonly sequence = new Map<string, bigint>();
  private readonly emitted = new Map<string, Output[]>();
  private readonly lateElements: Element[] = [];
  private readonly dead: DeadLetter[] = [];
  private nowMs: number;
  private readonly startMs: number;
  private keyedWatermark = Number.MIN_SAFE_INTEGER;
  /** Source shards that have delivered a batch. */
  private readonly heardShards = new Set<string>();

  constructor(
    readonly plan: Plan,
    private readonly options: HarnessOptions,
  ) {
    this.executors = new Map(plan.stages.map((s) => [s.id, new StageExecutor(plan, s, this.backend)]));
    this.nowMs = options.startMs ?? 0;
    this.startMs = this.nowMs;
  }

  /** Sends one event (as JSON, like a producer) into the source stream. */
  async send(event: unknown, options: SendOptions = {}): Promise<void> {
    await this.sendBatch([event], options);
  }

  /** Sends events as one batch of one shard: the store sees one update per item for all of them. */
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
    const byShard = new Map<string, typeof records[number][]>();
    for (const r of records) {
      const shardRecords = byShard.get(r.shardId);
      if (shardRecords) shardRecords.push(r);
      else byShard.set(r.shardId, [r]);
    }
    for (const [shardId, shardRecords] of byShard) {
      this.heardShards.add(shardId);
      const [first, ...rest] = this.plan.stages;
      const result = await this.executor(first!).runBatch({ kind: 'source', shardId, nowMs: this.nowMs, records: shardRecords });
      if (!crashed) {
        this.collect(result);
        await this.executor(first!).commit(result);
      }
      const next = rest[0];
      if (next) {
        const r2 = await this.executor(next).runBatch({
          kind: 'shuffled',
          shardId: `${next.input.stream}-0`,
          nowMs: this.nowMs,
          elements: result.shuffled,
          heard: [{ upstreamShard: shardId, watermarkMs: result.watermark.afterMs }],
        });
        if (crashed) continue;
        this.collect(r2);
        await this.executor(next).commit(r2);
      }
      if (this.options.watermarks === 'strategy') await this.advanceByStrategy();
    }
  }

  /** Moves the keyed stage's watermark to `ts`, firing every window and timer it makes due. */
  async watermark(ts: number): Promise<void> {
    const stage = this.keyedStage();
    if (!stage || ts <= this.keyedWatermark) return;
    this.keyedWatermark = ts;
    await this.executor(stage).fireDue(ts, async (fired) => {
      this.collectOutputs(fired.outputs);
      this.dead.push(...fired.deadLetters);
    });
  }

  /** End of input: fires and closes everything still open (Flink's final MAX_WATERMARK). */
  async finish(): Promise<void> {
    await this.watermark(END_OF_INPUT);
  }

  /** Moves processing time (for idle shards). */
  async advanceProcessingTime(ms: number): Promise<void> {
    this.nowMs += ms;
    if (this.options.watermarks === 'strategy') await this.advanceByStrategy();
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
   * sink's `key` option, or per id, the latest write winning — unless it is an older firing of the same
   * window than the one there (a lower output order), as the DynamoDB sink's conditional put refuses it.
   */
  table(sink: string = this.mainSink()): Record<string, unknown>[] {
    const spec = this.plan.sinks.find((s) => s.name === sink);
    const keyOption = spec?.kind === 'dynamodb' ? spec.options.key : undefined;
    const items = new Map<string, Output>();
    for (const o of this.emitted.get(sink) ?? []) {
      const r = o.record;
      const itemKey =
        typeof r.key === 'string' && typeof r.windowStart === 'number' ? `${r.key}\u0000${r.windowStart}` : keyOption ? `key\u0000${keyOption(r)}` : o.id;
      const kept = items.get(itemKey);
      if (kept?.order !== undefined && o.order !== undefined && o.order < kept.order) continue;
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

  /** The watermark the keyed stage has fired up to. */
  currentWatermark(): number {
    return this.keyedWatermark;
  }

  private async advanceByStrategy(): Promise<void> {
    const stage = this.keyedStage();
    if (!stage) return;
    // As Flink waits for every input channel: no watermark until each declared source shard has delivered
    // (or until the idleness timeout, as withIdleness marks a silent split idle). Otherwise a shard whose
    // first batch comes later would find its on-time records late.
    const source = this.plan.stages[0]?.input;
    const declaredShards = source?.kind === 'source' ? source.shards : 1;
    if (this.heardShards.size < declaredShards && this.nowMs - this.startMs < this.plan.eventTime.idleAfterMs) return;
    await this.watermark(await this.executor(stage).currentWatermark(this.nowMs));
  }

  private collect(result: StageResult): void {
    this.collectOutputs(result.outputs);
    this.lateElements.push(...result.late);
    this.dead.push(...result.deadLetters);
  }

  private collectOutputs(outputs: readonly SinkOutput[]): void {
    for (const { sink, output } of outputs) {
      const list = this.emitted.get(sink);
      if (list) list.push(output);
      else this.emitted.set(sink, [output]);
    }
  }

  private keyedStage(): Stage | undefined {
    return this.plan.stages.find((s) => s.keyed);
  }

  private mainSink(): string {
    const last = this.plan.stages[this.plan.stages.length - 1]!;
    return last.output.kind === 'sink' ? last.output.sink.name : '';
  }

  private executor(stage: Stage): StageExecutor {
    return this.executors.get(stage.id)!;
  }
}
