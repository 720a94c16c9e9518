/**
 * One conformance suite for every ShardLogStore: what the state layer relies on (one winner per slot,
 * entries read back whole and in order, catch-up from the latest snapshot) must hold in memory exactly
 * as in DynamoDB, or tests on the memory store would prove nothing about the deployed one.
 */
import type { LogEntry, LogId, ShardLogStore } from '../../lib/state/shard-log';

let logs = 0;
/** A log of its own for each test, so tests share nothing but the store. */
const freshLog = (): LogId => ({ stageId: 's1', shardId: `shardId-${String(logs++).padStart(12, '0')}` });

const entry = (slot: number, text: string, kind: LogEntry['kind'] = 'delta'): LogEntry => ({ slot, kind, body: Buffer.from(text), writtenAtMs: 1_700_000_000_000 + slot });
const texts = (entries: readonly LogEntry[]): string[] => entries.map((e) => `${e.slot}:${e.kind}:${Buffer.from(e.body).toString()}`);
/** A body of `bytes` bytes, different for each seed. */
const bigBody = (bytes: number, seed: number): Buffer => Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 31 + seed * 7) % 251));

export function describeLogStoreConformance(name: string, store: () => ShardLogStore): void {
  describe(`${name}: the shard log contract`, () => {
    test('an empty log reads as nothing', async () => {
      const log = freshLog();
      expect(await store().readAfter(log, 0)).toEqual([]);
      expect(await store().readLatest(log)).toEqual([]);
    });

    test('appends read back in slot order, after any slot', async () => {
      const log = freshLog();
      for (const [slot, text] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) expect(await store().append(log, entry(slot, text))).toBe(true);
      expect(texts(await store().readAfter(log, 0))).toEqual(['1:delta:a', '2:delta:b', '3:delta:c']);
      expect(texts(await store().readAfter(log, 2))).toEqual(['3:delta:c']);
      expect(await store().readAfter(log, 3)).toEqual([]);
      const [first] = await store().readAfter(log, 0);
      expect(first!.writtenAtMs).toBe(1_700_000_000_001);
    });

    test('a taken slot refuses a second writer and keeps the first entry', async () => {
      const log = freshLog();
      expect(await store().append(log, entry(1, 'winner'))).toBe(true);
      expect(await store().append(log, entry(1, 'loser'))).toBe(false);
      expect(texts(await store().readAfter(log, 0))).toEqual(['1:delta:winner']);
    });

    test('of writers racing for one slot exactly one wins, and its entry is the one read back', async () => {
      const log = freshLog();
      const won = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((t) => store().append(log, entry(1, t))));
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = ['a', 'b', 'c', 'd', 'e'][won.indexOf(true)];
      expect(texts(await store().readAfter(log, 0))).toEqual([`1:delta:${winner}`]);
    });

    test('catch-up starts at the latest snapshot', async () => {
      const log = freshLog();
      await store().append(log, entry(1, 'd1'));
      await store().append(log, entry(2, 's2', 'snapshot'));
      await store().append(log, entry(3, 'd3'));
      await store().append(log, entry(4, 's4', 'snapshot'));
      await store().append(log, entry(5, 'd5'));
      await store().append(log, entry(6, 'd6'));
      expect(texts(await store().readLatest(log))).toEqual(['4:snapshot:s4', '5:delta:d5', '6:delta:d6']);
    });

    test('a log without a snapshot catches up from its first entry', async () => {
      const log = freshLog();
      await store().append(log, entry(1, 'd1'));
      await store().append(log, entry(2, 'd2'));
      expect(texts(await store().readLatest(log))).toEqual(['1:delta:d1', '2:delta:d2']);
    });

    test('an entry larger than one item (a 1 MB snapshot) reads back byte for byte', async () => {
      const log = freshLog();
      const body = bigBody(1_000_000, 1);
      expect(await store().append(log, { slot: 1, kind: 'snapshot', body, writtenAtMs: 1 })).toBe(true);
      await store().append(log, entry(2, 'after'));
      const [snapshot, delta] = await store().readLatest(log);
      expect(Buffer.compare(Buffer.from(snapshot!.body), body)).toBe(0);
      expect(Buffer.from(delta!.body).toString()).toBe('after');
    });

    test('large entries racing for one slot: the winner reads back whole, never mixed with a loser', async () => {
      const log = freshLog();
      const bodies = [1, 2, 3].map((seed) => bigBody(800_000, seed));
      const won = await Promise.all(bodies.map((body) => store().append(log, { slot: 1, kind: 'snapshot', body, writtenAtMs: 1 })));
      expect(won.filter(Boolean)).toHaveLength(1);
      const [read] = await store().readAfter(log, 0);
      expect(Buffer.compare(Buffer.from(read!.body), bodies[won.indexOf(true)]!)).toBe(0);
    });

    test("the head is the latest entry's slot, time and idle flag, without reading its body", async () => {
      const log = freshLog();
      expect(await store().readHead(log)).toBeUndefined();
      await store().append(log, entry(1, 'd1'));
      expect(await store().readHead(log)).toEqual({ slot: 1, idle: false, writtenAtMs: 1_700_000_000_001 });
      await store().append(log, { ...entry(2, 'd2'), idle: true });
      expect(await store().readHead(log)).toEqual({ slot: 2, idle: true, writtenAtMs: 1_700_000_000_002 });
      expect((await store().readAfter(log, 1))[0]!.idle).toBe(true);
    });

    test("the head carries the entry's earliest processing-time timer, and only while one is pending", async () => {
      const log = freshLog();
      await store().append(log, { ...entry(1, 'd1'), idle: true, processingTimerMs: 1_700_000_030_000 });
      expect(await store().readHead(log)).toEqual({ slot: 1, idle: true, writtenAtMs: 1_700_000_000_001, processingTimerMs: 1_700_000_030_000 });
      expect((await store().readLatest(log))[0]!.processingTimerMs).toBe(1_700_000_030_000);
      await store().append(log, entry(2, 'd2'));
      expect(await store().readHead(log)).toEqual({ slot: 2, idle: false, writtenAtMs: 1_700_000_000_002 });
    });

    test('a written entry cannot be changed through the bytes handed in or read out', async () => {
      const log = freshLog();
      const body = Buffer.from('fixed');
      await store().append(log, { slot: 1, kind: 'delta', body, writtenAtMs: 1 });
      body.write('XXXXX');
      const [read] = await store().readAfter(log, 0);
      read!.body[0] = 0;
      expect(texts(await store().readAfter(log, 0))).toEqual(['1:delta:fixed']);
    });
  });
}
