/**
 * A runtime that stops and starts again on its data (`shardflow dev --data`) was down for a while: every
 * input of a keyed shard was silent, because nothing ran. Measured by arrival times, that silence looks like
 * idleness of the source stage's shards (a keyed stage's shards go idle only on their word) — and the first
 * source shard to catch up would carry the watermark past the others' backlog, which would then be late
 * (chaos chained 4007: a 52 s stop and catch-up at parallelizationFactor 4 lost the users of three windows).
 * The runtime's first watermark invocation says it resumed; its ticks make every input count as heard at
 * that moment, as Flink restores a job with every input channel active.
 */
import { decodeShuffleRecord, encodeTick } from '../../lib/io/envelope';
import { createWatermarkHandler, RESUME_EVENT } from '../../lib/io/watermark-handler';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { MemoryCoordination } from '../../lib/state/coordination';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { chainedClicksPlan, tickCapture } from '../fixtures/chained-clicks';

/** Every source record is delivered before the ticks that follow it, in these tests: no source shard has a backlog. */
const allRead = async (): Promise<boolean> => false;

const IDLE_AFTER_MS = 30_000;
/** Clicks per user per second (s1, reading the source stage's shards a and b), then per user per 10 seconds (s2). */
const plan = chainedClicksPlan(IDLE_AFTER_MS);

/** s1's shard `d`: a and b at 1 s before the stop; after it, a catches up to 30 s first, then b's backlog comes. */
async function afterDowntime(resumed: boolean) {
  const s1 = new StageExecutor(plan, plan.stages[1]!, new ShardStates(new MemoryLogStore()));
  const run = async (inputs: ShuffleInput[]) => {
    const batch = await s1.run({ kind: 'shuffled', shardId: 'd', inputs });
    await batch.commit();
    return batch.result;
  };
  await run([
    { kind: 'marker', sequenceNumber: '1', from: 'a', arrivalMs: 100, watermarkMs: 1_000 },
    { kind: 'marker', sequenceNumber: '2', from: 'b', arrivalMs: 100, watermarkMs: 1_000 },
  ]);
  // Down for 100 s. The first tick after the start, then a's catch-up.
  const first = await run([
    // The watermark function found nothing in b's source shard (b's backlog is put after this tick).
    { kind: 'tick', sequenceNumber: '3', arrivalMs: 100_000, upstream: ['a', 'b'], caughtUp: { b: '' }, ...(resumed && { resumed: true as const }) },
    { kind: 'marker', sequenceNumber: '4', from: 'a', arrivalMs: 100_500, watermarkMs: 30_000 },
  ]);
  const click = { userId: 'ann', clicks: 3, ts: 4_999 };
  const backlog = await run([
    { kind: 'envelope', sequenceNumber: '5', from: 'b', arrivalMs: 101_000, elements: [{ key: 'ann', origin: { shardId: 'b', sequenceNumber: '9', subIndex: 0 }, timestampMs: 4_999, value: click }], to: 'd' },
    { kind: 'marker', sequenceNumber: '6', from: 'b', arrivalMs: 101_000, watermarkMs: 30_000 },
  ]);
  return { first, backlog };
}

test("after a resume, an input silent through the downtime still holds the watermark, and its backlog is on time", async () => {
  const { first, backlog } = await afterDowntime(true);
  expect(first.watermarkMs).toBe(1_000);
  expect(backlog.late).toEqual([]);
  expect(backlog.watermarkMs).toBe(30_000);
  expect(backlog.shuffles[0]!.elements.map((e) => e.value)).toEqual([expect.objectContaining({ key: 'ann', windowStart: 4_000, clicks: 3 })]);
});

test('without the resume, the downtime made b idle: the watermark passed it and its backlog was late (what the resume prevents)', async () => {
  const { first, backlog } = await afterDowntime(false);
  expect(first.watermarkMs).toBe(30_000);
  expect(backlog.late.map((e) => e.value)).toEqual([expect.objectContaining({ userId: 'ann', clicks: 3 })]);
  expect(backlog.shuffles[0]!.elements).toEqual([]);
});

test('a resume leaves inputs that ended idle: a closed upstream shard sends nothing more', async () => {
  const s1 = new StageExecutor(plan, plan.stages[1]!, new ShardStates(new MemoryLogStore()));
  const run = async (inputs: ShuffleInput[]) => (await s1.run({ kind: 'shuffled', shardId: 'd', inputs })).result;
  const result = await run([
    { kind: 'marker', sequenceNumber: '1', from: 'p', arrivalMs: 100, watermarkMs: 1_000 },
    { kind: 'marker', sequenceNumber: '2', from: 'c', arrivalMs: 100, watermarkMs: 20_000 },
    { kind: 'tick', sequenceNumber: '3', arrivalMs: 100_000, upstream: ['p', 'c'], ended: ['p'], resumed: true },
  ]);
  expect(result.watermarkMs).toBe(20_000);
});

test("the runtime's resume invocation ticks every shard, idle or not, once; the schedule's ticks do not say resumed", async () => {
  const { writer, ticks } = tickCapture();
  const logs = new MemoryLogStore();
  // s2's shard d says all its inputs are idle: a scheduled tick after the first would skip it.
  const states = new ShardStates(logs);
  const log = { stageId: 's2', shardId: 'd' };
  const d = await states.current(log);
  d.setInput('a', { watermarkMs: 1_000, heardAtMs: 100, idle: true });
  expect(await states.commit(log, d, states.prepare(log, d))).toBe('appended');
  const handler = createWatermarkHandler({ plan, logs, coordination: new MemoryCoordination(), writerFor: () => writer, sourceBacklog: allRead, listShards: async (stream) => (stream === 'chain-s1' ? ['a'] : ['src']) });
  const s2Ticks = () => ticks.filter((t) => t.kind === 'tick' && t.upstream.includes('a'));
  await handler({ source: 'aws.events' });
  await handler({ source: 'aws.events' });
  // The container's first tick names the upstream shards to every shard; the next skips the idle one.
  expect(s2Ticks()).toEqual([{ kind: 'tick', upstream: ['a'] }]);
  ticks.length = 0;
  await handler(RESUME_EVENT);
  expect(s2Ticks()).toEqual([{ kind: 'tick', upstream: ['a'], resumed: true }]);
  ticks.length = 0;
  await handler({ source: 'aws.events' });
  expect(s2Ticks()).toEqual([]);
  expect(decodeShuffleRecord(encodeTick({ upstream: ['a'], ended: [], resumed: true }))).toEqual({ kind: 'tick', upstream: ['a'], resumed: true });
});
