import type { Plan, Stage } from '../plan/plan';
import { StageExecutor, stageInputIds } from '../runtime/stage-executor';
import type { DeadLetter } from '../runtime/records';
import type { StateBackend } from '../state/backend';
import { NO_WATERMARK } from '../time/watermark';
import type { SinkWriter } from './sinks';
import { deadLetterSample, type DeadLetterSample, type StateWriteCounts } from './metrics';

export interface WatermarkTick {
  readonly stage: string;
  readonly watermarkMs: number;
  readonly fired: number;
  readonly outputs: number;
  /** Firing failures written as dead letters, with a few of them by name. */
  readonly deadLetters?: number;
  readonly deadLetterSample?: readonly DeadLetterSample[];
  /** State item writes and refused conditions while firing, when the backend counts them. */
  readonly stateWrites?: number;
  readonly conditionFailures?: number;
  /** Processing time of the tick (watermark lag = atMs − watermarkMs). */
  readonly atMs?: number;
}

export interface WatermarkHandlerDeps {
  readonly plan: Plan;
  readonly backend: StateBackend;
  readonly sinks: SinkWriter;
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Run ticks for this long in one invocation (EventBridge fires at most once a minute). Default 0: one tick. */
  readonly loopForMs?: number;
  /** Time between ticks inside one invocation. Default 1000 ms. */
  readonly tickMs?: number;
  /**
   * Return before `loopForMs` once a tick finds every input of every keyed stage idle: nothing can fire
   * until data comes, and a loop would only bill. The stage function that next wakes from idleness
   * starts this function again (`wakeWatermark` of the stage handler); the schedule does otherwise.
   */
  readonly stopWhenIdle?: boolean;
  /**
   * Ticks without a pause while events flow, as deployed: one invocation ticks at a time (it holds a
   * lease for its loop; one that finds the lease held returns at once), and at the end of its loop, while
   * an input is still active, it gives the lease up and starts its successor (`invokeSuccessor`, an
   * asynchronous invoke of itself) — so the schedule's next minute is a safety net, not a 5 s pause.
   */
  readonly handOver?: {
    /** A name for this invocation (the lease's holder). */
    readonly holder: () => string;
    /** How long a lease lasts: the function's timeout, so a killed holder's lease expires with it. */
    readonly leaseMs: number;
    readonly invokeSuccessor: () => Promise<void>;
    /** Warnings that do not fail the invocation (a successor that could not be started). */
    readonly warn?: (message: string, detail: Record<string, unknown>) => void;
  };
  readonly onTick?: (tick: WatermarkTick) => void;
  /** The backend's write counters so far (e.g. `DynamoBackend.counters`), for per-tick metrics. */
  readonly stateCounters?: () => StateWriteCounts;
  /**
   * Every shard of a stream, open or closed (ListShards): which inputs a keyed stage must wait for. Without
   * it the plan's shard counts stand in, which cannot tell a split's children from a shard not heard yet.
   */
  readonly listShards?: (stream: string) => Promise<readonly string[]>;
}

/**
 * The scheduled watermark function: for each keyed stage, the watermark is the minimum over its
 * active inputs; every window and timer due by it fires (results to the sinks first, then the item is
 * marked fired or closed under its version), and the stage's fired watermark is recorded. Two
 * invocations racing fire each window once: the loser's conditional write fails and it re-reads.
 */
export function createWatermarkHandler(deps: WatermarkHandlerDeps): () => Promise<WatermarkTick[]> {
  const clock = deps.clock ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const executors = deps.plan.stages.filter((s) => s.keyed).map((s) => new StageExecutor(deps.plan, s, deps.backend));
  const knownInputs = async (stage: Stage): Promise<readonly string[] | undefined> => {
    if (!deps.listShards) return undefined;
    const source = deps.plan.stages[0]!.input.stream;
    return stage.input.kind === 'source'
      ? stageInputIds(stage, await deps.listShards(source))
      : stageInputIds(stage, await deps.listShards(stage.input.stream), await deps.listShards(source));
  };

  /** One tick: every keyed stage fires what its watermark makes due. `idle`: every input of every stage is. */
  const tick = async (): Promise<{ ticks: WatermarkTick[]; idle: boolean }> => {
    const ticks: WatermarkTick[] = [];
    let idle = true;
    for (const executor of executors) {
      const atMs = clock();
      const progress = await executor.inputProgress(atMs, await knownInputs(executor.stage));
      idle &&= progress.idle;
      const watermarkMs = progress.watermarkMs;
      if (watermarkMs === NO_WATERMARK) continue;
      let outputs = 0;
      const deadLetters: DeadLetter[] = [];
      const countsBefore = deps.stateCounters?.();
      const { fired } = await executor.fireDue(watermarkMs, async (f) => {
        await deps.sinks.deadLetters(f.deadLetters);
        await deps.sinks.write(f.outputs);
        outputs += f.outputs.length;
        deadLetters.push(...f.deadLetters);
      });
      const countsAfter = deps.stateCounters?.();
      const t: WatermarkTick = {
        stage: executor.stage.id,
        watermarkMs,
        fired,
        outputs,
        deadLetters: deadLetters.length,
        deadLetterSample: deadLetterSample(deadLetters),
        ...(countsBefore && countsAfter && { stateWrites: countsAfter.writes - countsBefore.writes, conditionFailures: countsAfter.conditionFailures - countsBefore.conditionFailures }),
        atMs,
      };
      deps.onTick?.(t);
      ticks.push(t);
    }
    return { ticks, idle };
  };

  /**
   * Says the function sleeps, then looks at the inputs once more: a stage function commits its input
   * before it claims the wake, so either this look sees it active or its claim sees the flag. If an input
   * became active meanwhile, takes the flag back and goes on.
   */
  const fallAsleep = async (): Promise<boolean> => {
    await deps.backend.markWatermarkAsleep();
    for (const executor of executors) {
      if (!(await executor.inputProgress(clock())).idle) {
        await deps.backend.claimWatermarkWake();
        return false;
      }
    }
    return true;
  };

  /** The loop of one invocation; `idle`: it ended because every input was idle (the function sleeps). */
  const loop = async (): Promise<{ ticks: WatermarkTick[]; idle: boolean }> => {
    const until = clock() + (deps.loopForMs ?? 0);
    const all: WatermarkTick[] = [];
    for (;;) {
      const { ticks, idle } = await tick();
      all.push(...ticks);
      if (deps.stopWhenIdle && idle && (await fallAsleep())) return { ticks: all, idle: true };
      if (clock() + (deps.tickMs ?? 1000) > until) return { ticks: all, idle: false };
      await sleep(deps.tickMs ?? 1000);
    }
  };

  return async () => {
    const handOver = deps.handOver;
    if (!handOver) return (await loop()).ticks;
    const holder = handOver.holder();
    const startedMs = clock();
    if (!(await deps.backend.acquireWatermarkLease(holder, startedMs, startedMs + handOver.leaseMs))) return [];
    let result: { ticks: WatermarkTick[]; idle: boolean };
    try {
      result = await loop();
    } catch (e) {
      await deps.backend.releaseWatermarkLease(holder).catch(() => false);
      throw e;
    }
    // A lease that expired meanwhile belongs to another invocation now: that one goes on, not a successor.
    const stillHeld = await deps.backend.releaseWatermarkLease(holder);
    if (stillHeld && !result.idle) {
      try {
        await handOver.invokeSuccessor();
      } catch (e) {
        // The schedule starts the next invocation within a minute: a pause, nothing lost.
        handOver.warn?.('could not start the next watermark invocation', { error: (e as Error).message });
      }
    }
    return result.ticks;
  };
}
