/**
 * The watermark function with two keyed stages: it ticks both stages' shards (the second's upstream shards
 * are the first's), windows fired by the first are fired again downstream as its markers pass, the function
 * sleeps once both stages' inputs are idle, stays asleep when a new container ticks the idle job, and data
 * wakes it once. Both stage functions and the ticks go through the real handlers as Lambda would deliver
 * them; streams, logs and coordination are in memory.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { encodeEnvelopes, encodeMarker } from '../../lib/io/envelope';
import type { Chain, KinesisWriter } from '../../lib/io/kinesis-writer';
import type { SinkWriter } from '../../lib/io/sinks';
import { createStageHandler } from '../../lib/io/stage-handler';
import { createWatermarkHandler } from '../../lib/io/watermark-handler';
import { toKinesisEvent } from '../../lib/local/lambda-event';
import type { Output } from '../../lib/runtime/records';
import { MemoryCoordination } from '../../lib/state/coordination';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';

/** Every source record is delivered before the ticks that follow it, in these tests: no source shard has a backlog. */
const allRead = async (): Promise<boolean> => false;

type Click = { userId: string; clicks: number; ts: number };

const plan = planJob(
  job('sleepy-chain')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, idleAfter: '10s', shards: 1 }))
    .keyBy('userId')
    .window(tumbling('1s'))
    .sum('clicks')
    .keyBy((perUser) => perUser.windowStart)
    .window(tumbling('1s'))
    .max('clicks')
    .sink(dynamoSink('out')),
);
const IDLE_AFTER = plan.eventTime.idleAfterMs;
const STREAMS = { s1: plan.stages[1]!.input.stream, s2: plan.stages[2]!.input.stream };
const SHARDS = { s1: ['s1-shard-0', 's1-shard-1'], s2: ['s2-shard-0', 's2-shard-1'] };
type KeyedStage = keyof typeof SHARDS;

function world() {
  const logs = new MemoryLogStore();
  const coordination = new MemoryCoordination();
  let nowMs = 1_000_000;
  const seq = { s1: 0, s2: 0 };
  const wakes: string[] = [];
  const results: Record<string, unknown>[] = [];
  const sinks = { deadLetters: async () => {}, write: async (outputs: { output: Output }[]) => void results.push(...outputs.map((o) => o.output.record)) } as unknown as SinkWriter;
  /** A stream's shards as a writer sees them; what is put waits there until `flush` delivers it. */
  const queued: { stage: KeyedStage; shardId: string; data: Buffer; atMs: number }[] = [];
  const writerOf = (stage: KeyedStage) =>
    ({
      openShards: async () => SHARDS[stage].map((shardId, i) => ({ shardId, startingHashKey: BigInt(i) * 2n ** 127n, endingHashKey: BigInt(i + 1) * 2n ** 127n - 1n })),
      put: async (chains: readonly Chain[]) =>
        chains.map((chain) =>
          chain.map((e) => {
            const shardId = SHARDS[stage][BigInt(e.explicitHashKey!) < 2n ** 127n ? 0 : 1]!;
            queued.push({ stage, shardId, data: Buffer.from(e.data), atMs: nowMs });
            return shardId;
          }),
        ),
    }) as unknown as KinesisWriter;
  const wake = { wakeWatermark: async () => void wakes.push(`at ${nowMs}`) };
  const handlers = {
    s1: createStageHandler({ plan, stageId: 's1', states: new ShardStates(logs), coordination, sinks, shuffleWriters: new Map([[STREAMS.s2, writerOf('s2')]]), clock: () => nowMs, ...wake }),
    s2: createStageHandler({ plan, stageId: 's2', states: new ShardStates(logs), coordination, sinks, clock: () => nowMs, ...wake }),
  };
  /** Delivers everything queued, stream by stream, each shard's records as one batch (as Lambda would). */
  const flush = async (): Promise<void> => {
    while (queued.length > 0) {
      const { stage, shardId } = queued[0]!;
      const batch = queued.filter((q) => q.stage === stage && q.shardId === shardId);
      queued.splice(0, queued.length, ...queued.filter((q) => !batch.includes(q)));
      const records = batch.map((q) => ({ SequenceNumber: String(++seq[stage]), PartitionKey: 'p', Data: q.data, ApproximateArrivalTimestamp: new Date(q.atMs) }));
      await handlers[stage](toKinesisEvent(records, shardId, `arn:aws:kinesis:us-east-1:000000000000:stream/${STREAMS[stage]}`));
    }
  };
  let sourceSeq = 0;
  /** What the source stage sends the first keyed stage's shards after a batch: the elements, then a marker to each. */
  const fromSource = async (clicks: Click[]): Promise<void> => {
    const elements = clicks.map((c) => ({ key: c.userId, origin: { shardId: 'src-0', sequenceNumber: String(++sourceSeq), subIndex: 0 }, timestampMs: c.ts, value: c }));
    for (const [i, shardId] of SHARDS.s1.entries()) {
      const mine = elements.filter((e) => (e.key < 'm' ? 0 : 1) === i);
      for (const data of [...(mine.length ? encodeEnvelopes('src-0', mine) : []), encodeMarker('src-0', { watermarkMs: Math.max(...clicks.map((c) => c.ts)) - 1 })]) queued.push({ stage: 's1', shardId, data, atMs: nowMs });
    }
    await flush();
  };
  let ticks = 0;
  const options = {
    plan,
    logs,
    coordination,
    writerFor: (stream: string) => writerOf(stream === STREAMS.s1 ? 's1' : 's2'),
    // Ticks are delivered before the watermark function looks at the logs again (Lambda polls every second).
    sourceBacklog: allRead, listShards: async (stream: string) => {
      await flush();
      return stream === STREAMS.s1 ? SHARDS.s1 : stream === STREAMS.s2 ? SHARDS.s2 : ['src-0'];
    },
    clock: () => nowMs,
    loopForMs: 55_000,
    tickMs: 1_000,
    stopWhenIdle: true,
    sleep: async (ms: number) => {
      nowMs += ms;
      await flush();
    },
    onTick: () => void (ticks += 1),
  };
  const idle = async (stage: KeyedStage): Promise<boolean[]> => Promise.all(SHARDS[stage].map(async (shardId) => (await logs.readHead({ stageId: stage, shardId }))?.idle === true));
  return { logs, coordination, wakes, results, fromSource, options, idle, ticks: () => ticks, advance: (ms: number) => void (nowMs += ms), now: () => nowMs };
}

