/**
 * The container faults of chaos runs (lib/io/container-faults.ts) on a real shard log in memory: a lost
 * cache makes the batch load the log, a stale one makes it catch up first, and a zombie appends after its
 * retry and loses its slot — each recorded with what it did, and none changing what the batches compute.
 * The fault draw is the one thing replaced here (the chaos runs draw it from their seed).
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { ContainerFaults } from '../../lib/io/container-faults';
import type { ContainerFault } from '../../lib/io/fault-points';
import type { Output } from '../../lib/runtime/records';
import { StageExecutor, type PreparedBatch, type StageBatch } from '../../lib/runtime/stage-executor';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';

/** The container faults the next draws give, in order, and what was mockRecorded. */
const mockDraws: (ContainerFault | undefined)[] = [];
const mockRecorded: { kind: string; effect?: string }[] = [];
/** Zombies holding their process's kills off (fault-points.ts spares such a process until they have appended). */
const mockKillsHeld = { count: 0 };
jest.mock('../../lib/io/fault-points', () => ({
  containerFault: () => mockDraws.shift(),
  holdKillsForZombie: () => {
    mockKillsHeld.count += 1;
    return () => void (mockKillsHeld.count -= 1);
  },
  recordFault: (kind: string, _salt: string, effect?: string) => mockRecorded.push({ kind, ...(effect !== undefined && { effect }) }),
}));

type Click = { userId: string; clicks: number; ts: number };
const plan = planJob(
  job('container-faults')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, shards: 1 }))
    .keyBy((c) => c.userId)
    .window(tumbling('1s'))
    .sum('clicks')
    .sink(dynamoSink('out')),
);
const stage = plan.stages[1]!;
const SHARD = 'down-0';

/** Batch n: two clicks of one user at n seconds, then a marker that fires the window before. */
const batch = (n: number): StageBatch => ({
  kind: 'shuffled',
  shardId: SHARD,
  inputs: [
    {
      kind: 'envelope',
      sequenceNumber: String(2 * n),
      from: 'up-0',
      arrivalMs: n,
      elements: [0, 1].map((i) => ({ key: 'a', origin: { shardId: 'up-0', sequenceNumber: String(10 * n + i), subIndex: 0 }, timestampMs: n * 1000 + i, value: { userId: 'a', clicks: n + i, ts: n * 1000 + i } })),
    },
    { kind: 'marker', sequenceNumber: String(2 * n + 1), from: 'up-0', arrivalMs: n, watermarkMs: n * 1000 - 1 },
  ],
});

/** Deliver, commit, and on a lost slot run again, as the stage handler does. */
async function runToCommit(on: StageExecutor, b: StageBatch, delivered: Output[], ran?: PreparedBatch): Promise<{ lostSlots: number; committed: 'appended' | 'unchanged' }> {
  for (let lostSlots = 0, p = ran ?? (await on.run(b)); ; lostSlots++, p = await on.run(b)) {
    delivered.push(...p.result.outputs.map((o) => o.output));
    const committed = await p.commit();
    if (committed !== 'lost') return { lostSlots, committed };
  }
}

/** The outputs of batches 1..n run once each, in order, on one container. */
async function inOrder(n: number): Promise<string[]> {
  const executor = new StageExecutor(plan, stage, new ShardStates(new MemoryLogStore()));
  const delivered: Output[] = [];
  for (let i = 1; i <= n; i++) await runToCommit(executor, batch(i), delivered);
  return delivered.map((o) => JSON.stringify(o));
}

