/**
 * A keyed stage after another takes an upstream keyed shard for idle on its word only (Flink's watermark
 * status), never for being silent: a keyed shard is silent because it is slow, failing or down, and its
 * backlog must not be late. Chaos chained 4019 (parallelizationFactor 4, a 2-core machine collapsing under
 * load): every shard of the first stage was silent 49–69 s, past `idleAfter`, the second stage took them for
 * idle, and four windows lost users. A source stage's shards still go idle by silence — nothing else can say
 * — but only once the watermark function has found nothing in their source shard after what they last read:
 * a source stage's reader stalls too (chaos join 6009: two of its shards silent 36–40 s under load after a
 * restart, their backlog late in both joins).
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
const marker = (from: string, arrivalMs: number, watermarkMs: number, status: { idle?: true; at?: string; owes?: number } = {}): ShuffleInput => ({ kind: 'marker', sequenceNumber: String(++seq), from, arrivalMs, watermarkMs, ...status });
const tick = (arrivalMs: number, upstream: string[], caughtUp?: Record<string, string>, ended?: string[]): ShuffleInput => ({ kind: 'tick', sequenceNumber: String(++seq), arrivalMs, upstream, ...(caughtUp && { caughtUp }), ...(ended && { ended }) });
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

test('a source stage shard silent for idleAfter is idle once the watermark function has found nothing after what it read', async () => {
  const logs = new MemoryLogStore();
  const s1 = stage(1, logs);
  await s1([marker('a', 100, 1_000, { at: '10' }), marker('b', 100, 1_000, { at: '20' })]);
  // Silent for idleAfter: the log's head asks the watermark function about b's source shard after 20.
  expect((await s1([marker('a', 20_000, 30_000, { at: '11' }), tick(30_100, ['a', 'b'])])).watermarkMs).toBe(1_000);
  expect((await logs.readHead({ stageId: 's1', shardId: 'd' }))?.awaiting).toEqual({ b: '20' });
  // It found nothing there: b is idle.
  expect((await s1([tick(31_100, ['a', 'b'], { b: '20' })])).watermarkMs).toBe(30_000);
  expect((await logs.readHead({ stageId: 's1', shardId: 'd' }))?.awaiting).toBeUndefined();
});

test('a source stage shard silent because its reader stalled holds the watermark, and its backlog is on time', async () => {
  const s1 = stage(1);
  await s1([marker('a', 100, 1_000, { at: '10' }), marker('b', 100, 1_000, { at: '20' })]);
  // b's source shard holds records after 20 that its stage has not delivered (throttled, failing, a slow
  // runtime): the watermark function's ticks say nothing of b, however long the silence.
  const held = await s1([marker('a', 20_000, 30_000, { at: '11' }), tick(30_100, ['a', 'b']), tick(45_000, ['a', 'b'], { a: '11' }), tick(90_000, ['a', 'b'])]);
  expect(held.watermarkMs).toBe(1_000);
  const click = { userId: 'ann', clicks: 3, ts: 4_999 };
  const backlog = await s1([
    { kind: 'envelope', sequenceNumber: String(++seq), from: 'b', arrivalMs: 91_000, elements: [{ key: 'ann', origin: { shardId: 'b', sequenceNumber: '21', subIndex: 0 }, timestampMs: 4_999, value: click }] },
    marker('b', 91_000, 30_000, { at: '21' }),
  ]);
  expect(backlog.late).toEqual([]);
  expect(backlog.watermarkMs).toBe(30_000);
  expect(backlog.shuffles[0]!.elements.map((e) => e.value)).toEqual([expect.objectContaining({ key: 'ann', windowStart: 4_000, clicks: 3 })]);
});

test("word about a later position than a shard's own does not make that input idle: its sender's newer marker is on the way", async () => {
  const s1 = stage(1);
  await s1([marker('a', 100, 1_000, { at: '10' }), marker('b', 100, 1_000, { at: '20' })]);
  // Another shard of the stage heard b up to 25 and asked about that; this one has b's marker for 25 still to read.
  const result = await s1([marker('a', 20_000, 30_000, { at: '11' }), tick(30_100, ['a', 'b']), tick(31_100, ['a', 'b'], { b: '25' })]);
  expect(result.watermarkMs).toBe(1_000);
  // Nor does a marker delivered late (a zombie's) take the position back.
  expect((await s1([marker('b', 31_200, 1_000, { at: '25' }), marker('b', 31_300, 1_000, { at: '22' }), tick(62_000, ['a', 'b'], { b: '25' })])).watermarkMs).toBe(30_000);
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
  const idle = await s1([tick(40_000, ['src'], { src: '' })]);
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

/**
 * Chaos chained 4013: a first-stage shard whose inputs had all gone idle said so while it still held an open
 * window; the records that ended the quiet reached its peers first, their markers carried the second stage
 * past that window, and the idle shard's results came a batch later — late, and dropped.
 */
