/**
 * Exactly-once across two keyed stages, as a property: the first keyed stage's shards run their input under
 * Lambda's delivery with faults — batches of any size, retries, bisects, crashes before and after
 * delivering, zombies that deliver and append late, a pool of containers with stale caches — and everything
 * they deliver (their envelopes, repeats included, and their markers) becomes the second stage's input
 * stream, which runs under the same faults. The results the second stage delivers are exactly those of the
 * same pipeline run once, in order, without faults: none lost, none different, none counted twice.
 *
 * What makes it hold: an element a keyed stage emits is named after the input record that produced it
 * (StageExecutor.deliverKeyed), so a retried, bisected or zombie batch re-sends the same elements under the
 * same positions and the next stage's marks drop them.
 *
 * Seeded (set FC_SEED to explore other cases).
 */
import fc from 'fast-check';
import { planJob, type Stage } from 'shardflow';
import { seededRandom } from '../../lib/local/demo';
import type { KeyedElement, Marker } from '../../lib/runtime/records';
import { StageExecutor, type ShuffleInput, type StageResult } from '../../lib/runtime/stage-executor';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { usersPerSecond } from '../fixtures/users-per-second';

const plan = planJob(usersPerSecond('two-stage-faults', { stream: 'clicks', outOfOrderness: 0, shards: 2 }));
const [, perUser, perSecond] = plan.stages as [Stage, Stage, Stage];
const FIRST_SHARDS = ['first-0', 'first-1'];
const SECOND_SHARD = 'second-0';
const SEED = Number(process.env.FC_SEED ?? 424243);
const END_MS = 1e7;

/** One first-stage shard's input: two source shards' envelopes and markers, interleaved, with disorder; then the end. */
function firstStageInput(random: () => number, users: readonly string[], n: number): ShuffleInput[] {
  const sent = { u0: 0, u1: 0 };
  const clock = { u0: 0, u1: 0 };
  let seq = 0;
  const inputs = Array.from({ length: n }, (): ShuffleInput => {
    const from = random() < 0.5 ? 'u0' : 'u1';
    clock[from] += Math.floor(random() * 300);
    if (random() < 0.3) return { kind: 'marker', sequenceNumber: String(++seq), from, arrivalMs: seq, watermarkMs: clock[from] - 400 };
    const elements = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
      sent[from] += 1;
      const ts = clock[from] - Math.floor(random() * 600);
      const userId = users[Math.floor(random() * users.length)]!;
      return { key: userId, origin: { shardId: from, sequenceNumber: String(sent[from]), subIndex: 0 }, timestampMs: ts, value: { userId, clicks: 1 + Math.floor(random() * 9), ts } };
    });
    return { kind: 'envelope', sequenceNumber: String(++seq), from, arrivalMs: seq, elements };
  });
  for (const from of ['u0', 'u1']) inputs.push({ kind: 'marker', sequenceNumber: String(++seq), from, arrivalMs: seq, watermarkMs: END_MS });
  return inputs;
}

/** A record put on the second stage's shard, before Kinesis numbers it. */
type Put = { kind: 'envelope'; from: string; elements: readonly KeyedElement[] } | ({ kind: 'marker'; from: string } & Marker);

/** What a delivery of a first-stage batch puts on the second stage's shard: its envelope (if any), then its marker. */
function onSecondStream(fromShard: string, result: StageResult): Put[] {
  return [
    ...(result.shuffles[0]!.elements.length > 0 ? [{ kind: 'envelope' as const, from: fromShard, elements: result.shuffles[0]!.elements }] : []),
    ...(result.marker !== undefined ? [{ kind: 'marker' as const, from: fromShard, ...result.marker }] : []),
  ];
}

/** Numbers records in the order they were put: sequence numbers and arrival times of one shard. */
const asStream = (records: readonly Put[]): ShuffleInput[] => records.map((r, i) => ({ ...r, sequenceNumber: String(i + 1), arrivalMs: i + 1 }));

/** A shard's input, one record per batch, no faults: every delivery in order. */
async function inOrder(stage: Stage, shardId: string, inputs: readonly ShuffleInput[]): Promise<StageResult[]> {
  const executor = new StageExecutor(plan, stage, new ShardStates(new MemoryLogStore()));
  const results: StageResult[] = [];
  for (const input of inputs) {
    const p = await executor.run({ kind: 'shuffled', shardId, inputs: [input] });
    results.push(p.result);
    await p.commit();
  }
  return results;
}

/**
 * A shard's input under Lambda's delivery with faults; `deliver` sees every delivery, repeats included, in
 * the order they happen. Returns how many faults of each kind it injected.
 */
