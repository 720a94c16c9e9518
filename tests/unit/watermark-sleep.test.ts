/**
 * The watermark function ticks keyed shards while they have active inputs, sleeps once every keyed
 * shard's log says all its inputs are idle, and the stage function that hears an input again starts it
 * (docs/architecture.md, "The watermark function"). Ticks go through the stage handler as Lambda would
 * deliver them; logs and coordination are the in-memory ones.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling, type Plan } from 'shardflow';
import { encodeEnvelopes, encodeMarker } from '../../lib/io/envelope';
import type { KinesisWriter, Chain } from '../../lib/io/kinesis-writer';
import type { SinkWriter } from '../../lib/io/sinks';
import { createStageHandler } from '../../lib/io/stage-handler';
import { createWatermarkHandler } from '../../lib/io/watermark-handler';
import { toKinesisEvent } from '../../lib/local/lambda-event';
import { MemoryCoordination } from '../../lib/state/coordination';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { SNAPSHOT_MAX_AGE_MS, ShardStates } from '../../lib/state/shard-states';

/** Every source record is delivered before the ticks that follow it, in these tests: no source shard has a backlog. */
const allRead = async (): Promise<boolean> => false;

type Click = { userId: string; clicks: number; ts: number };

const plan = planJob(
  job('sleepy')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, idleAfter: '10s', shards: 1 }))
    .keyBy('userId')
    .window(tumbling('1s'))
    .sum('clicks')
    .sink(dynamoSink('out')),
);
const sinks = { deadLetters: async () => {}, write: async () => {} } as unknown as SinkWriter;
const IDLE_AFTER = plan.eventTime.idleAfterMs;
const KEYED_SHARDS = ['shardId-000000000000', 'shardId-000000000001'];

function world(p: Plan = plan, stageSinks: SinkWriter = sinks) {
  const keyedStream = p.stages[1]!.input.stream;
  const logs = new MemoryLogStore();
  const coordination = new MemoryCoordination();
  let nowMs = 1_000_000;
  let seq = 0;
  const wakes: string[] = [];
  const clock = () => nowMs;
  const stage = createStageHandler({ plan: p, stageId: 's1', states: new ShardStates(logs, { clock }), coordination, sinks: stageSinks, clock, wakeWatermark: async () => void wakes.push(`at ${nowMs}`) });
  /** Records put on a keyed shard, delivered to the stage function as Lambda would, arriving now. */
  const deliver = async (shardId: string, records: readonly Buffer[]): Promise<void> => {
    await stage(toKinesisEvent(records.map((data) => ({ SequenceNumber: String(++seq), PartitionKey: 'p', Data: data, ApproximateArrivalTimestamp: new Date(nowMs) })), shardId, `arn:aws:kinesis:us-east-1:000000000000:stream/${keyedStream}`));
  };
  /** What the source stage sends a keyed shard after a batch: its elements, then a marker. */
  const fromSource = (shardId: string, clicks: Click[]): Promise<void> =>
    deliver(shardId, [
      ...encodeEnvelopes('src-0', clicks.map((c) => ({ key: c.userId, origin: { shardId: 'src-0', sequenceNumber: String(++seq), subIndex: 0 }, timestampMs: c.ts, value: c }))),
      encodeMarker('src-0', { watermarkMs: Math.max(...clicks.map((c) => c.ts)) - 1 }),
    ]);
  // The watermark function's ticks reach every keyed shard (ExplicitHashKey), delivered at once.
  let tickRecords = 0;
  const writer = {
    openShards: async () => KEYED_SHARDS.map((shardId, i) => ({ shardId, startingHashKey: BigInt(i), endingHashKey: BigInt(i) })),
    put: async (chains: readonly Chain[]) => {
      for (const chain of chains) {
        tickRecords += chain.length;
        await deliver(KEYED_SHARDS[Number(chain[0]!.explicitHashKey)]!, chain.map((e) => Buffer.from(e.data)));
      }
    },
  } as unknown as KinesisWriter;
  let ticks = 0;
  const options = {
    plan: p,
    logs,
    coordination,
    writerFor: () => writer,
    sourceBacklog: allRead, listShards: async (stream: string) => (stream === keyedStream ? KEYED_SHARDS : ['src-0']),
    clock,
    loopForMs: 55_000,
    tickMs: 1_000,
    stopWhenIdle: true,
    sleep: async (ms: number) => void (nowMs += ms),
    onTick: () => void (ticks += 1),
  };
  return {
    logs,
    coordination,
    wakes,
    fromSource,
    options,
    watermarkFunction: createWatermarkHandler(options),
    ticks: () => ticks,
    tickRecords: () => tickRecords,
    advance: (ms: number) => void (nowMs += ms),
    now: () => nowMs,
  };
}

