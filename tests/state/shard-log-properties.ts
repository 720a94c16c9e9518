/**
 * The shard log's exactly-once argument as properties, on any log store (the memory store in unit tests,
 * DynamoDB on dynalite in integration tests): under Lambda's delivery (batches from a checkpoint, retried
 * whole or bisected after a failure) with crashes at every step, zombie invocations that deliver and append
 * long after their batch was retried, a pool of containers that each batch may land on (stale caches),
 * caches lost, and snapshots taken often, the log ends in the state of one in-order run, and every output
 * ever delivered is the one an in-order run produces — none lost, none different.
 *
 * The first operator is a running sum per key, whose every output depends on all that came before it: a
 * record applied twice, skipped, or applied to a stale state shows in an output. The second is the real
 * stage executor with a windowed operator (allowed lateness, markers, late records); `checkStageUnderFaults`
 * puts any keyed stage under the same faults (tests/unit/shard-log-exactly-once.test.ts: timers and
 * processing-time windows).
 */
import fc from 'fast-check';
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { StageExecutor, type PreparedBatch, type ShuffleInput } from '../../lib/runtime/stage-executor';
import type { Plan, Stage } from '../../lib/plan/plan';
import { comparePositions } from '../../lib/runtime/records';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import type { LogId, ShardLogStore } from '../../lib/state/shard-log';
import { ShardState } from '../../lib/state/shard-state';
import { ShardStates } from '../../lib/state/shard-states';
import { seededRandom } from '../../lib/local/demo';

/** A record on the keyed shard's input: from upstream shard `u`, at sequence `seq` there. */
export interface Rec {
  readonly u: string;
  readonly seq: string;
  readonly key: string;
  readonly value: number;
}
type Sum = { sum: number; n: number };
type Outputs = Map<string, string>;

export const LOG: LogId = { stageId: 's1', shardId: 'shardId-000000000000' };

/** What the records carry: integers, or decimal fractions. */
export type Values = 'integers' | 'decimals';

/** Where a property puts its logs: a fresh store (or a fresh namespace of one) per run. */
export interface PropertyOptions {
  /** Names the store in the test titles. */
  readonly name: string;
  readonly store: () => ShardLogStore;
  readonly values: Values;
  /** fast-check runs of the log property and of the keyed-stage property. */
  readonly runs: { readonly log: number; readonly stage: number };
  /** Report the first counterexample without shrinking it (shrinking is slow where every batch crosses the wire). */
  readonly endOnFailure?: boolean;
}

/** Applies records in order, skipping those at or below their upstream's mark; returns the outputs. */
export function applyRecords(state: ShardState, records: readonly Rec[]): [string, string][] {
  const outputs: [string, string][] = [];
  for (const r of records) {
    const position = { sequenceNumber: r.seq, subIndex: 0 };
    const mark = state.mark(r.u);
    if (mark && comparePositions(position, mark) <= 0) continue;
    let acc = state.forUpdate(r.key) as Sum | undefined;
    if (!acc) state.put(r.key, (acc = { sum: 0, n: 0 }));
    acc.sum += r.value;
    acc.n += 1;
    state.setMark(r.u, position);
    outputs.push([`${r.u}/${r.seq}`, `${r.key}:${acc.sum}/${acc.n}`]);
  }
  return outputs;
}

/** The in-order run: every record once, in order. */
export function reference(records: readonly Rec[]): { outputs: Outputs; state: Record<string, unknown> } {
  const state = new ShardState();
  const outputs = new Map(applyRecords(state, records));
  return { outputs, state: Object.fromEntries([...state.keys()].map((k) => [k, state.get(k)])) };
}

/**
 * Two upstream shards interleaved, as one keyed shard hears them; sequence numbers of Kinesis' width. Values
 * are integers, or decimal fractions (tenths), whose sums depend on the order of the additions: only the
 * in-order run's order gives the in-order run's bits.
 */
export function recordsOf(seed: number, n: number, values: Values = 'integers'): Rec[] {
  const random = seededRandom(seed);
  const next = { u0: 0n, u1: 0n };
  return Array.from({ length: n }, () => {
    const u = random() < 0.5 ? 'u0' : 'u1';
    next[u] += 1n + BigInt(Math.floor(random() * 3));
    const value = values === 'integers' ? Math.floor(random() * 10) : Math.floor(random() * 100) / 10;
    return { u, seq: `4959${String(next[u]).padStart(52, '0')}`, key: `k${Math.floor(random() * 5)}`, value };
  });
}

/** A container: its own cache of shard states; busy while an invocation (or a zombie) runs in it. */
interface Container {
  states: ShardStates;
  busy: boolean;
}

/** An invocation paused after computing its outputs: a zombie, to deliver and append later. */
interface Paused {
  container: Container;
  batch: readonly Rec[];
  state: ShardState;
  outputs: [string, string][];
  resumeAt: number;
}

