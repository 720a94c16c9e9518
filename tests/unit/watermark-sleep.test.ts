/**
 * The watermark function sleeps while every input is idle, and the stage function that finds its input
 * waking from idleness starts it again (docs/architecture.md, "The watermark function").
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import type { SinkWriter } from '../../lib/io/sinks';
import { createStageHandler } from '../../lib/io/stage-handler';
import { createWatermarkHandler } from '../../lib/io/watermark-handler';
import { toKinesisEvent } from '../../lib/local/lambda-event';
import { StageExecutor } from '../../lib/runtime/stage-executor';
import { MemoryBackend } from '../../lib/state/memory/memory-backend';

type Click = { userId: string; clicks: number; ts: number };

// One keyed source stage (partitionedBy the key): its input rows are the ones the watermark function reads.
const plan = planJob(
  job('sleepy')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, idleAfter: '10s', partitionedBy: 'userId' }))
    .keyBy('userId')
    .window(tumbling('1s'))
    .sum('clicks')
    .sink(dynamoSink('out')),
);
const sinks = { deadLetters: async () => {}, write: async () => {} } as unknown as SinkWriter;
const IDLE_AFTER = plan.eventTime.idleAfterMs;
let seq = 0;
const event = (shardId: string, clicks: Click[]) =>
  toKinesisEvent(
    clicks.map((c) => ({ SequenceNumber: String(++seq), PartitionKey: c.userId, Data: Buffer.from(JSON.stringify(c)) })),
    shardId,
    'arn:aws:kinesis:us-east-1:000000000000:stream/clicks',
  );

function world() {
  const backend = new MemoryBackend();
  let nowMs = 1_000_000;
  const wakes: string[] = [];
  const clock = () => nowMs;
  const stage = createStageHandler({ plan, stageId: 's0', backend, sinks, clock, wakeWatermark: async () => void wakes.push(`at ${nowMs}`) });
  let ticks = 0;
  const watermarkFunction = createWatermarkHandler({
    plan,
    backend,
    sinks,
    clock,
    loopForMs: 55_000,
    tickMs: 1_000,
    stopWhenIdle: true,
    sleep: async (ms) => void (nowMs += ms),
    onTick: () => void (ticks += 1),
  });
  return {
    backend,
    wakes,
    stage,
    watermarkFunction,
    ticks: () => ticks,
    advance: (ms: number) => void (nowMs += ms),
    now: () => nowMs,
  };
}

test('while an input is active the watermark function loops its whole invocation; once all are idle it returns after one tick', async () => {
  const w = world();
  await w.stage(event('shard-0', [{ userId: 'a', clicks: 1, ts: 5_000 }]));
  const started = w.now();
  await w.watermarkFunction();
  // Active for IDLE_AFTER after the batch: it ticks until then, sees everything idle, and stops early.
  expect(w.now() - started).toBe(IDLE_AFTER);
  expect(w.ticks()).toBe(IDLE_AFTER / 1_000 + 1);
  // It said it sleeps: the first claim wins, later ones find it awake.
  expect(await w.backend.claimWatermarkWake()).toBe(true);
  expect(await w.backend.claimWatermarkWake()).toBe(false);
});

test('a scheduled run on an idle job ticks once and returns', async () => {
  const w = world();
  await w.stage(event('shard-0', [{ userId: 'a', clicks: 1, ts: 5_000 }]));
  w.advance(IDLE_AFTER + 60_000);
  const started = w.now();
  await w.watermarkFunction();
  expect(w.now()).toBe(started);
  expect(w.ticks()).toBe(1);
});

test('the first batch after idleness wakes a sleeping watermark function once, however many shards wake together', async () => {
  const w = world();
  await w.stage(event('shard-0', [{ userId: 'a', clicks: 1, ts: 5_000 }]));
  expect(w.wakes).toHaveLength(0); // it never slept: nothing to wake
  w.advance(IDLE_AFTER);
  await w.watermarkFunction(); // idle: it sleeps
  w.advance(5_000);
  await w.stage(event('shard-0', [{ userId: 'a', clicks: 1, ts: 20_000 }]));
  await w.stage(event('shard-1', [{ userId: 'b', clicks: 1, ts: 20_000 }]));
  expect(w.wakes).toEqual([`at ${w.now()}`]);
  // Active again: later batches do not try.
  w.advance(1_000);
  await w.stage(event('shard-0', [{ userId: 'a', clicks: 1, ts: 21_000 }]));
  expect(w.wakes).toHaveLength(1);
});

test('an input that turns active while the watermark function falls asleep keeps it awake', async () => {
  const w = world();
  await w.stage(event('shard-0', [{ userId: 'a', clicks: 1, ts: 5_000 }]));
  w.advance(IDLE_AFTER);
  // A stage function commits between the tick that found everything idle and the second look.
  const markAsleep = w.backend.markWatermarkAsleep.bind(w.backend);
  let raced = false;
  w.backend.markWatermarkAsleep = async () => {
    await markAsleep();
    if (raced) return;
    raced = true;
    const executor = new StageExecutor(plan, plan.stages[0]!, w.backend);
    await executor.commit(await executor.runBatch({ kind: 'source', shardId: 'shard-0', nowMs: w.now(), records: [{ shardId: 'shard-0', sequenceNumber: String(++seq), data: JSON.stringify({ userId: 'a', clicks: 1, ts: 30_000 }) }] }));
  };
  const claim = w.backend.claimWatermarkWake.bind(w.backend);
  const claimed: boolean[] = [];
  w.backend.claimWatermarkWake = async () => {
    const won = await claim();
    claimed.push(won);
    return won;
  };
  const started = w.now();
  await w.watermarkFunction();
  expect(raced).toBe(true);
  // It took the flag back at once (so no stage function starts a second copy) and ticked on until the
  // raced input was idle in turn.
  expect(claimed).toEqual([true]);
  expect(w.now() - started).toBe(IDLE_AFTER);
});

test('a wake that cannot be sent does not fail the batch, and the next waking batch tries again', async () => {
  const backend = new MemoryBackend();
  let nowMs = 1_000_000;
  const warnings: string[] = [];
  let attempts = 0;
  const stage = createStageHandler({
    plan,
    stageId: 's0',
    backend,
    sinks,
    clock: () => nowMs,
    wakeWatermark: async () => {
      attempts += 1;
      throw new Error('Lambda is down');
    },
    warn: (message) => void warnings.push(message),
  });
  await backend.markWatermarkAsleep();
  await expect(stage(event('shard-0', [{ userId: 'a', clicks: 1, ts: 5_000 }]))).resolves.toEqual({ batchItemFailures: [] });
  expect(warnings).toEqual(['could not wake the watermark function']);
  nowMs += IDLE_AFTER;
  await stage(event('shard-1', [{ userId: 'b', clicks: 1, ts: 5_000 }]));
  expect(attempts).toBe(2);
});

describe('hand-over: one invocation ticks at a time, and it starts its successor while events flow', () => {
  function deployed(backend: MemoryBackend, clock: { now: number }, successors: string[], name: string) {
    return createWatermarkHandler({
      plan,
      backend,
      sinks,
      clock: () => clock.now,
      loopForMs: 55_000,
      tickMs: 1_000,
      stopWhenIdle: true,
      sleep: async (ms) => void (clock.now += ms),
      handOver: { holder: () => name, leaseMs: 70_000, invokeSuccessor: async () => void successors.push(name) },
    });
  }
  /** The keyed stage's one input, last active at `nowMs`. */
  const keepActive = (backend: MemoryBackend, nowMs: number) => backend.writeInputs('s0', [{ input: 'shard-0', watermarkMs: 0, maxEventTimeMs: 0, lastActiveMs: nowMs }]);

  test('at the end of a busy loop it frees the lease and starts a successor, which can take it', async () => {
    const backend = new MemoryBackend();
    const clock = { now: 1_000_000 };
    const successors: string[] = [];
    await keepActive(backend, clock.now + 60_000); // active for the whole loop
    await deployed(backend, clock, successors, 'first')();
    expect(successors).toEqual(['first']);
    expect(await backend.acquireWatermarkLease('second', clock.now, clock.now + 70_000)).toBe(true);
  });

  test('an invocation that finds the lease held returns at once, without ticking or starting anyone', async () => {
    const backend = new MemoryBackend();
    const clock = { now: 1_000_000 };
    const successors: string[] = [];
    await keepActive(backend, clock.now + 60_000);
    expect(await backend.acquireWatermarkLease('running', clock.now, clock.now + 70_000)).toBe(true);
    const started = clock.now;
    expect(await deployed(backend, clock, successors, 'scheduled')()).toEqual([]);
    expect(clock.now).toBe(started);
    expect(successors).toEqual([]);
    // Once the holder's lease has run out (it was killed), the next one takes over.
    clock.now += 70_001;
    await keepActive(backend, clock.now + 60_000);
    await deployed(backend, clock, successors, 'after-expiry')();
    expect(successors).toEqual(['after-expiry']);
  });

  test('a loop that ends asleep starts no successor and frees the lease for the wake', async () => {
    const backend = new MemoryBackend();
    const clock = { now: 1_000_000 };
    const successors: string[] = [];
    await deployed(backend, clock, successors, 'idle')();
    expect(successors).toEqual([]);
    expect(await backend.claimWatermarkWake()).toBe(true);
    expect(await backend.acquireWatermarkLease('woken', clock.now, clock.now + 70_000)).toBe(true);
  });

  test('a holder whose lease expired mid-loop (another took it) starts no successor: the other goes on', async () => {
    const backend = new MemoryBackend();
    const clock = { now: 1_000_000 };
    const successors: string[] = [];
    await keepActive(backend, clock.now + 200_000);
    const slow = createWatermarkHandler({
      plan,
      backend,
      sinks,
      clock: () => clock.now,
      loopForMs: 55_000,
      stopWhenIdle: true,
      // Each pause is long: the 10 s lease runs out and another invocation takes it meanwhile.
      sleep: async () => {
        clock.now += 20_000;
        await backend.acquireWatermarkLease('other', clock.now, clock.now + 70_000);
      },
      handOver: { holder: () => 'slow', leaseMs: 10_000, invokeSuccessor: async () => void successors.push('slow') },
    });
    await slow();
    expect(successors).toEqual([]);
    expect(await backend.releaseWatermarkLease('other')).toBe(true);
  });
});
