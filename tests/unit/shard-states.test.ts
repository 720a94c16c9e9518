/**
 * The keyed shard's state in memory and in its log: deltas carry only what a batch changed, snapshots
 * bound catch-up, a container's cache is bounded by bytes, and a shard that outgrows its limit fails
 * loudly before anything is delivered.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardState } from '../../lib/state/shard-state';
import { SNAPSHOT_MAX_AGE_MS, ShardStates, ShardStateTooLargeError } from '../../lib/state/shard-states';

const log = (shardId = 'shardId-000000000000') => ({ stageId: 's1', shardId });

/** Sets `count` keys of about `bytes` each. */
function fill(state: ShardState, count: number, bytes = 20, from = 0): void {
  for (let i = from; i < from + count; i++) state.put(`user-${i}`, { sum: i, pad: 'x'.repeat(bytes) });
}

describe('ShardState', () => {
  test('a delta carries only the keys, marks and inputs the batch changed; applying it reproduces them', () => {
    const state = new ShardState();
    fill(state, 1000);
    state.setMark('u0', { sequenceNumber: '49590000000000000001', subIndex: 0 });
    state.setInput('u0', { watermarkMs: 5_000, heardAtMs: 9_000, idle: false });
    state.setWatermark(4_999);
    const first = state.takeSnapshot();
    (state.forUpdate('user-7') as { sum: number }).sum = 70;
    state.put('user-8', undefined);
    state.setMark('u1', { sequenceNumber: '49590000000000000009', subIndex: 2 });
    const delta = state.takeDelta()!;
    expect(delta.byteLength).toBeLessThan(first.byteLength / 20);
    expect(state.takeDelta()).toBeUndefined(); // nothing changed since

    const copy = new ShardState();
    copy.apply('snapshot', 1, first);
    copy.apply('delta', 2, delta);
    expect(copy.slot).toBe(2);
    expect(copy.get('user-7')).toEqual({ sum: 70, pad: 'x'.repeat(20) });
    expect(copy.get('user-8')).toBeUndefined();
    expect(copy.keyCount).toBe(999);
    expect(copy.mark('u1')).toEqual({ sequenceNumber: '49590000000000000009', subIndex: 2 });
    expect(copy.input('u0')).toEqual({ watermarkMs: 5_000, heardAtMs: 9_000, idle: false });
    expect(copy.watermarkMs).toBe(4_999);
    expect(copy.bytes).toBe(state.bytes);
  });
});