type Crash = 'none' | 'after-compute' | 'after-deliver' | 'after-commit';

async function runScenario(seed: number, store: ShardLogStore, values: Values): Promise<{ delivered: Map<string, Set<string>>; final: Record<string, unknown>; expected: ReturnType<typeof reference>; stats: Record<string, number> }> {
  const random = seededRandom(seed * 7919 + 1);
  const records = recordsOf(seed, 20 + Math.floor(random() * 40), values);
  const expected = reference(records);
  const newStates = (): ShardStates => new ShardStates(store, { snapshotAfterDeltaRatio: random() < 0.5 ? 0.01 : 2 });
  const containers: Container[] = [];
  const delivered = new Map<string, Set<string>>();
  const zombies: Paused[] = [];
  const stats = { crashes: 0, zombies: 0, bisects: 0, cacheLosses: 0, lostSlots: 0, steps: 0 };

  const deliver = (outputs: readonly [string, string][]): void => {
    for (const [id, content] of outputs) {
      let seen = delivered.get(id);
      if (!seen) delivered.set(id, (seen = new Set()));
      seen.add(content);
    }
  };
  const idleContainer = (): Container => {
    const idle = containers.filter((c) => !c.busy);
    if (idle.length > 0 && random() < 0.9) return idle[Math.floor(random() * idle.length)]!;
    const fresh = { states: newStates(), busy: false };
    containers.push(fresh);
    return fresh;
  };
  /** Delivers, commits, and on a lost slot runs the batch again on the caught-up state (the stage function's loop). */
  const finish = async (container: Container, batch: readonly Rec[], state: ShardState, outputs: [string, string][], crash: Crash): Promise<boolean> => {
    for (;;) {
      if (crash === 'after-compute') return false;
      const entry = container.states.prepare(LOG, state);
      deliver(outputs);
      if (crash === 'after-deliver') return false;
      const committed = await container.states.commit(LOG, state, entry);
      if (committed !== 'lost') return crash !== 'after-commit';
      stats.lostSlots += 1;
      state = await container.states.current(LOG);
      outputs = applyRecords(state, batch);
    }
  };
  const resumeZombies = async (now: number): Promise<void> => {
    for (const z of zombies.filter((z) => z.resumeAt <= now)) {
      zombies.splice(zombies.indexOf(z), 1);
      await finish(z.container, z.batch, z.state, z.outputs, 'none');
      z.container.busy = false;
    }
  };

  let checkpoint = 0;
  let pending: Rec[] | undefined; // the batch Lambda retries, or the second half of a bisected one
  while (checkpoint < records.length) {
    stats.steps += 1;
    await resumeZombies(stats.steps);
    if (random() < 0.1 && containers.length > 0) {
      // A container recycled: its cache is gone.
      const c = containers[Math.floor(random() * containers.length)]!;
      if (!c.busy) {
        c.states = newStates();
        stats.cacheLosses += 1;
      }
    }
    const batch = pending ?? records.slice(checkpoint, checkpoint + 1 + Math.floor(random() * 8));
    const container = idleContainer();
    container.busy = true;
    const state = await container.states.current(LOG);
    const outputs = applyRecords(state, batch);
    const roll = random();
    let ok: boolean;
    if (roll < 0.1) {
      // A timeout: Lambda gives up on it and retries, but it keeps running — a zombie.
      zombies.push({ container, batch, state, outputs, resumeAt: stats.steps + 1 + Math.floor(random() * 6) });
      stats.zombies += 1;
      ok = false;
    } else {
      const crash: Crash = roll < 0.16 ? 'after-compute' : roll < 0.22 ? 'after-deliver' : roll < 0.28 ? 'after-commit' : 'none';
      ok = await finish(container, batch, state, outputs, crash);
      if (crash !== 'none') {
        // A crash is a real process crash: the container and its cache are gone.
        stats.crashes += 1;
        containers.splice(containers.indexOf(container), 1);
      } else {
        container.busy = false;
      }
    }
    if (ok) {
      checkpoint += batch.length;
      pending = undefined;
    } else if (batch.length > 1 && random() < 0.5) {
      // Bisect: the first half now; the rest follows as the batch after it.
      pending = batch.slice(0, Math.ceil(batch.length / 2));
      stats.bisects += 1;
    } else {
      pending = batch;
    }
  }
  await resumeZombies(Number.MAX_SAFE_INTEGER);
  const finalState = await new ShardStates(store).current(LOG);
  const final = Object.fromEntries([...finalState.keys()].map((k) => [k, finalState.get(k)]));
  return { delivered, final, expected, stats };
}

/** A keyed stage, run by the real stage executor on one log shard. */
export interface StageOnLog {
  readonly plan: Plan;
  readonly stage: Stage;
}