async function withFaults(stage: Stage, shardId: string, inputs: readonly ShuffleInput[], random: () => number, deliver: (result: StageResult) => void): Promise<Record<string, number>> {
  const store = new MemoryLogStore();
  const container = (): StageExecutor => new StageExecutor(plan, stage, new ShardStates(store, { snapshotAfterDeltaRatio: random() < 0.5 ? 0.01 : 2 }));
  const pool = [container(), container(), container()];
  const faults = { crashedBefore: 0, crashedAfter: 0, zombies: 0, bisects: 0, lostSlots: 0 };
  /** The stage function's loop: deliver, append; a lost slot means run again on the caught-up state. */
  const finish = async (executor: StageExecutor, batch: readonly ShuffleInput[], first: StageResult, commit: () => Promise<string>): Promise<void> => {
    let result = first;
    for (let lost = 0; ; lost++) {
      deliver(result);
      if ((await commit()) !== 'lost') return;
      if (lost > 5) throw new Error('kept losing its slot');
      faults.lostSlots += 1;
      const again = await executor.run({ kind: 'shuffled', shardId, inputs: batch });
      result = again.result;
      commit = again.commit;
    }
  };
  const zombies: { executor: StageExecutor; batch: ShuffleInput[]; result: StageResult; commit: () => Promise<string> }[] = [];
  let checkpoint = 0;
  let pending: ShuffleInput[] | undefined;
  while (checkpoint < inputs.length) {
    const batch = pending ?? inputs.slice(checkpoint, checkpoint + 1 + Math.floor(random() * 6));
    const i = Math.floor(random() * pool.length);
    const roll = random();
    let ok = true;
    if (roll < 0.08) {
      // A timeout: Lambda retries the batch, but the invocation lives on, to deliver and append later.
      const zombie = container();
      const p = await zombie.run({ kind: 'shuffled', shardId, inputs: batch });
      zombies.push({ executor: zombie, batch, result: p.result, commit: p.commit });
      faults.zombies += 1;
      ok = false;
    } else if (roll < 0.2) {
      // A crash before delivering: the container is gone.
      await pool[i]!.run({ kind: 'shuffled', shardId, inputs: batch });
      pool[i] = container();
      faults.crashedBefore += 1;
      ok = false;
    } else if (roll < 0.28) {
      // A crash after delivering, before the append.
      deliver((await pool[i]!.run({ kind: 'shuffled', shardId, inputs: batch })).result);
      pool[i] = container();
      faults.crashedAfter += 1;
      ok = false;
    } else {
      const p = await pool[i]!.run({ kind: 'shuffled', shardId, inputs: batch });
      await finish(pool[i]!, batch, p.result, p.commit);
    }
    if (ok) {
      checkpoint += batch.length;
      pending = undefined;
    } else if (batch.length > 1 && random() < 0.5) {
      pending = batch.slice(0, Math.ceil(batch.length / 2));
      faults.bisects += 1;
    } else {
      pending = batch;
    }
    if (zombies.length > 0 && random() < 0.3) {
      const z = zombies.shift()!;
      await finish(z.executor, z.batch, z.result, z.commit);
    }
  }
  for (const z of zombies) await finish(z.executor, z.batch, z.result, z.commit);
  return faults;
}

/** Merges two shards' deliveries as they might reach one stream: each in its order, interleaved at random. */
function interleave<T>(random: () => number, a: readonly T[], b: readonly T[]): T[] {
  const merged: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) merged.push(j >= b.length || (i < a.length && random() < 0.5) ? a[i++]! : b[j++]!);
  return merged;
}

const outputsOf = (results: readonly StageResult[]): Map<string, Set<string>> => {
  const outputs = new Map<string, Set<string>>();
  for (const r of results) {
    for (const { output } of r.outputs) {
      let seen = outputs.get(output.id);
      if (!seen) outputs.set(output.id, (seen = new Set()));
      seen.add(JSON.stringify(output.record));
    }
  }
  return outputs;
};

describe('two keyed stages under Lambda delivery with faults', () => {
  test('whatever the faults in either stage, the second stage delivers exactly the in-order run of the pipeline', async () => {
    const totals: Record<string, number> = {};
    let windows = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
        const random = seededRandom(seed * 31 + 7);
        const firstInputs = FIRST_SHARDS.map((_, s) => firstStageInput(random, s === 0 ? ['a', 'b', 'c'] : ['d', 'e'], 15 + Math.floor(random() * 25)));

        // The reference: each stage once, in order.
        const inOrderFirst = await Promise.all(FIRST_SHARDS.map((shard, s) => inOrder(perUser, shard, firstInputs[s]!)));
        const [fromFirst0, fromFirst1] = FIRST_SHARDS.map((shard, s) => inOrderFirst[s]!.flatMap((r) => onSecondStream(shard, r)));
        const inOrderSecond = asStream(interleave(random, fromFirst0!, fromFirst1!));
        const expected = outputsOf(await inOrder(perSecond, SECOND_SHARD, inOrderSecond));

        // The same input, with faults in both stages.
        const delivered: Put[][] = [[], []];
        for (const [s, shard] of FIRST_SHARDS.entries()) {
          const faults = await withFaults(perUser, shard, firstInputs[s]!, random, (r) => delivered[s]!.push(...onSecondStream(shard, r)));
          for (const [k, n] of Object.entries(faults)) totals[k] = (totals[k] ?? 0) + n;
        }
        const secondResults: StageResult[] = [];
        await withFaults(perSecond, SECOND_SHARD, asStream(interleave(random, delivered[0]!, delivered[1]!)), random, (r) => secondResults.push(r));
        const got = outputsOf(secondResults);

        windows += expected.size;
        expect([...expected].every(([, contents]) => contents.size === 1)).toBe(true);
        // Nothing lost, nothing different (a result counted twice or missing an element would differ).
        expect([...expected.keys()].filter((id) => !got.has(id))).toEqual([]);
        for (const [id, contents] of got) expect([id, [...contents]]).toEqual([id, [...(expected.get(id) ?? ['not in the in-order run'])]]);
      }),
      { numRuns: 120, seed: SEED },
    );
    // The faults really happened, and windows really fired.
    for (const [fault, count] of Object.entries(totals)) expect([fault, count > 20]).toEqual([fault, true]);
    expect(windows).toBeGreaterThan(300);
  });
});
