/**
 * Runs a job of any shape in process, as bench/engine.ts's runOnce runs one of one or two stages: every
 * stage one shard, its executor on whole batches (JSON records at the sources, envelopes and markers after
 * a shuffle), the keyed shards' logs in memory, no network. Records come in the order given, whatever
 * stream each is for (Nexmark's one generator feeds person, auction and bid); a keyed stage runs once
 * `ENVELOPES_PER_KEYED_BATCH` envelopes wait for it, as its 1 s batching window would gather them.
 */
import type { JobDefinition } from 'shardflow';
import { senderOf, stageOutputs, type Stage } from '../lib/plan/plan';
import { planJob } from '../lib/plan/planner';
import { StageExecutor, type ShuffleInput, type StageResult } from '../lib/runtime/stage-executor';
import { MemoryLogStore } from '../lib/state/memory/memory-log-store';
import { ShardStates } from '../lib/state/shard-states';

/** Records per source batch. */
export const BATCH = 500;
/**
 * Upstream batches per keyed-stage batch. Between stages a batch travels as one envelope per destination
 * shard, so a keyed batch of N records holds N upstream batches: 20 = 10,000 events of bench/engine.ts's
 * workload, one second (the stages' 1 s batching window).
 */
export const ENVELOPES_PER_KEYED_BATCH = Number(process.env.BENCH_ENVELOPES ?? 20);
const END_OF_TIME = Number.MAX_SAFE_INTEGER;

/** A source record: its stream, and its JSON text. */
export interface StreamRecord {
  readonly stream: string;
  readonly data: string;
}

/** Runs the records through the job to its end (the final watermark fires everything); records read per second and results written. */
export async function runPipeline(definition: JobDefinition, records: readonly StreamRecord[], states = new ShardStates(new MemoryLogStore())): Promise<{ recordsPerSec: number; read: number; results: number }> {
  const plan = planJob(definition);
  const index = new Map(plan.stages.map((s, i) => [s.id, i]));
  for (const [i, s] of plan.stages.entries()) {
    if (s.input.kind === 'shuffle' && s.input.lanes.some((l) => index.get(l.fromStage)! >= i)) throw new Error(`${plan.job}: stage ${s.id} reads a later stage; the driver runs stages in plan order`);
  }
  const executors = new Map(plan.stages.map((s) => [s.id, new StageExecutor(plan, s, states)]));
  const sources = new Map(plan.stages.filter((s) => s.input.kind === 'source').map((s) => [s.input.stream, s]));
  const shardOf = (s: Stage): string => (s.input.kind === 'source' ? 'shard-0' : `${s.id}-0`);
  const pending = new Map<string, ShuffleInput[]>(plan.stages.map((s) => [s.id, []]));
  const envelopes = new Map<string, number>();
  let seq = 1n;
  let results = 0;

  /** A batch's results handed on: sinks counted, each shuffle output an envelope and a marker for the stage reading its stream. */
  const handOn = (stage: Stage, result: StageResult): void => {
    results += result.outputs.length;
    for (const out of result.shuffles) {
      const next = plan.stages.find((s) => s.input.stream === out.stream)!;
      const from = senderOf(out.lane, shardOf(stage));
      const inputs = pending.get(next.id)!;
      inputs.push({ kind: 'envelope', sequenceNumber: String(seq++), from, arrivalMs: 0, elements: out.elements });
      if (result.marker !== undefined) inputs.push({ kind: 'marker', sequenceNumber: String(seq++), from, arrivalMs: 0, ...result.marker });
      envelopes.set(next.id, (envelopes.get(next.id) ?? 0) + 1);
    }
  };
  const runShuffled = async (stage: Stage): Promise<void> => {
    const inputs = pending.get(stage.id)!;
    if (inputs.length === 0) return;
    pending.set(stage.id, []);
    envelopes.set(stage.id, 0);
    const prepared = await executors.get(stage.id)!.run({ kind: 'shuffled', shardId: shardOf(stage), inputs });
    await prepared.commit();
    handOn(stage, prepared.result);
  };
  /** Every shuffled stage whose batch is full, in plan order (so what one sends the next may take at once). */
  const runFull = async (): Promise<void> => {
    for (const stage of plan.stages) if (stage.input.kind === 'shuffle' && (envelopes.get(stage.id) ?? 0) >= ENVELOPES_PER_KEYED_BATCH) await runShuffled(stage);
  };

  const started = process.hrtime.bigint();
  let read = 0;
  for (let i = 0; i < records.length; i += BATCH) {
    const byStream = new Map<string, string[]>();
    for (let j = i; j < Math.min(i + BATCH, records.length); j++) {
      const r = records[j]!;
      if (!sources.has(r.stream)) continue;
      let data = byStream.get(r.stream);
      if (!data) byStream.set(r.stream, (data = []));
      data.push(r.data);
    }
    for (const [stream, data] of byStream) {
      const stage = sources.get(stream)!;
      read += data.length;
      const prepared = await executors.get(stage.id)!.run({ kind: 'source', shardId: 'shard-0', records: data.map((d) => ({ shardId: 'shard-0', sequenceNumber: String(seq++), data: d })) });
      await prepared.commit();
      handOn(stage, prepared.result);
    }
    await runFull();
  }
  // The end of input: each source shard's last marker says the end of time; each stage then fires all it holds and says so onward.
  for (const stage of sources.values()) {
    for (const out of stageOutputs(stage)) {
      if (out.kind !== 'shuffle') continue;
      const next = plan.stages.find((s) => s.input.stream === out.stream)!;
      pending.get(next.id)!.push({ kind: 'marker', sequenceNumber: String(seq++), from: senderOf(out.lane, 'shard-0'), arrivalMs: 0, watermarkMs: END_OF_TIME });
    }
  }
  for (const stage of plan.stages) if (stage.input.kind === 'shuffle') await runShuffled(stage);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { recordsPerSec: read / seconds, read, results };
}
