/**
 * Exactly-once under Lambda's retries. A Kinesis event source mapping retries a failed batch, whole or
 * bisected into in-order halves (recursively), and the first attempt may have applied some of its items
 * before failing. Whatever the retry sequence, state and results must end up as if each record were
 * applied once, and outputs emitted in-band must come back with the same ids (the outbox), never new ones.
 */
import { countWindow, cumulative, dynamoSink, job, kinesisSource, session, sliding, tumbling, valueState, type JobDefinition } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';
import clickTotals from '../../examples/click-totals';

type Click = { userId: string; clicks: number; ts: number };
type SourceRecord = { shardId: string; sequenceNumber: string; data: string };

const click = (userId: string, ts: number, clicks = 1): Click => ({ userId, clicks, ts });

/** Kinesis records with consecutive sequence numbers from `first` (decimal strings, as Kinesis sends them). */
const recordsOf = (shardId: string, first: bigint, events: readonly unknown[]): SourceRecord[] =>
  events.map((e, i) => ({ shardId, sequenceNumber: String(first + BigInt(i)), data: JSON.stringify(e) }));

/**
 * Every retry sequence bisect-on-error can produce for a failed batch: the batch again, or its first half's
 * retries followed by its second half's (per-shard order is kept, so halves never swap).
 */
function bisections<T>(batch: readonly T[]): T[][][] {
  const sequences: T[][][] = [[[...batch]]];
  if (batch.length < 2) return sequences;
  const mid = Math.ceil(batch.length / 2);
  for (const left of bisections(batch.slice(0, mid))) for (const right of bisections(batch.slice(mid))) sequences.push([...left, ...right]);
  return sequences;
}

/** The keyed state as its log has it (a cold load: what any container would see). */
const stateOf = (h: Harness): Promise<unknown> => h.state();

/** The results table in a canonical order. */
const tableOf = (h: Harness): Record<string, unknown>[] => [...h.table()].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** The distinct records a sink received, in a canonical order. */
const distinctRecords = (h: Harness): string[] => [...new Set(h.results().map((r) => JSON.stringify(r)))].sort();

/** Outputs by id; fails if one id was ever used for two different records. */
function byId(h: Harness, sink?: string): Map<string, Record<string, unknown>> {
  const map = new Map<string, Record<string, unknown>>();
  for (const o of h.outputs(sink)) {
    const seen = map.get(o.id);
    if (seen) expect(o.record).toEqual(seen);
    map.set(o.id, o.record);
  }
  return map;
}

const source = () => kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '1s' });
const keyed = () => job('exactly-once').source(source()).keyBy((c) => c.userId);

const jobs: [string, JobDefinition][] = [
  ['tumbling sum', keyed().window(tumbling('1s')).sum('clicks').sink(dynamoSink('sums'))],
  ['sliding count', keyed().window(sliding('2s', '500ms')).count().sink(dynamoSink('counts'))],
  ['cumulative sum', keyed().window(cumulative('2s', '500ms')).sum('clicks').sink(dynamoSink('running-sums'))],
  ['session max', keyed().window(session('700ms')).max('clicks').sink(dynamoSink('maxes'))],
  ['count window (in-band outputs)', keyed().window(countWindow(2, 1)).sum('clicks').sink(dynamoSink('pairs'))],
  ['process function (in-band outputs)', clickTotals],
];

const firstBatch = recordsOf('shard-0', 1n, [click('a', 100, 1), click('b', 150, 2), click('a', 900, 3)]);
const lastBatch = recordsOf('shard-0', 4n, [click('a', 1200, 4), click('b', 700, 5), click('a', 1100, 6), click('c', 1900, 7), click('b', 2100, 8)]);

/** A run that delivers both batches once each. */
async function cleanRun(definition: JobDefinition): Promise<Harness> {
  const h = harness(definition);
  await h.replay(firstBatch);
  await h.replay(lastBatch);
  return h;
}

describe.each(jobs)('%s', (_name, definition) => {
  test.each(bisections(lastBatch).map((sequence) => [sequence.map((part) => part.length).join('+'), sequence] as const))(
    'retrying the last batch as %s changes neither state nor results',
    async (_shape, retries) => {
      const h = await cleanRun(definition);
      const state = await stateOf(h);
      const table = h.table();
      const ids = [...byId(h).keys()];

      for (const part of retries) await h.replay(part);

      expect(await stateOf(h)).toEqual(state);
      expect(h.table()).toEqual(table);
      expect([...byId(h).keys()]).toEqual(ids);

      const reference = await cleanRun(definition);
      await Promise.all([h.finish(), reference.finish()]);
      expect(h.table()).toEqual(reference.table());
      expect(byId(h)).toEqual(byId(reference));
    },
  );

  test('a first attempt that applied only some items, then bisected retries, ends as one clean delivery', async () => {
    for (const retries of bisections(lastBatch)) {
      const h = harness(definition);
      await h.replay(firstBatch);
      // The first attempt wrote key a's items, then failed before b's and c's.
      await h.replay(lastBatch.filter((r) => (JSON.parse(r.data) as Click).userId === 'a'), { crash: 'after-state' });
      for (const part of retries) await h.replay(part);
      await h.finish();

      const reference = await cleanRun(definition);
      await reference.finish();
      expect(tableOf(h)).toEqual(tableOf(reference));
      // The same records, each firing once. (A window result's id names the item version that fired it, and this
      // history wrote b's and c's items in more steps than a clean run: the ids may differ, never repeat.)
      expect(distinctRecords(h)).toEqual(distinctRecords(reference));
      byId(h); // repeats (the outbox) are fine; one id for two different records is not
    }
  });
});

