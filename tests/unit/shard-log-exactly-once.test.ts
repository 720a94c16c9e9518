/**
 * The shard log's exactly-once argument, as properties on the memory store (tests/state/shard-log-properties.ts;
 * tests/integration/shard-log-dynamo.test.ts runs them on DynamoDB), and the catch-up that keeps a batch off a
 * stale cache.
 */
import fc from 'fast-check';
import { dynamoSink, job, kinesisSource, planJob, tumbling, valueState } from 'shardflow';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { seededRandom } from '../../lib/local/demo';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { applyRecords, describeShardLogProperties, LOG, recordsOf, reference } from '../state/shard-log-properties';

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

  const LOG_SHARD = 'down-0';
  const stateOf = async (store: MemoryLogStore): Promise<Record<string, unknown>> => {
    const s = await new ShardStates(store).current({ stageId: stage.stateId, shardId: LOG_SHARD });
    return { watermarkMs: s.watermarkMs, processingTimeMs: s.processingTimeMs, keys: Object.fromEntries([...s.keys()].map((k) => [k, s.get(k)])) };
  };

  async function inOrder(inputs: readonly ShuffleInput[]): Promise<{ outputs: Map<string, string>; state: Record<string, unknown> }> {
    const store = new MemoryLogStore();
    const executor = new StageExecutor(plan, stage, new ShardStates(store));
    const outputs = new Map<string, string>();
    for (const input of inputs) {
      const p = await executor.run({ kind: 'shuffled', shardId: LOG_SHARD, inputs: [input] });
      for (const o of p.result.outputs) outputs.set(o.output.id, JSON.stringify(o.output.record));
      await p.commit();
    }
    return { outputs, state: await stateOf(store) };
  }

  test('any interleaving of batches, retries, bisects, crashes, zombies and a pool of containers gives the in-order run\'s outputs and state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
        const random = seededRandom(seed * 31 + 7);
        const inputs = inputsOf(seed, 20 + Math.floor(random() * 30));
        const expected = await inOrder(inputs);
        const store = new MemoryLogStore();
        const pool = [0, 1, 2].map(() => new StageExecutor(plan, stage, new ShardStates(store)));
        const delivered = new Map<string, Set<string>>();
        const deliver = (outputs: readonly { output: { id: string; record: object } }[]): void => {
          for (const { output } of outputs) {
            let seen = delivered.get(output.id);
            if (!seen) delivered.set(output.id, (seen = new Set()));
            seen.add(JSON.stringify(output.record));
          }
        };
        let checkpoint = 0;
        let pending: ShuffleInput[] | undefined;
        const zombies: { executor: StageExecutor; batch: ShuffleInput[] }[] = [];
        while (checkpoint < inputs.length) {
          const batch = pending ?? inputs.slice(checkpoint, checkpoint + 1 + Math.floor(random() * 6));
          const i = Math.floor(random() * pool.length);
          const executor = pool[i]!;
          const roll = random();
          if (roll < 0.08) zombies.push({ executor: new StageExecutor(plan, stage, new ShardStates(store)), batch });
          let ok = roll >= 0.2;
          for (let lost = 0; ok; lost++) {
            const p = await executor.run({ kind: 'shuffled', shardId: LOG_SHARD, inputs: batch });
            if (roll >= 0.2 && roll < 0.26) {
              // Crash after delivering, before the append: the container is gone.
              deliver(p.result.outputs);
              pool[i] = new StageExecutor(plan, stage, new ShardStates(store));
              ok = false;
              break;
            }
            deliver(p.result.outputs);
            if ((await p.commit()) !== 'lost') break;
            if (lost > 5) throw new Error('kept losing its slot');
          }
          if (roll < 0.2 && roll >= 0.08) pool[i] = new StageExecutor(plan, stage, new ShardStates(store)); // crashed before delivering
          if (ok) {
            checkpoint += batch.length;
            pending = undefined;
          } else pending = batch.length > 1 && random() < 0.5 ? batch.slice(0, Math.ceil(batch.length / 2)) : batch;
          // A zombie wakes now and then and finishes its batch, late.
          if (zombies.length > 0 && random() < 0.3) {
            const z = zombies.shift()!;
            for (let lost = 0; ; lost++) {
              const p = await z.executor.run({ kind: 'shuffled', shardId: LOG_SHARD, inputs: z.batch });
              deliver(p.result.outputs);
              if ((await p.commit()) !== 'lost' || lost > 5) break;
            }
          }
        }
        expect(await stateOf(store)).toEqual(expected.state);
        expect([...expected.outputs.keys()].filter((id) => !delivered.has(id))).toEqual([]);
        for (const [id, contents] of delivered) expect([id, [...contents]]).toEqual([id, [expected.outputs.get(id)]]);
      }),
      { numRuns: 150 },
    );
  });
});