test('ticks reach both keyed stages; the second fires what the first fired; once both are idle the function sleeps', async () => {
  const w = world();
  await w.fromSource([
    { userId: 'ann', clicks: 2, ts: 5_100 },
    { userId: 'zoe', clicks: 7, ts: 5_200 },
  ]);
  await w.fromSource([{ userId: 'ann', clicks: 1, ts: 7_000 }]);
  // The first stage fired [5000, 6000) for both users; its markers carried 6999 to the second, which fired too.
  expect(w.results).toEqual([{ key: '5000', windowStart: 5_000, windowEnd: 6_000, clicks: 7 }]);
  const started = w.now();
  await createWatermarkHandler(w.options)();
  // The first stage's input goes idle one tick after it has been silent for IDLE_AFTER (that tick says its
  // source shard holds nothing more); until then each tick's batch sends a marker saying the first stage is
  // active, then one saying it is idle, and none after. The second stage takes its inputs for idle on that
  // word, not after a silence of its own (IDLE_AFTER more): the function sleeps one tick after the first stage
  // went idle, and every log says idle.
  expect(w.now() - started).toBe(IDLE_AFTER + 2 * w.options.tickMs);
  expect([await w.idle('s1'), await w.idle('s2')]).toEqual([
    [true, true],
    [true, true],
  ]);
  expect(await w.coordination.claimWatermarkWake()).toBe(true);
});

test('a new container ticking the idle job (it names every shard once) wakes nothing and writes nothing', async () => {
  const w = world();
  await w.fromSource([{ userId: 'ann', clicks: 2, ts: 5_100 }]);
  await createWatermarkHandler(w.options)();
  const [appends, ticks] = [w.logs.counters.appends, w.ticks()];
  w.advance(60_000);
  const started = w.now();
  await createWatermarkHandler(w.options)(); // the schedule, on a fresh container
  expect([w.now() - started, w.ticks() - ticks, w.logs.counters.appends - appends, w.wakes]).toEqual([0, 2, 0, []]);
});

test('data after sleep wakes the watermark function once, though both stages hear an idle input again', async () => {
  const w = world();
  await w.fromSource([{ userId: 'ann', clicks: 2, ts: 5_100 }]);
  await createWatermarkHandler(w.options)();
  w.advance(5_000);
  await w.fromSource([{ userId: 'zoe', clicks: 1, ts: 20_000 }]);
  expect(w.wakes).toEqual([`at ${w.now()}`]);
  expect([await w.idle('s1'), await w.idle('s2')]).toEqual([
    [false, false],
    [false, false],
  ]);
});