test('while a keyed shard has an active input the watermark function ticks its whole loop; once all are idle it sleeps', async () => {
  const w = world();
  await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
  const started = w.now();
  await w.watermarkFunction();
  // Ticks until its tick finds the input silent for IDLE_AFTER; the shards' logs then ask about its source
  // shard, the next tick says it holds nothing more and the shards say idle in their logs, and the tick after,
  // finding every log idle, puts no tick records and sleeps.
  expect(w.now() - started).toBe(IDLE_AFTER + 2_000);
  expect(w.ticks()).toBe(IDLE_AFTER / 1_000 + 3);
  expect(w.tickRecords()).toBe(2 * (IDLE_AFTER / 1_000 + 2));
  expect((await w.logs.readHead({ stageId: 's1', shardId: KEYED_SHARDS[0]! }))?.idle).toBe(true);
  // It said it sleeps: the first claim wins, later ones find it awake.
  expect(await w.coordination.claimWatermarkWake()).toBe(true);
  expect(await w.coordination.claimWatermarkWake()).toBe(false);
});

test('a job with no data: ticks name the upstream shards, which hold the watermark until silent for idleAfter; then one tick a run', async () => {
  const w = world();
  let started = w.now();
  await w.watermarkFunction();
  expect([w.now() - started, w.ticks()]).toEqual([IDLE_AFTER + 2_000, IDLE_AFTER / 1_000 + 3]);
  // A scheduled run on the idle job: one tick that puts nothing, nothing written, asleep again.
  const [appends, records] = [w.logs.counters.appends, w.tickRecords()];
  w.advance(60_000);
  started = w.now();
  await w.watermarkFunction();
  expect([w.now() - started, w.ticks(), w.logs.counters.appends, w.tickRecords()]).toEqual([0, IDLE_AFTER / 1_000 + 4, appends, records]);
});

test('an idle shard whose log has not moved for the snapshot age gets a tick, and its batch writes the snapshot again before the TTL', async () => {
  const w = world();
  await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
  await w.watermarkFunction(); // ticks until idle, then sleeps
  const before = await w.logs.readHead({ stageId: 's1', shardId: KEYED_SHARDS[0]! });
  // Scheduled runs on the sleeping job tick nothing while the logs are young...
  w.advance(SNAPSHOT_MAX_AGE_MS - 60_000);
  let records = w.tickRecords();
  await w.watermarkFunction();
  expect(w.tickRecords()).toBe(records);
  // ...and tick each shard once its log head is as old as the snapshot age: each writes a snapshot, still idle.
  w.advance(60_000);
  await w.watermarkFunction();
  expect(w.tickRecords()).toBe(records + KEYED_SHARDS.length);
  for (const shardId of KEYED_SHARDS) {
    const [latest] = await w.logs.readLatest({ stageId: 's1', shardId });
    expect(latest).toMatchObject({ kind: 'snapshot', writtenAtMs: w.now(), idle: true });
  }
  expect((await w.logs.readHead({ stageId: 's1', shardId: KEYED_SHARDS[0]! }))!.slot).toBe(before!.slot + 1);
  // Fresh again: the next run ticks nothing, and the function still sleeps.
  records = w.tickRecords();
  w.advance(60_000);
  await w.watermarkFunction();
  expect(w.tickRecords()).toBe(records);
  expect(await w.coordination.claimWatermarkWake()).toBe(true);
});

test('the first batch after idleness wakes a sleeping watermark function once, however many shards wake together', async () => {
  const w = world();
  await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
  expect(w.wakes).toEqual([]); // it never slept: nothing to wake
  await w.watermarkFunction(); // ticks until idle, then sleeps
  w.advance(5_000);
  await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 20_000 }]);
  await w.fromSource(KEYED_SHARDS[1]!, [{ userId: 'b', clicks: 1, ts: 20_000 }]);
  expect(w.wakes).toEqual([`at ${w.now()}`]);
  // Active again: later batches do not try.
  w.advance(1_000);
  await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 21_000 }]);
  expect(w.wakes).toHaveLength(1);
});

