/**
 * The shard log's exactly-once argument, as a property: under Lambda's delivery (batches from a
 * checkpoint, retried whole or bisected after a failure) with crashes at every step, zombie invocations
 * that deliver and append long after their batch was retried, a pool of containers that each batch may
 * land on (stale caches), caches lost, and snapshots taken often, the log ends in the state of one
 * in-order run, and every output ever delivered is the one an in-order run produces — none lost, none
 * different.
 *
 * The operator is a running sum per key, whose every output depends on all that came before it: a record
 * applied twice, skipped, or applied to a stale state shows in an output.
 */
import fc from 'fast-check';
import { dynamoSink, job, kinesisSource, planJob, tumbling, valueState } from 'shardflow';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { comparePositions } from '../../lib/runtime/records';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import type { LogId } from '../../lib/state/shard-log';
import { ShardState } from '../../lib/state/shard-state';
import { ShardStates } from '../../lib/state/shard-states';
import { seededRandom } from '../../lib/local/demo';

/** A record on the keyed shard's input: from upstream shard `u`, at sequence `seq` there. */
interface Rec {
  readonly u: string;
  readonly seq: string;
  readonly key: string;
  readonly value: number;
}
type Sum = { sum: number; n: number };
type Outputs = Map<string, string>;

const LOG: LogId = { stageId: 's1', shardId: 'shardId-000000000000' };

