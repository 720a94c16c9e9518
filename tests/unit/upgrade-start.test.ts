/**
 * A keyed stage an upgrade adds behind a source starts where the previous version had read each source
 * shard (lib/state/upgrade-start.ts): recorded from the kept stages' logs, given to its shards in the watermark
 * function's ticks. Without it, a quiet source shard kept the new stage waiting: with no position heard, the
 * watermark function looked from the shard's start and found the records the previous version had read.
 */
import { encodeTick } from '../../lib/io/envelope';
import { toStageBatch } from '../../lib/io/kinesis-event';
import { createWatermarkHandler } from '../../lib/io/watermark-handler';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { MemoryCoordination } from '../../lib/state/coordination';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardState } from '../../lib/state/shard-state';
import { ShardStates } from '../../lib/state/shard-states';
import { addReadPositions, parseUpgradeStart, upgradeStartOf, type ReadPositions } from '../../lib/state/upgrade-start';
import { chainedClicksPlan, tickCapture } from '../fixtures/chained-clicks';

const IDLE_AFTER_MS = 10_000;
/** s0 reads the source (shards a and b), s1 counts per user per second behind it, s2 per 10 s behind s1. */
const plan = chainedClicksPlan(IDLE_AFTER_MS);
const [, s1, s2] = plan.stages as [unknown, (typeof plan.stages)[number], (typeof plan.stages)[number]];
const click = (sequenceNumber: string, ts: number) => ({ key: 'ann', origin: { shardId: 'b', sequenceNumber, subIndex: 0 }, timestampMs: ts, value: { userId: 'ann', clicks: 1, ts } });

test("a new stage's input starts at the tick's position: what the previous version read is skipped, and the watermark function looks after it", async () => {
  const logs = new MemoryLogStore();
  const executor = new StageExecutor(plan, s1, new ShardStates(logs));
  const run = async (inputs: ShuffleInput[]) => {
    const batch = await executor.run({ kind: 'shuffled', shardId: 'd', inputs });
    await batch.commit();
    return batch.result;
  };
  await run([{ kind: 'tick', sequenceNumber: '1', arrivalMs: 1_000, upstream: ['a', 'b'], startAt: { a: '70', b: '50' } }]);
  // a speaks; b stays silent past idleAfter: the shard awaits word on b's source shard after 50, not from its start.
  await run([{ kind: 'marker', sequenceNumber: '2', from: 'a', arrivalMs: 12_000, watermarkMs: 5_000, at: '80' }]);
  expect((await logs.readHead({ stageId: s1.stateId, shardId: 'd' }))?.awaiting).toEqual({ b: '50' });
  // The watermark function found nothing after 50: b is idle, and a alone moves the watermark.
  expect((await run([{ kind: 'tick', sequenceNumber: '3', arrivalMs: 12_500, upstream: ['a', 'b'], caughtUp: { b: '50' } }])).watermarkMs).toBe(5_000);
  // A batch of b retried across the upgrade sends 40 again (the previous version's): skipped. 60 is new.
  const retried = await run([
    { kind: 'envelope', sequenceNumber: '4', from: 'b', arrivalMs: 13_000, elements: [click('40', 6_100), click('60', 6_200)], to: 'd' },
    { kind: 'marker', sequenceNumber: '5', from: 'b', arrivalMs: 13_000, watermarkMs: 9_000, at: '60' },
    { kind: 'marker', sequenceNumber: '6', from: 'a', arrivalMs: 13_000, watermarkMs: 8_000, at: '90' },
  ]);
  expect(retried.late).toEqual([]);
  expect(retried.shuffles.flatMap((s) => s.elements.map((e) => e.value))).toEqual([expect.objectContaining({ key: 'ann', windowStart: 6_000, clicks: 1 })]);
});