const STAGE_LOG_SHARD = 'down-0';
type Delivered = Map<string, Set<string>>;

/** The stage's committed state on its log shard: watermark, processing time and every key's state. */
async function stageStateOf({ stage }: StageOnLog, store: ShardLogStore): Promise<Record<string, unknown>> {
  const s = await new ShardStates(store).current({ stageId: stage.stateId, shardId: STAGE_LOG_SHARD });
  return { watermarkMs: s.watermarkMs, processingTimeMs: s.processingTimeMs, keys: Object.fromEntries([...s.keys()].map((k) => [k, s.get(k)])) };
}

/** The reference: every input its own batch, in order, once, on one container. */
async function inOrderStageRun(t: StageOnLog, inputs: readonly ShuffleInput[]): Promise<{ outputs: Map<string, string>; state: Record<string, unknown> }> {
  const store = new MemoryLogStore();
  const executor = new StageExecutor(t.plan, t.stage, new ShardStates(store));
  const outputs = new Map<string, string>();
  for (const input of inputs) {
    const p = await executor.run({ kind: 'shuffled', shardId: STAGE_LOG_SHARD, inputs: [input] });
    for (const o of p.result.outputs) outputs.set(o.output.id, JSON.stringify(o.output.record));
    await p.commit();
  }
  return { outputs, state: await stageStateOf(t, store) };
}

/**
 * The inputs under Lambda's delivery with faults, on a pool of three containers sharing `store`: batches
 * from a checkpoint, retried whole or bisected after a failure; crashes before and after delivering;
 * zombies that run a batch at once and deliver and append it later; lost slots run again. Returns every
 * content each output id was delivered with.
 */
async function stageRunUnderFaults(t: StageOnLog, store: ShardLogStore, inputs: readonly ShuffleInput[], random: () => number): Promise<Delivered> {
  const container = (): StageExecutor => new StageExecutor(t.plan, t.stage, new ShardStates(store));
  const run = (executor: StageExecutor, batch: ShuffleInput[]): Promise<PreparedBatch> => executor.run({ kind: 'shuffled', shardId: STAGE_LOG_SHARD, inputs: batch });
  const pool = [container(), container(), container()];
  const delivered: Delivered = new Map();
  const deliver = (outputs: readonly { output: { id: string; record: object } }[]): void => {
    for (const { output } of outputs) {
      let seen = delivered.get(output.id);
      if (!seen) delivered.set(output.id, (seen = new Set()));
      seen.add(JSON.stringify(output.record));
    }
  };
  let checkpoint = 0;
  let pending: ShuffleInput[] | undefined;
  const zombies: { executor: StageExecutor; batch: ShuffleInput[]; ran: PreparedBatch }[] = [];
  while (checkpoint < inputs.length) {
    const batch = pending ?? inputs.slice(checkpoint, checkpoint + 1 + Math.floor(random() * 6));
    const i = Math.floor(random() * pool.length);
    const executor = pool[i]!;
    const roll = random();
    if (roll < 0.08) {
      // A zombie: it runs the batch now, on a container of its own, and delivers and appends later.
      const zombie = container();
      zombies.push({ executor: zombie, batch, ran: await run(zombie, batch) });
    }
    let ok = roll >= 0.2;
    for (let lost = 0; ok; lost++) {
      const p = await run(executor, batch);
      if (roll >= 0.2 && roll < 0.26) {
        // Crash after delivering, before the append: the container is gone.
        deliver(p.result.outputs);
        pool[i] = container();
        ok = false;
        break;
      }
      deliver(p.result.outputs);
      if ((await p.commit()) !== 'lost') break;
      if (lost > 5) throw new Error('kept losing its slot');
    }
    if (roll < 0.2 && roll >= 0.08) pool[i] = container(); // crashed before delivering
    if (ok) {
      checkpoint += batch.length;
      pending = undefined;
    } else pending = batch.length > 1 && random() < 0.5 ? batch.slice(0, Math.ceil(batch.length / 2)) : batch;
    // A zombie wakes now and then and finishes its batch, late.
    if (zombies.length > 0 && random() < 0.3) {
      const z = zombies.shift()!;
      for (let lost = 0, p = z.ran; ; lost++, p = await run(z.executor, z.batch)) {
        deliver(p.result.outputs);
        if ((await p.commit()) !== 'lost' || lost > 5) break;
      }
    }
  }
  return delivered;
}

/** Nothing lost (every in-order output delivered) and nothing different (every delivery is the in-order one). */
function expectInOrderOutputs(delivered: Delivered, expected: ReadonlyMap<string, string>): void {
  expect([...expected.keys()].filter((id) => !delivered.has(id))).toEqual([]);
  for (const [id, contents] of delivered) expect([id, [...contents]]).toEqual([id, [expected.get(id)]]);
}