/** Applies records in order, skipping those at or below their upstream's mark; returns the outputs. */
function applyRecords(state: ShardState, records: readonly Rec[]): [string, string][] {
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
function reference(records: readonly Rec[]): { outputs: Outputs; state: Record<string, unknown> } {
  const state = new ShardState();
  const outputs = new Map(applyRecords(state, records));
  return { outputs, state: Object.fromEntries([...state.keys()].map((k) => [k, state.get(k)])) };
}

/** Two upstream shards interleaved, as one keyed shard hears them; sequence numbers of Kinesis' width. */
function recordsOf(seed: number, n: number): Rec[] {
  const random = seededRandom(seed);
  const next = { u0: 0n, u1: 0n };
  return Array.from({ length: n }, () => {
    const u = random() < 0.5 ? 'u0' : 'u1';
    next[u] += 1n + BigInt(Math.floor(random() * 3));
    return { u, seq: `4959${String(next[u]).padStart(52, '0')}`, key: `k${Math.floor(random() * 5)}`, value: Math.floor(random() * 10) };
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

async function runScenario(seed: number): Promise<{ delivered: Map<string, Set<string>>; final: Record<string, unknown>; expected: ReturnType<typeof reference>; stats: Record<string, number> }> {
  const random = seededRandom(seed * 7919 + 1);
  const records = recordsOf(seed, 20 + Math.floor(random() * 40));
  const expected = reference(records);
  const store = new MemoryLogStore();
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

describe('the shard log under Lambda delivery with faults', () => {
  test('any interleaving of batches, retries, bisects, crashes, zombies, cache losses and snapshots yields the state and outputs of one in-order run', async () => {
    const totals = { crashes: 0, zombies: 0, bisects: 0, cacheLosses: 0, lostSlots: 0 };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
        const { delivered, final, expected, stats } = await runScenario(seed);
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += stats[k] ?? 0;
        expect(final).toEqual(expected.state);
        // Nothing lost: every output of the in-order run was delivered…
        expect([...expected.outputs.keys()].filter((id) => !delivered.has(id))).toEqual([]);
        // …and nothing different: every delivery of an output is the in-order run's.
        for (const [id, contents] of delivered) expect([id, [...contents]]).toEqual([id, [expected.outputs.get(id)]]);
      }),
      { numRuns: 300 },
    );
    // The faults really happened, all of them, many times.
    for (const [fault, count] of Object.entries(totals)) expect([fault, count > 20]).toEqual([fault, true]);
  });

  test('a batch never runs on a stale cache: a container that missed entries catches up before it computes', async () => {
    const store = new MemoryLogStore();
    const a = new ShardStates(store);
    const b = new ShardStates(store);
    const records = recordsOf(3, 6);
    const sa = await a.current(LOG);
    applyRecords(sa, records.slice(0, 3));
    expect(await a.commit(LOG, sa, a.prepare(LOG, sa))).toBe('appended');
    const sb = await b.current(LOG); // b has never seen the shard: loads slot 1
    expect(applyRecords(sb, records.slice(3))).toEqual([...reference(records).outputs].slice(3));
    expect(await b.commit(LOG, sb, b.prepare(LOG, sb))).toBe('appended');
    const again = await a.current(LOG); // a's cache is at slot 1: it reads slot 2 before anything runs
    expect(again.slot).toBe(2);
    expect(a.counters).toMatchObject({ caughtUp: 1, loads: 1 });
  });
});

describe.each([
  ['a windowed operator', 'windows'],
  ['processing-time timers', 'timers'],
  ['processing-time windows', 'ptime-windows'],
] as const)('a keyed stage on the shard log, with %s, under the same faults', (_name, shape) => {
  // The same delivery model, with the real stage executor: elements, markers moving the watermark, ticks and
  // late records, arrival times that sometimes go back (Kinesis' are approximate), so that firing by either
  // clock and the due indexes are part of what must come out the same.
  type Click = { userId: string; clicks: number; ts: number };
  const keyed = job(`pool-${shape}`)
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, shards: 2 }))
    .keyBy((c) => c.userId);
  const plan = planJob(
    shape === 'windows'
      ? keyed.window(tumbling('1s')).allowedLateness('500ms').sum('clicks').sink(dynamoSink('out'))
      : shape === 'ptime-windows'
        ? keyed.window(tumbling('300ms', { time: 'processing' })).sum('clicks').sink(dynamoSink('out'))
        : keyed
            .process({
              state: { seen: valueState(0) },
              onEvent(c, ctx) {
                ctx.state.seen.update(ctx.state.seen.value() + c.clicks);
                if (c.clicks % 4 === 0) ctx.timers.deleteProcessingTime(ctx.processingTime + 100);
                else ctx.timers.registerProcessingTime(ctx.processingTime + (c.clicks % 3) * 100);
              },
              onTimer(at, ctx) {
                ctx.emit({ at, now: ctx.processingTime, seen: ctx.state.seen.value() });
                if (ctx.state.seen.value() % 5 === 0) ctx.timers.registerProcessingTime(at + 70);
              },
            })
            .sink(dynamoSink('out')),
  );
  const stage = plan.stages[1]!;

  /**
   * Two upstream shards' envelopes and markers, interleaved, and ticks; event time moves on with some
   * disorder, arrival time by 0–99 ms a record, now and then stamped earlier than the one before.
   */
  function inputsOf(seed: number, n: number): ShuffleInput[] {
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
        return { key: `k${Math.floor(random() * 4)}`, origin: { shardId: from, sequenceNumber: String(seq[from]), subIndex: 0 }, timestampMs: ts, value: { userId: 'x', clicks: seq[from], ts } };
      });
      return { kind: 'envelope', sequenceNumber: String(i + 1), from, arrivalMs, elements };
    });
  }

  const LOG_SHARD = 'down-0';
  const stateOf = async (store: MemoryLogStore): Promise<Record<string, unknown>> => {
    const s = await new ShardStates(store).current({ stageId: stage.id, shardId: LOG_SHARD });
    return { watermarkMs: s.watermarkMs, processingTimeMs: s.processingTimeMs, keys: Object.fromEntries([...s.keys()].map((k) => [k, s.get(k)])) };
  };

  async function inOrder(inputs: readonly ShuffleInput[]): Promise<{ outputs: Map<string, string>; state: Record<string, unknown> }> {
    const store = new MemoryLogStore();
    const executor = new StageExecutor(plan, stage, new ShardStates(store));
    const outputs = new Map<string, string>();
    for (const input of inputs) {
      const p = await executor.run({ kind: 'shuffled', shardId: LOG_SHARD, inputs: [input] });
      for (const o of p.result.outputs) outputs.set(o.output.id, JSON.stringify(o.output.record));
      await p.commit();
    }
    return { outputs, state: await stateOf(store) };
  }

  test('any interleaving of batches, retries, bisects, crashes, zombies and a pool of containers gives the in-order run\'s outputs and state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
        const random = seededRandom(seed * 31 + 7);
        const inputs = inputsOf(seed, 20 + Math.floor(random() * 30));
        const expected = await inOrder(inputs);
        const store = new MemoryLogStore();
        const pool = [0, 1, 2].map(() => new StageExecutor(plan, stage, new ShardStates(store)));
        const delivered = new Map<string, Set<string>>();
        const deliver = (outputs: readonly { output: { id: string; record: object } }[]): void => {
          for (const { output } of outputs) {
            let seen = delivered.get(output.id);
            if (!seen) delivered.set(output.id, (seen = new Set()));
            seen.add(JSON.stringify(output.record));
          }
        };
        let checkpoint = 0;
        let pending: ShuffleInput[] | undefined;
        const zombies: { executor: StageExecutor; batch: ShuffleInput[] }[] = [];
        while (checkpoint < inputs.length) {
          const batch = pending ?? inputs.slice(checkpoint, checkpoint + 1 + Math.floor(random() * 6));
          const i = Math.floor(random() * pool.length);
          const executor = pool[i]!;
          const roll = random();
          if (roll < 0.08) zombies.push({ executor: new StageExecutor(plan, stage, new ShardStates(store)), batch });
          let ok = roll >= 0.2;
          for (let lost = 0; ok; lost++) {
            const p = await executor.run({ kind: 'shuffled', shardId: LOG_SHARD, inputs: batch });
            if (roll >= 0.2 && roll < 0.26) {
              // Crash after delivering, before the append: the container is gone.
              deliver(p.result.outputs);
              pool[i] = new StageExecutor(plan, stage, new ShardStates(store));
              ok = false;
              break;
            }
            deliver(p.result.outputs);
            if ((await p.commit()) !== 'lost') break;
            if (lost > 5) throw new Error('kept losing its slot');
          }
          if (roll < 0.2 && roll >= 0.08) pool[i] = new StageExecutor(plan, stage, new ShardStates(store)); // crashed before delivering
          if (ok) {
            checkpoint += batch.length;
            pending = undefined;
          } else pending = batch.length > 1 && random() < 0.5 ? batch.slice(0, Math.ceil(batch.length / 2)) : batch;
          // A zombie wakes now and then and finishes its batch, late.
          if (zombies.length > 0 && random() < 0.3) {
            const z = zombies.shift()!;
            for (let lost = 0; ; lost++) {
              const p = await z.executor.run({ kind: 'shuffled', shardId: LOG_SHARD, inputs: z.batch });
              deliver(p.result.outputs);
              if ((await p.commit()) !== 'lost' || lost > 5) break;
            }
          }
        }
        expect(await stateOf(store)).toEqual(expected.state);
        expect([...expected.outputs.keys()].filter((id) => !delivered.has(id))).toEqual([]);
        for (const [id, contents] of delivered) expect([id, [...contents]]).toEqual([id, [expected.outputs.get(id)]]);
      }),
      { numRuns: 150 },
    );
  });
});