test('an input that turns active while the watermark function falls asleep keeps it awake', async () => {
  const w = world();
  await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
  // A stage function commits between the tick that found everything idle and the second look.
  const markAsleep = w.coordination.markWatermarkAsleep.bind(w.coordination);
  let raced = false;
  w.coordination.markWatermarkAsleep = async () => {
    await markAsleep();
    if (raced) return;
    raced = true;
    await w.fromSource(KEYED_SHARDS[1]!, [{ userId: 'b', clicks: 1, ts: 30_000 }]);
  };
  const claim = w.coordination.claimWatermarkWake.bind(w.coordination);
  const claimed: boolean[] = [];
  w.coordination.claimWatermarkWake = async () => {
    const won = await claim();
    claimed.push(won);
    return won;
  };
  const started = w.now();
  await w.watermarkFunction();
  expect(raced).toBe(true);
  // Of the function taking the flag back and the stage claiming the wake, exactly one won; the function
  // ticked on until the raced input was idle in turn.
  expect(claimed.filter(Boolean)).toHaveLength(1);
  expect(w.now() - started).toBeGreaterThan(IDLE_AFTER + 1_000);
});

test('a wake that cannot be sent does not fail the batch, and the next waking batch tries again', async () => {
  const logs = new MemoryLogStore();
  const coordination = new MemoryCoordination();
  const warnings: string[] = [];
  let attempts = 0;
  let seq = 0;
  const stage = createStageHandler({
    plan,
    stageId: 's1',
    states: new ShardStates(logs),
    coordination,
    sinks,
    wakeWatermark: async () => {
      attempts += 1;
      throw new Error('Lambda is down');
    },
    warn: (message) => void warnings.push(message),
  });
  const marker = (shardId: string, from: string) =>
    stage(toKinesisEvent([{ SequenceNumber: String(++seq), PartitionKey: 'p', Data: encodeMarker(from, { watermarkMs: 1000 }), ApproximateArrivalTimestamp: new Date(1_000_000) }], shardId, 'arn:aws:kinesis:us-east-1:000000000000:stream/x'));
  await coordination.markWatermarkAsleep();
  await expect(marker(KEYED_SHARDS[0]!, 'src-0')).resolves.toEqual({ batchItemFailures: [] });
  expect(warnings).toEqual(['could not wake the watermark function']);
  await marker(KEYED_SHARDS[1]!, 'src-0');
  expect(attempts).toBe(2);
});

describe('hand-over: one invocation ticks at a time, and it starts its successor while events flow', () => {
  function deployed(w: ReturnType<typeof world>, successors: string[], name: string, leaseMs = 70_000) {
    return createWatermarkHandler({ ...w.options, handOver: { holder: () => name, leaseMs, invokeSuccessor: async () => void successors.push(name) } });
  }
  /** A keyed shard hearing its input every second of the next minute: it stays active for the whole loop. */
  const keepActive = (w: ReturnType<typeof world>) => {
    const sleep = w.options.sleep;
    let ts = 10_000;
    w.options.sleep = async (ms: number) => {
      await sleep(ms);
      await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: (ts += 1_000) }]);
    };
  };

  test('at the end of a busy loop it frees the lease and starts a successor, which can take it', async () => {
    const w = world();
    keepActive(w);
    const successors: string[] = [];
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
    await deployed(w, successors, 'first')();
    expect(successors).toEqual(['first']);
    expect(await w.coordination.acquireWatermarkLease('second', w.now(), w.now() + 70_000)).toBe(true);
  });

  test('an invocation that finds the lease held returns at once, without ticking or starting anyone', async () => {
    const w = world();
    const successors: string[] = [];
    expect(await w.coordination.acquireWatermarkLease('running', w.now(), w.now() + 70_000)).toBe(true);
    const started = w.now();
    expect(await deployed(w, successors, 'scheduled')()).toEqual([]);
    expect([w.now(), w.ticks(), successors]).toEqual([started, 0, []]);
    // Once the holder's lease has run out (it was killed), the next one takes over.
    w.advance(70_001);
    keepActive(w);
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
    await deployed(w, successors, 'after-expiry')();
    expect(successors).toEqual(['after-expiry']);
  });

  test('a loop that ends asleep starts no successor and frees the lease for the wake', async () => {
    const w = world();
    const successors: string[] = [];
    await deployed(w, successors, 'idle')();
    expect(successors).toEqual([]);
    expect(await w.coordination.claimWatermarkWake()).toBe(true);
    expect(await w.coordination.acquireWatermarkLease('woken', w.now(), w.now() + 70_000)).toBe(true);
  });

  test('a holder whose lease expired mid-loop (another took it) starts no successor: the other goes on', async () => {
    const w = world();
    const successors: string[] = [];
    keepActive(w);
    const sleep = w.options.sleep;
    // Each pause is long: the 10 s lease runs out and another invocation takes it meanwhile.
    w.options.sleep = async (ms: number) => {
      await sleep(ms + 19_000);
      await w.coordination.acquireWatermarkLease('other', w.now(), w.now() + 70_000);
    };
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
    await deployed(w, successors, 'slow', 10_000)();
    expect(successors).toEqual([]);
    expect(await w.coordination.releaseWatermarkLease('other')).toBe(true);
  });
});

