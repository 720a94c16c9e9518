/**
 * A keyed stage waits, before the watermark function's first tick, until every upstream shard the plan
 * sizes has spoken (as Flink waits for every input channel). A reshard's child is not one of them: chaos
 * join seed 6010 split a clicks shard early, the child's markers counted as the slow shard 0's, and the
 * coGroup fired its first windows with the impressions alone; shard 0's clicks then came late and were lost.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';

type Event = { userId: string; ts: number };
const coGroup = job('cogroup');
const clicks = coGroup.source(kinesisSource<Event>('clicks', { eventTime: (e) => e.ts, shards: 2 }));
const impressions = coGroup.source(kinesisSource<Event>('impressions', { eventTime: (e) => e.ts, shards: 2 }));
clicks
  .coGroup(impressions)
  .where((c) => c.userId)
  .equalTo((i) => i.userId)
  .window(tumbling('2s'))
  .apply((cs, is, ctx) => ({ key: ctx.key, windowStart: ctx.window.start, windowEnd: ctx.window.end, clicks: cs.length, impressions: is.length }))
  .sink(dynamoSink('out'));
const plan = planJob(coGroup);
const stage = plan.stages.find((s) => s.keyed)!;
const [clickLane, impressionLane] = stage.input.kind === 'shuffle' ? stage.input.lanes.map((l) => l.name) : [];
const shard = (n: number): string => `shardId-${String(n).padStart(12, '0')}`;

let sequence = 0;
const element = (from: string, value: Event) => ({ key: value.userId, origin: { shardId: from, sequenceNumber: String(++sequence), subIndex: 0 }, timestampMs: value.ts, value });
const envelope = (lane: string, n: number, value: Event): ShuffleInput => ({ kind: 'envelope', sequenceNumber: String(++sequence), from: `${lane}/${shard(n)}`, arrivalMs: 100, elements: [element(shard(n), value)], to: 'd' });
const marker = (lane: string, n: number, watermarkMs: number): ShuffleInput => ({ kind: 'marker', sequenceNumber: String(++sequence), from: `${lane}/${shard(n)}`, arrivalMs: 100, watermarkMs });

test("a reshard child's markers do not stand in for a planned upstream shard that has not spoken yet", async () => {
  const executor = new StageExecutor(plan, stage, new ShardStates(new MemoryLogStore()));
  const run = async (inputs: ShuffleInput[]) => {
    const batch = await executor.run({ kind: 'shuffled', shardId: 'd', inputs });
    await batch.commit();
    return batch.result;
  };
  // Four senders speak, past the first window: clicks shard 1 and its child shard 2, both impressions shards.
  // Clicks shard 0 (planned) has not.
  const early = await run([
    envelope(impressionLane!, 0, { userId: 'u0', ts: 500 }),
    marker(clickLane!, 1, 5_000),
    marker(clickLane!, 2, 5_000),
    marker(impressionLane!, 0, 5_000),
    marker(impressionLane!, 1, 5_000),
  ]);
  expect(early.outputs).toEqual([]);
  // Clicks shard 0 speaks: its click is on time, and the window has both sides.
  const late = await run([envelope(clickLane!, 0, { userId: 'u0', ts: 700 }), marker(clickLane!, 0, 5_000)]);
  expect(late.outputs.map((o) => o.output.record)).toEqual([{ key: 'u0', windowStart: 0, windowEnd: 2000, clicks: 1, impressions: 1 }]);
});