describe('container faults', () => {
  let states: ShardStates;
  let own: StageExecutor;
  let faults: ContainerFaults;
  beforeEach(() => {
    mockDraws.length = 0;
    mockRecorded.length = 0;
    states = new ShardStates(new MemoryLogStore());
    own = new StageExecutor(plan, stage, states);
    faults = new ContainerFaults(own, states, (s) => new StageExecutor(plan, stage, s));
  });

  /** Runs batches 1..n, each on the executor its draw picks. */
  async function runBatches(n: number): Promise<Output[]> {
    const delivered: Output[] = [];
    for (let i = 1; i <= n; i++) {
      const on = await faults.before(batch(i), `batch-${i}`);
      if (on === 'zombie') throw new Error('no zombie drawn here');
      await runToCommit(on, batch(i), delivered);
    }
    return delivered;
  }

  test('a lost cache: the batch loads the log and computes what a warm container would', async () => {
    mockDraws.push(undefined, undefined, 'cache-lost');
    const delivered = await runBatches(3);
    expect(mockRecorded).toEqual([{ kind: 'cache-lost', effect: 'dropped' }]);
    expect(states.counters.loads).toBe(2); // the first batch, and the third after the loss
    expect(delivered.map((o) => JSON.stringify(o))).toEqual(await inOrder(3));
  });

  test('a stale cache: the other container catches up on the entries it missed before it computes', async () => {
    mockDraws.push('cache-stale', undefined, undefined, 'cache-stale');
    const delivered = await runBatches(4);
    // Batch 1 found the other container cold; batch 4 found it two entries behind (batches 2 and 3).
    expect(mockRecorded).toEqual([
      { kind: 'cache-stale', effect: 'cold' },
      { kind: 'cache-stale', effect: 'behind 2' },
    ]);
    expect(delivered.map((o) => JSON.stringify(o))).toEqual(await inOrder(4));
  });

  test('a zombie is drawn only for a batch with records: one of markers alone runs as usual', async () => {
    mockDraws.push('zombie');
    const markerOnly: StageBatch = { kind: 'shuffled', shardId: SHARD, inputs: [{ kind: 'marker', sequenceNumber: '1', from: 'up-0', arrivalMs: 1, watermarkMs: 5 }] };
    expect(await faults.before(markerOnly, 'markers')).toBe(own);
    expect(mockRecorded).toEqual([]);
  });

  test('a zombie: it appends after its retry, loses the slot, and what it delivers late is what the retry delivered', async () => {
    mockDraws.push('zombie', undefined);
    const delivered: Output[] = [];
    await runToCommit(own, batch(1), delivered);
    const zombieDelivered: Output[] = [];
    expect(await faults.before(batch(2), 'batch-2')).toBe('zombie');
    const error = await faults.zombie(batch(2), 'batch-2', (z, ran) => runToCommit(z, batch(2), zombieDelivered, ran));
    expect(error.message).toMatch(/turned zombie .* Lambda retries the batch/);
    // Nothing of the zombie's is out before its retry has appended, and its process is spared kills meanwhile.
    expect(zombieDelivered).toEqual([]);
    expect(mockKillsHeld.count).toBe(1);
    // Lambda's retry of batch 2.
    const retry = await faults.before(batch(2), 'batch-2');
    if (retry === 'zombie') throw new Error('the retry drew a zombie');
    await runToCommit(retry, batch(2), delivered);
    const until = Date.now() + 10_000;
    while (!mockRecorded.some((r) => r.kind === 'zombie-append')) {
      if (Date.now() > until) throw new Error(`the zombie did not append within 10 s: ${JSON.stringify(mockRecorded)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(mockRecorded.map((r) => [r.kind, r.effect?.replace(/ after \d+ ms$/, '')])).toEqual([
      ['zombie', 'ran on slot 1'],
      ['zombie-append', 'lost'],
    ]);
    await new Promise((r) => setImmediate(r));
    expect(mockKillsHeld.count).toBe(0);
    // The zombie's late delivery: batch 2's outputs again, the same ids and contents.
    const batch2 = delivered.slice((await inOrder(1)).length).map((o) => JSON.stringify(o));
    expect(batch2.length).toBeGreaterThan(0);
    expect(zombieDelivered.map((o) => JSON.stringify(o))).toEqual(batch2);
    expect(delivered.map((o) => JSON.stringify(o))).toEqual(await inOrder(2));
  });
});