describe('processing-time timers keep the watermark function awake and ticking', () => {
  const OFFLINE_AFTER = 30_000;
  /** The device-offline shape: every event moves its key's processing-time timer OFFLINE_AFTER past its arrival. */
  const offline = planJob(
    job('offline')
      .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, idleAfter: '10s', shards: 1 }))
      .keyBy('userId')
      .process({
        state: {},
        onEvent(c, ctx) {
          if (c.clicks > 0) ctx.timers.registerProcessingTime(ctx.processingTime + OFFLINE_AFTER);
        },
        onTimer(at, ctx) {
          ctx.emit({ key: ctx.key, at });
        },
      })
      .sink(dynamoSink('offline-out')),
  );
  const capture = () => {
    const written: { record: Record<string, unknown>; atMs: number }[] = [];
    let now = (): number => 0;
    const writer = { deadLetters: async () => {}, write: async (outputs: readonly { output: { record: Record<string, unknown> } }[]) => void written.push(...outputs.map((o) => ({ record: o.output.record, atMs: now() }))) } as unknown as SinkWriter;
    return { writer, written, clockIs: (clock: () => number) => void (now = clock) };
  };

  test('a shard whose inputs are all idle but whose timer is pending is not asleep: ticked when the timer is due, it fires, and then the function sleeps', async () => {
    const sink = capture();
    const w = world(offline, sink.writer);
    sink.clockIs(w.now);
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 5_000 }]);
    const due = w.now() + OFFLINE_AFTER;
    expect((await w.logs.readHead({ stageId: 's1', shardId: KEYED_SHARDS[0]! }))?.processingTimerMs).toBe(due);
    const started = w.now();
    await w.watermarkFunction();
    // The input went idle after 10 s, but the timer kept the function looping; its tick at the due time fired
    // the timer, and the next tick found every log idle with nothing pending.
    expect(sink.written).toEqual([{ record: { key: 'a', at: due }, atMs: due }]);
    expect(w.now() - started).toBe(OFFLINE_AFTER + 1_000);
    expect(await w.coordination.claimWatermarkWake()).toBe(true);
    // While idle, the shard with the timer was ticked only once its timer was due (the first tick names the
    // upstream shards on both): 2 + the shards with an active input for 10 s and the tick that says its source
    // shard holds nothing more + the one due tick.
    expect(w.tickRecords()).toBe(2 + 2 * (IDLE_AFTER / 1_000 + 1) + 1);
  });

  test('a batch that gives a shard its first processing-time timer claims the wake, though its input was active', async () => {
    const w = world(offline);
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 0, ts: 5_000 }]); // no timer: clicks 0
    // Say the function sleeps now (it decides from the logs; this checks the stage's side alone).
    await w.coordination.markWatermarkAsleep();
    w.advance(1_000);
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 0, ts: 6_000 }]);
    expect(w.wakes).toEqual([]); // an active input, no timer: nothing to wake for
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'a', clicks: 1, ts: 7_000 }]);
    expect(w.wakes).toEqual([`at ${w.now()}`]);
    // A shard that had a timer already was never a reason to sleep: a later timer does not wake again.
    await w.coordination.markWatermarkAsleep();
    await w.fromSource(KEYED_SHARDS[0]!, [{ userId: 'b', clicks: 1, ts: 8_000 }]);
    expect(w.wakes).toHaveLength(1);
  });
});
