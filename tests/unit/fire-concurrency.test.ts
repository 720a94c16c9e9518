import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { forEachConcurrently } from '../../lib/runtime/concurrently';
import { StageExecutor, type FiredOutputs } from '../../lib/runtime/stage-executor';
import { MemoryBackend } from '../../lib/state/memory/memory-backend';

type Click = { userId: string; clicks: number; ts: number };

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('forEachConcurrently', () => {
  test('never runs more than the limit at once, and runs every item', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachConcurrently([...Array(20).keys()], 4, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await tick();
      done.push(n);
      running -= 1;
    });
    expect(peak).toBe(4);
    expect(done.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  test('after a failure starts nothing new, lets the items in flight finish, then throws the first error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachConcurrently([...Array(10).keys()], 3, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('item 1 failed');
      await tick();
      await tick();
      finished.push(n);
    });
    await expect(run).rejects.toThrow('item 1 failed');
    // 0, 1 and 2 start together; 1 fails at once, so its lane takes nothing more and 0 and 2 finish.
    expect(started).toEqual([0, 1, 2]);
    expect(finished.sort()).toEqual([0, 2]);
  });
});

describe('StageExecutor.fireDue', () => {
  const plan = planJob(
    job('fire-order')
      .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0 }))
      .keyBy((c) => c.userId)
      .window(tumbling('1s'))
      .sum('clicks')
      .sink(dynamoSink('out')),
  );

  let backend: MemoryBackend;

  async function stageWith(keys: number, windowsPerKey: number): Promise<StageExecutor> {
    backend = new MemoryBackend();
    const s0 = new StageExecutor(plan, plan.stages[0]!, new MemoryBackend());
    const s1 = new StageExecutor(plan, plan.stages[1]!, backend);
    const records = [];
    for (let w = 0; w < windowsPerKey; w++) for (let k = 0; k < keys; k++) records.push({ shardId: 'shard-0', sequenceNumber: String(records.length + 1), data: JSON.stringify({ userId: `u${k}`, clicks: 1, ts: w * 1000 + 10 }) });
    const r0 = await s0.runBatch({ kind: 'source', shardId: 'shard-0', nowMs: 0, records });
    const r1 = await s1.runBatch({ kind: 'shuffled', shardId: 'x0', nowMs: 0, elements: r0.shuffled, heard: [{ upstreamShard: 'shard-0', watermarkMs: 0 }] });
    await s1.commit(r1);
    return s1;
  }

  test('fires keys side by side, up to the limit, while each key fires its windows in event-time order', async () => {
    const s1 = await stageWith(6, 3);
    let inFlight = 0;
    let peak = 0;
    const order = new Map<string, number[]>();
    const { fired } = await s1.fireDue(
      10_000,
      async (f: FiredOutputs) => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await tick();
        for (const o of f.outputs) {
          const r = o.output.record as { key: string; windowStart: number };
          order.set(r.key, [...(order.get(r.key) ?? []), r.windowStart]);
        }
        inFlight -= 1;
      },
      500,
      4,
    );
    expect(fired).toBe(18);
    expect(peak).toBe(4);
    expect([...order.keys()].sort()).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5']);
    for (const starts of order.values()) expect(starts).toEqual([0, 1000, 2000]);
  });

  test('a delivery that fails fails the tick, and leaves the stage watermark where it was', async () => {
    const s1 = await stageWith(5, 1);
    const before = await backend.readStageWatermark('s1');
    await expect(
      s1.fireDue(10_000, async (f) => {
        if ((f.outputs[0]?.output.record as { key: string }).key === 'u2') throw new Error('sink down');
      }),
    ).rejects.toThrow('sink down');
    expect(await backend.readStageWatermark('s1')).toBe(before);
    // Nothing recorded as fired past the failure: the next tick fires what is left, u2 included.
    const fired: string[] = [];
    await s1.fireDue(10_000, async (f) => {
      for (const o of f.outputs) fired.push((o.output.record as { key: string }).key);
    });
    expect(fired).toContain('u2');
    expect(await backend.readStageWatermark('s1')).toBe(10_000);
  });
});