describe('outputs emitted in-band: a crash before the commit brings them again with the same ids; a committed batch brings nothing new', () => {
  test('a count window re-emits its results with the same ids when its batch is replayed', async () => {
    const h = harness(keyed().window(countWindow(2)).sum('clicks').sink(dynamoSink('pairs')));
    const batch = recordsOf('shard-0', 1n, [click('a', 1, 1), click('a', 2, 2), click('a', 3, 3), click('a', 4, 4)]);
    // The sink writes are lost in a crash after the state write: the retry must emit them again.
    await h.replay(batch, { crash: 'after-state' });
    expect(h.outputs()).toEqual([]);
    await h.replay(batch);
    const first = h.outputs();
    expect(first).toEqual([
      { id: 'a/c0-2', record: { key: 'a', windowStart: 0, windowEnd: 2, clicks: 3 }, order: '0000000000000001' },
      { id: 'a/c2-4', record: { key: 'a', windowStart: 2, windowEnd: 4, clicks: 7 }, order: '0000000000000001' },
    ]);
    // A delivered batch delivered again (Lambda never saw the success) changes and emits nothing.
    await h.replay(batch);
    expect(h.outputs()).toEqual(first);

    for (const half of bisections(batch)[1]!) await h.replay(half);
    expect(new Set(h.outputs().map((o) => o.id))).toEqual(new Set(['a/c0-2', 'a/c2-4']));
    expect(h.table()).toEqual(first.map((o) => o.record));
  });

  test('a process function re-emits the same records with the same ids, without counting twice', async () => {
    const h = harness(clickTotals);
    const batch = recordsOf('shard-0', 1n, [
      { userId: 'ann', clicks: 2, ts: 1 },
      { userId: 'bob', clicks: 1, ts: 2 },
      { userId: 'ann', clicks: 3, ts: 3 },
    ]);
    await h.replay(batch);
    const first = h.outputs();
    expect(first.map((o) => o.record.clickCount)).toEqual([2, 1, 5]);

    await h.replay(batch.slice(0, 2));
    await h.replay(batch.slice(2));
    await h.replay(batch);
    const all = byId(h);
    expect([...all.keys()].sort()).toEqual(first.map((o) => o.id).sort());
    expect(h.table()).toEqual([
      { userId: 'ann', clicks: 3, ts: 3, clickCount: 5 },
      { userId: 'bob', clicks: 1, ts: 2, clickCount: 1 },
    ]);
  });

  test('a replay does not undo or repeat late firings', async () => {
    const h = harness(keyed().window(tumbling('1s')).allowedLateness('5s').sum('clicks').sink(dynamoSink('sums')));
    await h.replay(recordsOf('shard-0', 1n, [click('a', 100, 1)]));
    await h.watermark(1000);
    const late = recordsOf('shard-0', 2n, [click('a', 200, 10), click('a', 300, 100)]);
    await h.replay(late);
    const table = h.table();
    expect(table).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 111 }]);
    for (const part of [late, late.slice(0, 1), late.slice(1)]) await h.replay(part);
    expect(h.table()).toEqual(table);
    // The first firing and one late firing per late element (Flink's EventTimeTrigger.onElement), no more.
    expect([...byId(h).values()].map((r) => r.clicks)).toEqual([1, 11, 111]);
  });
});

describe('positions', () => {
  test('sequence numbers compare as decimals, however long: 99 is before 100', async () => {
    const h = harness(keyed().process({ state: { n: valueState(0) }, onEvent: (c, ctx) => ctx.state.n.update(ctx.state.n.value() + c.clicks) }).sink(dynamoSink('totals')));
    const at = (seq: string, clicks: number): SourceRecord => ({ shardId: 'shard-0', sequenceNumber: seq, data: JSON.stringify(click('a', 1, clicks)) });
    const long = '49590338271490256608559692538361571095921575989136588898';
    await h.replay([at('98', 1), at('99', 2)]);
    await h.replay([at('100', 4), at(long, 8)]);
    const state = await stateOf(h);
    await h.replay([at('99', 2)]);
    await h.replay([at('100', 4)]);
    await h.replay([at(long, 8)]);
    expect(await stateOf(h)).toEqual(state);
    expect(((await stateOf(h)) as { a: { values: { n: { v: number } } } }).a.values.n.v).toBe(15);
  });

  test('records from different shards are tracked apart: the same sequence number on another shard is new', async () => {
    const h = harness(keyed().window(tumbling('1s')).count().sink(dynamoSink('counts')));
    await h.replay(recordsOf('shard-0', 1n, [click('a', 1), click('a', 2)]));
    await h.replay(recordsOf('shard-1', 1n, [click('a', 3), click('a', 4)]));
    await h.replay(recordsOf('shard-0', 1n, [click('a', 1), click('a', 2)]));
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, count: 4 }]);
  });

  test("a replay leaves the strategy watermark where it was", async () => {
    const h = harness(keyed().window(tumbling('1s')).count().sink(dynamoSink('counts')), { watermarks: 'strategy' });
    const batch = recordsOf('shard-0', 1n, [click('a', 5000), click('a', 5200)]);
    await h.replay(batch);
    expect(h.currentWatermark()).toBe(5200 - 1000 - 1);
    await h.replay(batch.slice(0, 1));
    expect(h.currentWatermark()).toBe(4199);
  });
});