test('an idle keyed shard says what it still owes: the earliest of its open windows', async () => {
  const s1 = stage(1);
  const click = { userId: 'ann', clicks: 3, ts: 4_500 };
  await s1([
    { kind: 'envelope', sequenceNumber: String(++seq), from: 'src', arrivalMs: 100, elements: [{ key: 'ann', origin: { shardId: 'src', sequenceNumber: '5', subIndex: 0 }, timestampMs: 4_500, value: click }] },
    marker('src', 100, 3_000, { at: '5' }),
  ]);
  // Its only input goes idle: the window [4000, 5000) is open, due at 4999.
  expect((await s1([tick(40_000, ['src'], { src: '5' })])).marker).toEqual({ watermarkMs: 3_000, idle: true, at: String(seq), owes: 4_999 });
  // Active again, it owes nothing: it holds the watermark back itself.
  expect((await s1([marker('src', 41_000, 3_500, { at: '6' })])).marker).toEqual({ watermarkMs: 3_500, at: String(seq) });
});

test('the stage after an idle shard keeps its watermark below what the shard owes, so its results come on time', async () => {
  const logs = new MemoryLogStore();
  await stage(2, logs)([marker('a', 100, 1_000, { at: '1' }), marker('b', 100, 1_000, { at: '1' })]);
  // b is idle, its window [4000, 5000) still open; a moves far past it.
  const held = await stage(2, logs)([marker('b', 200, 3_000, { idle: true, at: '2', owes: 4_999 }), marker('a', 300, 30_000, { at: '2' })]);
  expect(held.watermarkMs).toBe(4_998);
  expect(held.outputs).toEqual([]);
  // (Read again from the log: the owed time is kept.) b's inputs speak: it fires that window and moves on.
  const caughtUp = await stage(2, logs)([perSecond('b', 400, 4_000, 3), marker('b', 400, 30_000, { at: '3' })]);
  expect(caughtUp.late).toEqual([]);
  expect(caughtUp.watermarkMs).toBe(30_000);
  expect(caughtUp.outputs.map((o) => o.output.record)).toEqual([expect.objectContaining({ key: 'ann', windowStart: 0, clicks: 3 })]);
});

test('an idle shard that owes nothing holds nothing back, and an ended one no longer owes', async () => {
  const s2 = stage(2);
  await s2([marker('a', 100, 1_000, { at: '1' }), marker('b', 100, 1_000, { at: '1' })]);
  expect((await s2([marker('b', 200, 3_000, { idle: true, at: '2' }), marker('a', 300, 30_000, { at: '2' })])).watermarkMs).toBe(30_000);
  const s2b = stage(2);
  await s2b([marker('a', 100, 1_000, { at: '1' }), marker('b', 100, 1_000, { at: '1' })]);
  expect((await s2b([marker('b', 200, 3_000, { idle: true, at: '2', owes: 4_999 }), marker('a', 300, 30_000, { at: '2' })])).watermarkMs).toBe(4_998);
  // A reshard closed b and its children run: what b held is theirs to send.
  expect((await s2b([tick(400, ['a', 'b'], undefined, ['b'])])).watermarkMs).toBe(30_000);
});

test('the owed time crosses the wire', () => {
  expect(decodeShuffleRecord(encodeMarker('a', { watermarkMs: 7, idle: true, at: '9', owes: 4_999 }))).toEqual({ kind: 'marker', from: 'a', watermarkMs: 7, idle: true, at: '9', owes: 4_999 });
  expect(() => decodeShuffleRecord('{"f":"a","w":7,"m":1,"i":1,"o":"5"}')).toThrow('marker with an owed time that is not a number');
});
