/**
 * A keyed stage after another takes an upstream keyed shard for idle on its word only (Flink's watermark
 * status), never for being silent: a keyed shard is silent because it is slow, failing or down, and its
 * backlog must not be late. Chaos chained 4019 (parallelizationFactor 4, a 2-core machine collapsing under
 * load): every shard of the first stage was silent 49–69 s, past `idleAfter`, the second stage took them for
 * idle, and four windows lost users. A source stage's shards still go idle by silence: nothing else can say.
 */
import { decodeShuffleRecord, encodeMarker } from '../../lib/io/envelope';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { chainedClicksPlan } from '../fixtures/chained-clicks';

const IDLE_AFTER_MS = 30_000;
/** Clicks per user per second (s1, after the source stage), then per user per 10 seconds (s2, after s1's shards a and b). */
const plan = chainedClicksPlan(IDLE_AFTER_MS);

function stage(index: 1 | 2, logs = new MemoryLogStore()) {
  const executor = new StageExecutor(plan, plan.stages[index]!, new ShardStates(logs));
  return async (inputs: ShuffleInput[]) => {
    const batch = await executor.run({ kind: 'shuffled', shardId: 'd', inputs });
    await batch.commit();
    return batch.result;
  };
}

let seq = 0;
const marker = (from: string, arrivalMs: number, watermarkMs: number, status: { idle?: true; at?: string } = {}): ShuffleInput => ({ kind: 'marker', sequenceNumber: String(++seq), from, arrivalMs, watermarkMs, ...status });
const tick = (arrivalMs: number, upstream: string[]): ShuffleInput => ({ kind: 'tick', sequenceNumber: String(++seq), arrivalMs, upstream });
const perSecond = (from: string, arrivalMs: number, windowStart: number, clicks: number): ShuffleInput => ({
  kind: 'envelope',
  sequenceNumber: String(++seq),
  from,
  arrivalMs,
  elements: [{ key: 'ann', origin: { shardId: from, sequenceNumber: String(1_000 + seq), subIndex: 0 }, timestampMs: windowStart + 999, value: { key: 'ann', windowStart, windowEnd: windowStart + 1_000, clicks } }],
});

test('a keyed upstream shard silent for longer than idleAfter still holds the watermark, and its backlog is on time', async () => {
  const s2 = stage(2);
  await s2([marker('a', 100, 1_000, { at: '1' }), marker('b', 100, 1_000, { at: '1' })]);
  // b's stage function fails for 100 s; ticks keep coming, and a runs ahead.
  const ahead = await s2([tick(50_000, ['a', 'b']), marker('a', 60_000, 30_000, { at: '2' }), tick(100_000, ['a', 'b'])]);
  expect(ahead.watermarkMs).toBe(1_000);
  const backlog = await s2([perSecond('b', 101_000, 4_000, 3), marker('b', 101_000, 30_000, { at: '2' })]);
  expect(backlog.late).toEqual([]);
  expect(backlog.watermarkMs).toBe(30_000);
  expect(backlog.outputs.map((o) => o.output.record)).toEqual([expect.objectContaining({ key: 'ann', windowStart: 0, clicks: 3 })]);
});

test('a source stage shard silent for idleAfter is idle: nothing else can say so', async () => {
  const s1 = stage(1);
  await s1([marker('a', 100, 1_000), marker('b', 100, 1_000)]);
  const result = await s1([marker('a', 20_000, 30_000), tick(30_100, ['a', 'b'])]);
  expect(result.watermarkMs).toBe(30_000);
});

test('an idle marker makes its sender idle at once; its next active marker holds the watermark again', async () => {
  const s2 = stage(2);
  await s2([marker('a', 100, 1_000, { at: '1' }), marker('b', 100, 1_000, { at: '1' })]);
  expect((await s2([marker('a', 200, 30_000, { at: '2' }), marker('b', 300, 1_000, { idle: true, at: '2' })])).watermarkMs).toBe(30_000);
  const again = await s2([marker('b', 400, 31_000, { at: '3' }), marker('a', 500, 50_000, { at: '3' })]);
  expect([again.watermarkMs, again.wokeInput]).toEqual([31_000, true]);
});

test("an older status (a zombie's marker, sent late) does not overrule a newer one", async () => {
  const s2 = stage(2);
  await s2([marker('a', 100, 1_000, { at: '5' }), marker('b', 100, 1_000, { at: '5' })]);
  // b's batch up to its input 7 said active; a zombie of its batch up to input 6 says idle afterwards.
  const result = await s2([marker('b', 200, 2_000, { at: '7' }), marker('b', 300, 2_000, { idle: true, at: '6' }), marker('a', 400, 30_000, { at: '6' })]);
  expect(result.watermarkMs).toBe(2_000);
  // The same batch again (a retry) says the same: taken.
  expect((await s2([marker('b', 500, 2_000, { idle: true, at: '7' })])).watermarkMs).toBe(30_000);
});

test('the status survives a reload from the log: a stale idle marker after the reload is still refused', async () => {
  const logs = new MemoryLogStore();
  await stage(2, logs)([marker('a', 100, 1_000, { at: '5' }), marker('b', 100, 1_000, { at: '9' })]);
  const reloaded = stage(2, logs);
  expect((await reloaded([marker('b', 200, 1_000, { idle: true, at: '8' }), marker('a', 300, 30_000, { at: '6' })])).watermarkMs).toBe(1_000);
});

test('a keyed shard says once that it went idle, then nothing until it is active again', async () => {
  const s1 = stage(1);
  const first = await s1([marker('src', 100, 1_000)]);
  expect(first.marker).toEqual({ watermarkMs: 1_000, at: String(seq) });
  // Its only input goes idle: one marker says so (with the watermark it reached), the next tick sends none.
  const idle = await s1([tick(40_000, ['src'])]);
  expect(idle.marker).toEqual({ watermarkMs: 1_000, idle: true, at: String(seq) });
  expect((await s1([tick(41_000, ['src'])])).marker).toBeUndefined();
  const active = await s1([marker('src', 42_000, 5_000)]);
  expect(active.marker).toEqual({ watermarkMs: 5_000, at: String(seq) });
});

test('a marker says its status on the wire; a source stage marker says none', () => {
  expect(decodeShuffleRecord(encodeMarker('a', { watermarkMs: 7, idle: true, at: '49590338271490256608559692538361571095921575989136588898' }))).toEqual({ kind: 'marker', from: 'a', watermarkMs: 7, idle: true, at: '49590338271490256608559692538361571095921575989136588898' });
  expect(decodeShuffleRecord(encodeMarker('a', { watermarkMs: 7 }))).toEqual({ kind: 'marker', from: 'a', watermarkMs: 7 });
  expect(() => decodeShuffleRecord('{"f":"a","w":7,"m":1,"a":5}')).toThrow('marker with a position that is not a sequence number');
});
