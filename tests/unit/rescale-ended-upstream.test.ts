/**
 * After a keyed stage is rescaled, the stage after it has the closed shards among its inputs. They send
 * nothing more once their children run; the watermark function's ticks say so, and the next stage stops
 * waiting for them at once — not `idleAfter` (a minute by default) after their last marker.
 */
import type { Chain, KinesisWriter } from '../../lib/io/kinesis-writer';
import { createWatermarkHandler } from '../../lib/io/watermark-handler';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { MemoryCoordination } from '../../lib/state/coordination';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { chainedClicksPlan, tickCapture } from '../fixtures/chained-clicks';

/** Every source record is delivered before the ticks that follow it, in these tests: no source shard has a backlog. */
const allRead = async (): Promise<boolean> => false;

/** Clicks per user per second (s1), then per user per 10 seconds (s2). */
const plan = chainedClicksPlan();

test("a tick naming a closed, finished upstream shard lets the next stage's watermark go past it at once", async () => {
  const s2 = new StageExecutor(plan, plan.stages[2]!, new ShardStates(new MemoryLogStore()));
  const run = async (inputs: ShuffleInput[]) => {
    const batch = await s2.run({ kind: 'shuffled', shardId: 'd', inputs });
    await batch.commit();
    return batch.result;
  };
  const perSecond = { key: 'ann', windowStart: 4000, windowEnd: 5000, clicks: 3 };
  // p's last marker (it closed in a rescale of s1), then its children's, past the 10 s window.
  await run([
    { kind: 'marker', sequenceNumber: '1', from: 'p', arrivalMs: 100, watermarkMs: 1_000 },
    { kind: 'envelope', sequenceNumber: '2', from: 'c1', arrivalMs: 200, elements: [{ key: 'ann', origin: { shardId: 'c1', sequenceNumber: '9', subIndex: 0 }, timestampMs: 4_999, value: perSecond }], to: 'd' },
    { kind: 'marker', sequenceNumber: '3', from: 'c1', arrivalMs: 200, watermarkMs: 30_000 },
    { kind: 'marker', sequenceNumber: '4', from: 'c2', arrivalMs: 200, watermarkMs: 30_000 },
  ]);
  const tick = (sequenceNumber: string, ended?: string[]): ShuffleInput => ({ kind: 'tick', sequenceNumber, arrivalMs: 1_000, upstream: ['p', 'c1', 'c2'], ...(ended && { ended }) });
  // A second later p is not idle yet (idleAfter is a minute): it holds the watermark at 1 s.
  expect((await run([tick('5')])).watermarkMs).toBe(1_000);
  const result = await run([tick('6', ['p'])]);
  expect(result.watermarkMs).toBe(30_000);
  expect(result.outputs.map((o) => o.output.record)).toEqual([expect.objectContaining({ key: 'ann', windowStart: 0, clicks: 3 })]);
});

/** A watermark function over s1's shards `shards`, reshard lineage `parents` (child → its parents), capturing its ticks. */
function watermarkFunction(logs: MemoryLogStore, shards: string[], parents: [string, string[]][]) {
  const { writer, ticks } = tickCapture();
  const tick = createWatermarkHandler({
    plan,
    logs,
    coordination: new MemoryCoordination(),
    writerFor: () => writer,
    sourceBacklog: allRead, listShards: async (stream) => (stream === 'chain-s1' ? shards : ['src']),
    shardParents: async (stream) => new Map(stream === 'chain-s1' ? parents : []),
  });
  return { tick, ticks };
}

test('the watermark function names an upstream shard ended once a child of it has a log', async () => {
  const logs = new MemoryLogStore();
  const { tick, ticks } = watermarkFunction(logs, ['p', 'c1', 'c2'], [['c1', ['p']], ['c2', ['p']]]);
  await tick();
  // s2's tick: p's children have no log yet (p may still be running): nothing has ended.
  expect(ticks.filter((t) => t.kind === 'tick' && t.upstream.includes('p'))).toEqual([{ kind: 'tick', upstream: ['p', 'c1', 'c2'] }]);
  // c1's first batch appends its log: p is done.
  const states = new ShardStates(logs);
  const log = { stageId: 's1', shardId: 'c1' };
  const c1 = await states.current(log);
  c1.setWatermark(5);
  expect(await states.commit(log, c1, states.prepare(log, c1))).toBe('appended');
  ticks.length = 0;
  await tick();
  expect(ticks.filter((t) => t.kind === 'tick' && t.upstream.includes('p'))).toEqual([{ kind: 'tick', upstream: ['p', 'c1', 'c2'], ended: ['p'] }]);
});

test("a shard that never ran before it was resharded again ends with its parents once its children run (chaos chained 4011)", async () => {
  const logs = new MemoryLogStore();
  // p and q merged into m, and m split into c1 and c2 before it took a batch: m has no log.
  const { tick, ticks } = watermarkFunction(logs, ['p', 'q', 'm', 'c1', 'c2'], [['m', ['p', 'q']], ['c1', ['m']], ['c2', ['m']]]);
  const states = new ShardStates(logs);
  for (const shardId of ['p', 'q', 'c1']) {
    const log = { stageId: 's1', shardId };
    const state = await states.current(log);
    state.setWatermark(5);
    expect(await states.commit(log, state, states.prepare(log, state))).toBe('appended');
  }
  await tick();
  expect(ticks.filter((t) => t.kind === 'tick' && t.upstream.includes('p'))).toEqual([{ kind: 'tick', upstream: ['p', 'q', 'm', 'c1', 'c2'], ended: ['m', 'p', 'q'] }]);
});

test("the watermark function sleeps once the open shards are idle, whatever a reshard's closed parents' last entries say", async () => {
  const logs = new MemoryLogStore();
  const states = new ShardStates(logs);
  /** A log entry for a shard of s1 or s2 whose one input is idle or not. */
  const entry = async (stageId: string, shardId: string, idle: boolean): Promise<void> => {
    const log = { stageId, shardId };
    const state = await states.current(log);
    state.setInput('u', { watermarkMs: 5, heardAtMs: 1, idle });
    expect(await states.commit(log, state, states.prepare(log, state))).toBe('appended');
  };
  // s1's stream was split: p closed while active; its children are idle now, and so is s2's shard.
  await entry('s1', 'p', false);
  await entry('s1', 'c1', true);
  await entry('s1', 'c2', true);
  await entry('s2', 'd', true);
  const open = { 'chain-s1': ['c1', 'c2'], 'chain-s2': ['d'] } as Record<string, string[]>;
  const writerFor = (stream: string) =>
    ({
      openShards: async () => open[stream]!.map((shardId, i) => ({ shardId, startingHashKey: BigInt(i), endingHashKey: BigInt(i) })),
      put: async (chains: readonly Chain[]) => chains.map((chain) => chain.map(() => '')),
      forgetShards: () => {},
    }) as unknown as KinesisWriter;
  const coordination = new MemoryCoordination();
  const tick = createWatermarkHandler({
    plan,
    logs,
    coordination,
    writerFor,
    stopWhenIdle: true,
    sourceBacklog: allRead, listShards: async (stream) => (stream === 'chain-s1' ? ['p', 'c1', 'c2'] : ['src']),
  });
  await tick();
  expect(await coordination.claimWatermarkWake()).toBe(true);
});