test("an input the shard has heard keeps its own position: a tick's start position is for inputs it has not heard yet", async () => {
  const logs = new MemoryLogStore();
  const executor = new StageExecutor(plan, s1, new ShardStates(logs));
  const run = async (inputs: ShuffleInput[]) => (await executor.run({ kind: 'shuffled', shardId: 'd', inputs })).commit();
  await run([{ kind: 'marker', sequenceNumber: '1', from: 'b', arrivalMs: 1_000, watermarkMs: 1_000, at: '30' }]);
  await run([{ kind: 'tick', sequenceNumber: '2', arrivalMs: 12_000, upstream: ['a', 'b'], startAt: { a: '70', b: '50' } }]);
  await run([{ kind: 'tick', sequenceNumber: '3', arrivalMs: 23_000, upstream: ['a', 'b'] }]);
  expect((await logs.readHead({ stageId: s1.stateId, shardId: 'd' }))?.awaiting).toEqual({ a: '70', b: '30' });
});

test('the watermark function gives the recorded positions to the stages the upgrade added, and to no other', async () => {
  const { writer, ticks } = tickCapture();
  const handler = createWatermarkHandler({
    plan,
    logs: new MemoryLogStore(),
    coordination: new MemoryCoordination(),
    writerFor: () => writer,
    sourceBacklog: async () => false,
    listShards: async (stream) => (stream === s1.input.stream ? ['d'] : ['a', 'b']),
    upgradeStart: async () => ({ stages: [s1.stateId], positions: { s0: { a: '70', b: '50' }, other: { a: '1' } } }),
  });
  await handler({ source: 'aws.events' });
  expect(ticks).toEqual([
    { kind: 'tick', upstream: ['a', 'b'], startAt: { a: '70', b: '50' } },
    { kind: 'tick', upstream: ['d'] },
  ]);
});

test("a tick's start positions reach the stage as Lambda delivers it (a Kinesis event)", () => {
  const data = encodeTick({ upstream: ['a', 'b'], startAt: { b: '50' } }).toString('base64');
  const { batch } = toStageBatch(s1, { Records: [{ eventID: 'shardId-000000000000:7', kinesis: { data, sequenceNumber: '7', partitionKey: 'tick', approximateArrivalTimestamp: 1.5 } }] });
  expect(batch).toEqual({ kind: 'shuffled', shardId: 'shardId-000000000000', inputs: [{ kind: 'tick', sequenceNumber: '7', arrivalMs: 1_500, upstream: ['a', 'b'], startAt: { b: '50' } }] });
});

test('the positions recorded are the furthest any kept shard heard per source shard, for the added stages behind a source', () => {
  const heard = (inputs: Record<string, string | undefined>): ShardState => {
    const state = new ShardState();
    for (const [u, at] of Object.entries(inputs)) state.setInput(u, { watermarkMs: 0, heardAtMs: 0, idle: false, ...(at !== undefined && { statusAt: at }) });
    return state;
  };
  const read: ReadPositions = {};
  addReadPositions(read, plan, s1.stateId, heard({ a: '9', b: '120' }));
  addReadPositions(read, plan, s1.stateId, heard({ a: '100', b: '30', c: undefined }));
  // s2's inputs are s1's shards, not a source's: nothing to take from them.
  addReadPositions(read, plan, s2.stateId, heard({ d: '5' }));
  expect(read).toEqual({ s0: { a: '100', b: '120' } });
  expect(upgradeStartOf(plan, new Set([s1.stateId, s2.stateId]), read)).toEqual({ stages: [s1.stateId], positions: { s0: { a: '100', b: '120' } } });
  // Only a stage behind s1 added: no source stage to start.
  expect(upgradeStartOf(plan, new Set([s2.stateId]), read)).toEqual({ stages: [], positions: {} });
});

test('a record that is not an upgrade start (a table changed by hand) is none', () => {
  expect(parseUpgradeStart('{"stages":["s1"],"positions":{"s0":{"a":"1"}}}')).toEqual({ stages: ['s1'], positions: { s0: { a: '1' } } });
  for (const bad of ['', '[]', '{"stages":"s1","positions":{}}', '{"stages":["s1"],"positions":{"s0":{"a":1}}}', '{"stages":["s1"]}']) expect(parseUpgradeStart(bad)).toBeUndefined();
});
