/**
 * The shard log's exactly-once argument, as properties on the memory store (tests/state/shard-log-properties.ts;
 * tests/integration/shard-log-dynamo.test.ts runs them on DynamoDB), and the catch-up that keeps a batch off a
 * stale cache.
 */
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