describe('ShardStates', () => {
  test('snapshots bound catch-up: a cold container reads the latest snapshot and the few deltas after it', async () => {
    const store = new MemoryLogStore();
    const writer = new ShardStates(store, { snapshotAfterDeltaRatio: 1 });
    for (let batch = 0; batch < 60; batch++) {
      const state = await writer.current(log());
      fill(state, 50, 20, (batch * 50) % 500); // 500 keys, 50 rewritten a batch
      expect(await writer.commit(log(), state, writer.prepare(log(), state))).toBe('appended');
    }
    expect(writer.counters.snapshots).toBeGreaterThan(2);
    const cold = new ShardStates(store);
    const state = await cold.current(log());
    expect(state.slot).toBe(60);
    expect(state.keyCount).toBe(500);
    // The latest snapshot, and deltas at most as heavy as it (ratio 1).
    const snapshotBytes = (await store.readLatest(log()))[0]!.body.byteLength;
    expect(cold.counters.bytesRead).toBeLessThanOrEqual(2 * snapshotBytes + 1024);
    expect(cold.counters.entriesRead).toBeLessThan(60);
  });

  test('an unchanged batch appends nothing', async () => {
    const states = new ShardStates(new MemoryLogStore());
    const state = await states.current(log());
    expect(await states.commit(log(), state, states.prepare(log(), state))).toBe('unchanged');
    expect(state.slot).toBe(0);
  });

  test('an unchanged batch on a shard whose snapshot is old writes the snapshot again, so the state outlives the log TTL', async () => {
    let nowMs = 1_000_000;
    const store = new MemoryLogStore();
    const states = new ShardStates(store, { clock: () => nowMs });
    const state = await states.current(log());
    fill(state, 10, 1);
    expect(await states.commit(log(), state, states.prepare(log(), state))).toBe('appended');
    nowMs += SNAPSHOT_MAX_AGE_MS - 1;
    expect(states.prepare(log(), await states.current(log()))).toBeUndefined();
    nowMs += 1;
    const entry = states.prepare(log(), await states.current(log()));
    expect(entry).toMatchObject({ slot: 2, kind: 'snapshot', writtenAtMs: nowMs });
    // A pending processing-time timer stays on the head, or the watermark function would sleep through it.
    expect(states.prepare(log(), await states.current(log()), nowMs + 86_400_000)).toMatchObject({ kind: 'snapshot', processingTimerMs: nowMs + 86_400_000 });
    expect(await states.commit(log(), state, entry)).toBe('appended');
    // A cold container starts from it alone, with every key.
    const cold = new ShardStates(store);
    expect((await cold.current(log())).keyCount).toBe(10);
    expect(cold.counters.entriesRead).toBe(1);
  });

  test('a shard past its limit fails with the stage, the shard, the size and what to do, and appends nothing', async () => {
    const store = new MemoryLogStore();
    const states = new ShardStates(store, { maxShardBytes: 10_000 });
    const state = await states.current(log());
    fill(state, 1000);
    expect(() => states.prepare(log(), state)).toThrow(ShardStateTooLargeError);
    const reloaded = await states.current(log());
    expect(reloaded.keyCount).toBe(0); // the half-changed state was dropped, not kept
    const error = new ShardStateTooLargeError(log(), 2 * 1_048_576, 1_048_576);
    expect(error.message).toMatch(/^keyed state of stage s1, shard shardId-000000000000 is 2\.0 MiB as JSON, over the 1\.0 MiB one shard may hold: give the stage more shards/);
    expect(store.counters.appends).toBe(0);
  });

  test("a container's cache keeps the most recently used shards within its bytes; an evicted one reloads", async () => {
    const store = new MemoryLogStore();
    const states = new ShardStates(store, { maxCachedBytes: 3_000 });
    for (const shard of ['a', 'b', 'c']) {
      const state = await states.current(log(shard));
      fill(state, 30); // ~1,000 bytes each
      await states.commit(log(shard), state, states.prepare(log(shard), state));
    }
    expect(states.cachedBytes().map((c) => c.shard)).toEqual(['s1#b', 's1#c']);
    const a = await states.current(log('a'));
    expect([a.keyCount, states.counters.loads]).toEqual([30, 4]);
  });
});

describe('a keyed shard on a pool of containers', () => {
  test('windows a container learned of by catching up fire there too (found by npm run chaos, tumbling seed 1008)', async () => {
    // Lambda sends a shard's batches to any warm container. Container A caches the shard; container B
    // applies a batch with new windows; A catches up and gets the marker that makes them due: they must fire.
    type Click = { userId: string; clicks: number; ts: number };
    const plan = planJob(job('pool').source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0 })).keyBy((c) => c.userId).window(tumbling('1s')).sum('clicks').sink(dynamoSink('out')));
    const store = new MemoryLogStore();
    const containers = [new StageExecutor(plan, plan.stages[1]!, new ShardStates(store)), new StageExecutor(plan, plan.stages[1]!, new ShardStates(store))];
    const element = (seq: number, userId: string, ts: number) => ({ key: userId, origin: { shardId: 'up', sequenceNumber: String(seq), subIndex: 0 }, timestampMs: ts, value: { userId, clicks: seq, ts } });
    const run = async (container: number, inputs: ShuffleInput[]) => {
      const prepared = await containers[container]!.run({ kind: 'shuffled', shardId: 'down-0', inputs });
      expect(await prepared.commit()).not.toBe('lost');
      return prepared.result.outputs.map((o) => o.output.record);
    };
    expect(await run(0, [{ kind: 'envelope', sequenceNumber: '1', from: 'up', arrivalMs: 1, elements: [element(1, 'a', 100)] }])).toEqual([]);
    expect(await run(1, [{ kind: 'envelope', sequenceNumber: '2', from: 'up', arrivalMs: 2, elements: [element(2, 'b', 200), element(3, 'a', 300)] }])).toEqual([]);
    expect(await run(0, [{ kind: 'marker', sequenceNumber: '3', from: 'up', arrivalMs: 3, watermarkMs: 2000 }])).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 1000, clicks: 4 },
      { key: 'b', windowStart: 0, windowEnd: 1000, clicks: 2 },
    ]);
  });
});