/**
 * A keyed stage's input from two upstream shards: envelopes and markers interleaved, and ticks; event time
 * moves on with some disorder (late records among them), arrival time by 0–99 ms a record, now and then
 * stamped earlier than the one before (Kinesis' arrival times are approximate), so that firing by either
 * clock and the due indexes are part of what must come out the same.
 */
export function stageInputsOf(seed: number, n: number, values: Values = 'integers'): ShuffleInput[] {
  const random = seededRandom(seed);
  const seq = { u0: 0, u1: 0 };
  const clock = { u0: 0, u1: 0 };
  let arrival = 0;
  return Array.from({ length: n }, (_, i): ShuffleInput => {
    const from = random() < 0.5 ? 'u0' : 'u1';
    clock[from] += Math.floor(random() * 300);
    arrival += Math.floor(random() * 100);
    const arrivalMs = random() < 0.1 ? arrival - 150 : arrival;
    if (random() < 0.15) return { kind: 'tick', sequenceNumber: String(i + 1), arrivalMs, upstream: ['u0', 'u1'] };
    if (random() < 0.3) return { kind: 'marker', sequenceNumber: String(i + 1), from, arrivalMs, watermarkMs: clock[from] - 400 };
    const elements = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
      seq[from] += 1;
      const ts = clock[from] - Math.floor(random() * 900);
      const clicks = values === 'integers' ? seq[from] : seq[from] * 0.1;
      return { key: `k${Math.floor(random() * 4)}`, origin: { shardId: from, sequenceNumber: String(seq[from]), subIndex: 0 }, timestampMs: ts, value: { userId: 'x', clicks, ts } };
    });
    return { kind: 'envelope', sequenceNumber: String(i + 1), from, arrivalMs, elements };
  });
}

/**
 * The property for a keyed stage: for `stageInputsOf(seed)`, any interleaving of batches, retries, bisects,
 * crashes, zombies and a pool of containers ends in the in-order run's state and delivers its outputs.
 */
export async function checkStageUnderFaults(
  t: StageOnLog,
  o: { values?: Values; store: () => ShardLogStore; runs: number; endOnFailure?: boolean },
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
      const random = seededRandom(seed * 31 + 7);
      const inputs = stageInputsOf(seed, 20 + Math.floor(random() * 30), o.values);
      const expected = await inOrderStageRun(t, inputs);
      const store = o.store();
      const delivered = await stageRunUnderFaults(t, store, inputs, random);
      expect(await stageStateOf(t, store)).toEqual(expected.state);
      expectInOrderOutputs(delivered, expected.outputs);
    }),
    { numRuns: o.runs, endOnFailure: o.endOnFailure === true },
  );
}

/**
 * The properties, on a log store: the shard log under Lambda delivery with faults, and a keyed stage (the real
 * stage executor, a windowed operator with allowed lateness) under the same faults.
 */
export function describeShardLogProperties(o: PropertyOptions): void {
  describe(`the shard log under Lambda delivery with faults (${o.name}, ${o.values})`, () => {
    test('any interleaving of batches, retries, bisects, crashes, zombies, cache losses and snapshots yields the state and outputs of one in-order run', async () => {
      const totals = { crashes: 0, zombies: 0, bisects: 0, cacheLosses: 0, lostSlots: 0 };
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
          const { delivered, final, expected, stats } = await runScenario(seed, o.store(), o.values);
          for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += stats[k] ?? 0;
          expect(final).toEqual(expected.state);
          expectInOrderOutputs(delivered, expected.outputs);
        }),
        { numRuns: o.runs.log, endOnFailure: o.endOnFailure === true },
      );
      // The faults really happened, all of them, many times.
      for (const [fault, count] of Object.entries(totals)) expect([fault, count >= o.runs.log / 15]).toEqual([fault, true]);
    });
  });

  describe(`a keyed stage on the shard log, under the same faults (${o.name}, ${o.values})`, () => {
    // The same delivery model, with the real stage executor and a windowed operator (stageInputsOf's input).
    type Click = { userId: string; clicks: number; ts: number };
    const plan = planJob(
      job('pool-windows')
        .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, shards: 2 }))
        .keyBy((c) => c.userId)
        .window(tumbling('1s'))
        .allowedLateness('500ms')
        .sum('clicks')
        .sink(dynamoSink('out')),
    );
    const stage = plan.stages[1]!;

    test('any interleaving of batches, retries, bisects, crashes, zombies and a pool of containers gives the in-order run\'s windows, late firings and state', async () => {
      await checkStageUnderFaults({ plan, stage }, { values: o.values, store: o.store, runs: o.runs.stage, endOnFailure: o.endOnFailure });
    });
  });
}
