/**
 * The shard log's exactly-once argument, as properties on the memory store (tests/state/shard-log-properties.ts;
 * tests/integration/shard-log-dynamo.test.ts runs them on DynamoDB), and the catch-up that keeps a batch off a
 * stale cache.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling, valueState } from 'shardflow';
import type { ShuffleInput } from '../../lib/runtime/stage-executor';
import { seededRandom } from '../../lib/local/demo';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { applyRecords, checkStageUnderFaults, describeShardLogProperties, LOG, recordsOf, reference } from '../state/shard-log-properties';

describeShardLogProperties({ name: 'memory', store: () => new MemoryLogStore(), values: 'integers', runs: { log: 300, stage: 150 } });
describeShardLogProperties({ name: 'memory', store: () => new MemoryLogStore(), values: 'decimals', runs: { log: 100, stage: 50 } });

describe('a stale cache', () => {
  test('a batch never runs on a stale cache: a container that missed entries catches up before it computes', async () => {
    const store = new MemoryLogStore();
    const a = new ShardStates(store);
    const b = new ShardStates(store);
    const records = recordsOf(3, 6);
    const sa = await a.current(LOG);
    applyRecords(sa, records.slice(0, 3));
    expect(await a.commit(LOG, sa, a.prepare(LOG, sa))).toBe('appended');
    const sb = await b.current(LOG); // b has never seen the shard: loads slot 1
    expect(applyRecords(sb, records.slice(3))).toEqual([...reference(records).outputs].slice(3));
    expect(await b.commit(LOG, sb, b.prepare(LOG, sb))).toBe('appended');
    const again = await a.current(LOG); // a's cache is at slot 1: it reads slot 2 before anything runs
    expect(again.slot).toBe(2);
    expect(a.counters).toMatchObject({ caughtUp: 1, loads: 1 });
  });
});

describe.each([
  ['a windowed operator', 'windows'],
  ['processing-time timers', 'timers'],
  ['processing-time windows', 'ptime-windows'],
] as const)('a keyed stage on the shard log, with %s, under the same faults', (_name, shape) => {
  // The same delivery model, with the real stage executor: elements, markers moving the watermark, ticks and
  // late records, arrival times that sometimes go back (Kinesis' are approximate), so that firing by either
  // clock and the due indexes are part of what must come out the same.
  type Click = { userId: string; clicks: number; ts: number };
  const keyed = job(`pool-${shape}`)
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, shards: 2 }))
    .keyBy((c) => c.userId);
  const plan = planJob(
    shape === 'windows'
      ? keyed.window(tumbling('1s')).allowedLateness('500ms').sum('clicks').sink(dynamoSink('out'))
      : shape === 'ptime-windows'
        ? keyed.window(tumbling('300ms', { time: 'processing' })).sum('clicks').sink(dynamoSink('out'))
        : keyed
            .process({
              state: { seen: valueState(0) },
              onEvent(c, ctx) {
                ctx.state.seen.update(ctx.state.seen.value() + c.clicks);
                if (c.clicks % 4 === 0) ctx.timers.deleteProcessingTime(ctx.processingTime + 100);
                else ctx.timers.registerProcessingTime(ctx.processingTime + (c.clicks % 3) * 100);
              },
              onTimer(at, ctx) {
                ctx.emit({ at, now: ctx.processingTime, seen: ctx.state.seen.value() });
                if (ctx.state.seen.value() % 5 === 0) ctx.timers.registerProcessingTime(at + 70);
              },
            })
            .sink(dynamoSink('out')),
  );
  const stage = plan.stages[1]!;

  /**
   * Two upstream shards' envelopes and markers, interleaved, and ticks; event time moves on with some
   * disorder, arrival time by 0–99 ms a record, now and then stamped earlier than the one before.
   */
  function inputsOf(seed: number, n: number): ShuffleInput[] {
    const random = seededRandom(seed);
    const seq = { u0: 0, u1: 0 };
    const clock = { u0: 0, u1: 0 };
    let arrival = 0;
    return Array.from({ length: n }, (_, i): ShuffleInput => {
      const from = random() < 0.5 ? 'u0' : 'u1';
      clock[from] += Math.floor(random() * 300);
      arrival += Math.floor(random() * 100);
      const arrivalMs = random() < 0.1 ? arrival - 150 : arrival;
      if (random() < 0.15) return { kind: 'tick', sequenceNumber: String(i + 1), arrivalMs, upstream: ['u0', 'u1'] };
      if (random() < 0.3) return { kind: 'marker', sequenceNumber: String(i + 1), from, arrivalMs, watermarkMs: clock[from] - 400 };
      const elements = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
        seq[from] += 1;
        const ts = clock[from] - Math.floor(random() * 900);
        return { key: `k${Math.floor(random() * 4)}`, origin: { shardId: from, sequenceNumber: String(seq[from]), subIndex: 0 }, timestampMs: ts, value: { userId: 'x', clicks: seq[from], ts } };
      });
      return { kind: 'envelope', sequenceNumber: String(i + 1), from, arrivalMs, elements };
    });
  }

  test('any interleaving of batches, retries, bisects, crashes, zombies and a pool of containers gives the in-order run\'s outputs and state', async () => {
    await checkStageUnderFaults({ plan, stage }, { inputsOf, store: () => new MemoryLogStore(), runs: 150 });
  });
});
