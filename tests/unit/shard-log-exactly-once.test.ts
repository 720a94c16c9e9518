/**
 * The shard log's exactly-once argument, as properties on the memory store (tests/state/shard-log-properties.ts;
 * tests/integration/shard-log-dynamo.test.ts runs them on DynamoDB), and the catch-up that keeps a batch off a
 * stale cache.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling, valueState } from 'shardflow';
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

// The windowed operator runs in the properties above; these stages fire by the processing-time clock too.
describe.each([
  ['processing-time timers', 'timers'],
  ['processing-time windows', 'ptime-windows'],
] as const)('a keyed stage on the shard log, with %s, under the same faults', (_name, shape) => {
  type Click = { userId: string; clicks: number; ts: number };
  const keyed = job(`pool-${shape}`)
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, shards: 2 }))
    .keyBy((c) => c.userId);
  const plan = planJob(
    shape === 'ptime-windows'
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

  test('any interleaving of batches, retries, bisects, crashes, zombies and a pool of containers gives the in-order run\'s outputs and state', async () => {
    await checkStageUnderFaults({ plan, stage }, { store: () => new MemoryLogStore(), runs: 150 });
  });
});
