/**
 * A job with two keyed stages on the real emulators: records really put on the source stream, the first
 * keyed stage's results really shuffled through its own stream to the second, state in DynamoDB. A batch of
 * the first keyed stage that delivers its envelopes and dies before its log entry, and one replayed whole or
 * in halves, change nothing downstream.
 */
import type { KinesisStreamEvent } from '../../lib/io/kinesis-event';
import { KinesisWriter } from '../../lib/io/kinesis-writer';
import { createStageHandler } from '../../lib/io/stage-handler';
import { ShardStates } from '../../lib/state/shard-states';
import type { ShardLogStore } from '../../lib/state/shard-log';
import { usersPerSecond, type Click } from '../fixtures/users-per-second';
import { pipelinesOnEmulators, type Pipeline } from './pipeline';

jest.setTimeout(120_000);

const pipeline = pipelinesOnEmulators();

const T0 = 1_700_000_000_000;

/** Seeded clicks over 8 users, event time moving forward with disorder under the bound; then one far ahead per user, to close every window. */
function clicks(n: number): Click[] {
  let s = 11;
  const random = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const users = Array.from({ length: 8 }, (_, i) => `u${i}`);
  const events = Array.from({ length: n }, (_, i) => ({ userId: users[Math.floor(random() * users.length)]!, clicks: 1 + Math.floor(random() * 4), ts: T0 + i * 40 - Math.floor(random() * 900) }));
  return [...events, ...users.map((userId) => ({ userId, clicks: 0, ts: T0 + n * 40 + 60_000 }))];
}

/** The answer computed directly, without the flush clicks' window. */
function expected(events: readonly Click[]): Record<string, unknown>[] {
  const perUser = new Map<string, number>();
  for (const e of events) perUser.set(`${e.userId}/${Math.floor(e.ts / 1000) * 1000}`, (perUser.get(`${e.userId}/${Math.floor(e.ts / 1000) * 1000}`) ?? 0) + e.clicks);
  const seconds = new Map<number, { users: number; clicks: number }>();
  for (const [id, n] of perUser) {
    const second = Number(id.split('/')[1]);
    const t = seconds.get(second) ?? { users: 0, clicks: 0 };
    seconds.set(second, { users: t.users + 1, clicks: t.clicks + n });
  }
  const last = Math.max(...seconds.keys());
  return [...seconds]
    .filter(([second]) => second !== last)
    .map(([second, t]) => ({ key: String(second), windowStart: second, windowEnd: second + 1000, ...t }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** Runs one stage on everything waiting on its stream. */
async function drain(p: Pipeline, stageId: string): Promise<void> {
  for (const shardId of await p.shards(stageId)) {
    for (;;) {
      const { event, records } = await p.nextBatch(stageId, shardId);
      if (records.length === 0) break;
      await p.invoke(stageId, event);
      p.checkpoint(stageId, shardId, records);
    }
  }
}

const halves = (e: KinesisStreamEvent): [KinesisStreamEvent, KinesisStreamEvent] => {
  const mid = Math.ceil(e.Records.length / 2);
  return [{ Records: e.Records.slice(0, mid) }, { Records: e.Records.slice(mid) }];
};

test('two keyed stages: the second aggregates what the first fired, exactly once, through a retry that already sent its envelopes, replays and lost caches', async () => {
  const p = await pipeline(usersPerSecond('it-chain', { stream: 'it-chain-clicks', outOfOrderness: '1s', shards: 2 }), 60).create();
  const events = clicks(400);
  await p.put(events, (e) => (e as Click).userId);
  await drain(p, 's0');

  // A batch of the first keyed stage's first shard dies after sending its envelopes and markers, before its
  // log entry (the append fails): Lambda retries it, and the second stage hears all of it twice.
  const failingLogs: ShardLogStore = Object.assign(Object.create(p.logs) as ShardLogStore, { append: async () => Promise.reject(new Error('crashed before the log entry')) });
  const dying = createStageHandler({ plan: p.plan, stageId: 's1', states: new ShardStates(failingLogs), coordination: p.coordination, sinks: p.sinks, shuffleWriters: new Map([['it-chain-s2', new KinesisWriter(p.kinesis, 'it-chain-s2')]]) });
  const [firstShard, secondShard] = await p.shards('s1');
  const { event: firstBatch } = await p.nextBatch('s1', firstShard!);
  expect(firstBatch.Records.length).toBeGreaterThan(1);
  await expect(dying(firstBatch)).rejects.toThrow('crashed before the log entry');
  // The second stage applies its elements and waits (the other shard of the first stage has not spoken)…
  await drain(p, 's2');
  const open = Object.values(await p.keyedState('s2')) as { keys: Record<string, unknown> }[];
  expect(open.reduce((n, shard) => n + Object.keys(shard.keys).length, 0)).toBeGreaterThan(10);
  p.loseCaches();
  await p.pump(); // …the retry sends them again, the other shard speaks, and the windows fire
  const results = await p.results('it-chain-out');
  expect(results).toEqual(expected(events));
  expect(results.length).toBeGreaterThan(10);

  // Replays of the first keyed stage's first batches, whole and bisected, change nothing anywhere.
  const before = [await p.keyedState('s1'), await p.keyedState('s2')];
  for (const event of [firstBatch, (await p.nextBatch('s1', secondShard!, { after: undefined })).event]) {
    await p.invoke('s1', event);
    for (const half of halves(event)) await p.invoke('s1', half);
  }
  await p.pump();
  expect([await p.keyedState('s1'), await p.keyedState('s2')]).toEqual(before);
  expect(await p.results('it-chain-out')).toEqual(results);
});
