/**
 * Keyed process functions (Flink's KeyedProcessFunction): named keyed state, event-time timers, TTL in
 * event time, and a failing call leaving state as it was.
 */
import { dynamoSink, job, kinesisSource, listState, mapState, valueState, type JobDefinition, type KeyedProcessFunction, type StateDescriptor } from 'shardflow';
import { harness } from 'shardflow/testing';
import clickTotals from '../../examples/click-totals';

type Event = { user: string; ts: number; n?: number; tag?: string; timer?: number; unset?: number; fail?: boolean };

const event = (user: string, ts: number, fields: Partial<Event> = {}): Event => ({ user, ts, ...fields });

const out = dynamoSink('process-out');

/** A job running one process function over events keyed by user. */
const processJob = <S extends Record<string, StateDescriptor>>(fn: KeyedProcessFunction<Event, S, object>): JobDefinition =>
  job('process')
    .source(kinesisSource<Event>('events', { eventTime: (e) => e.ts }))
    .keyBy((e) => e.user)
    .process(fn)
    .sink(out);

describe('keyed state', () => {
  test('valueState starts at its initial value and is kept per key', async () => {
    const h = harness(
      processJob({
        state: { count: valueState(0) },
        onEvent(e, ctx) {
          ctx.state.count.update(ctx.state.count.value() + 1);
          ctx.emit({ user: ctx.key, count: ctx.state.count.value() });
        },
      }),
    );
    await h.sendBatch([event('a', 1), event('b', 2), event('a', 3)]);
    await h.send(event('a', 4));
    // In stream order, as the events came (a batch is no unit of meaning).
    expect(h.results()).toEqual([
      { user: 'a', count: 1 },
      { user: 'b', count: 1 },
      { user: 'a', count: 2 },
      { user: 'a', count: 3 },
    ]);
  });

  test('valueState.clear makes it read its initial value again, a fresh copy each time', async () => {
    const h = harness(
      processJob({
        state: { seen: valueState<string[]>([]) },
        onEvent(e, ctx) {
          if (e.tag === 'reset') ctx.state.seen.clear();
          else {
            const seen = ctx.state.seen.value();
            seen.push(String(e.ts)); // mutating the initial value must not leak into the descriptor
            ctx.state.seen.update(seen);
          }
          ctx.emit({ seen: ctx.state.seen.value() });
        },
      }),
    );
    await h.send(event('a', 1));
    await h.send(event('a', 2));
    await h.send(event('a', 3, { tag: 'reset' }));
    await h.send(event('a', 4));
    await h.send(event('b', 5));
    expect(h.results()).toEqual([{ seen: ['1'] }, { seen: ['1', '2'] }, { seen: [] }, { seen: ['4'] }, { seen: ['5'] }]);
  });

  test('listState adds, reads, replaces and clears', async () => {
    const h = harness(
      processJob({
        state: { tags: listState<string>() },
        onEvent(e, ctx) {
          if (e.tag === 'clear') ctx.state.tags.clear();
          else if (e.tag === 'last-two') ctx.state.tags.update(ctx.state.tags.get().slice(-2));
          else ctx.state.tags.add(e.tag ?? '?');
          ctx.emit({ tags: ctx.state.tags.get() });
        },
      }),
    );
    for (const [ts, tag] of [[1, 'x'], [2, 'y'], [3, 'z'], [4, 'last-two'], [5, 'w'], [6, 'clear'], [7, 'v']] as const) {
      await h.send(event('a', ts, { tag }));
    }
    expect(h.results().map((r) => r.tags)).toEqual([['x'], ['x', 'y'], ['x', 'y', 'z'], ['y', 'z'], ['y', 'z', 'w'], [], ['v']]);
  });

  test('mapState puts, gets, tests, removes, lists and clears entries', async () => {
    const h = harness(
      processJob({
        state: { perTag: mapState<number>() },
        onEvent(e, ctx) {
          const m = ctx.state.perTag;
          if (e.tag === 'clear') m.clear();
          else if (e.tag?.startsWith('-')) m.remove(e.tag.slice(1));
          else if (e.tag) m.put(e.tag, (m.get(e.tag) ?? 0) + 1);
          ctx.emit({ entries: m.entries().sort(), hasX: m.has('x'), x: m.get('x') ?? null });
        },
      }),
    );
    for (const [ts, tag] of [[1, 'x'], [2, 'y'], [3, 'x'], [4, '-y'], [5, 'clear']] as const) {
      await h.send(event('a', ts, { tag }));
    }
    expect(h.results()).toEqual([
      { entries: [['x', 1]], hasX: true, x: 1 },
      { entries: [['x', 1], ['y', 1]], hasX: true, x: 1 },
      { entries: [['x', 2], ['y', 1]], hasX: true, x: 2 },
      { entries: [['x', 2]], hasX: true, x: 2 },
      { entries: [], hasX: false, x: null },
    ]);
  });

  test('a process function sees every element, however far behind the watermark (no lateness)', async () => {
    const h = harness(processJob({ state: {}, onEvent: (e, ctx) => ctx.emit({ ts: e.ts, watermark: ctx.watermark }) }));
    await h.watermark(10_000);
    await h.send(event('a', 5));
    expect(h.results()).toEqual([{ ts: 5, watermark: 10_000 }]);
    expect(h.late()).toEqual([]);
  });
});

describe('event-time timers', () => {
  /** Registers `timer` (and deletes `unset`) per event; onTimer emits what it sees. */
  const timerJob = (onTimerExtra?: (ts: number, register: (t: number) => void) => void): JobDefinition =>
    processJob({
      state: {},
      onEvent(e, ctx) {
        if (e.timer !== undefined) ctx.timers.registerEventTime(e.timer);
        if (e.unset !== undefined) ctx.timers.deleteEventTime(e.unset);
      },
      onTimer(ts, ctx) {
        ctx.emit({ key: ctx.key, timer: ts, timestamp: ctx.timestamp, watermark: ctx.watermark });
        onTimerExtra?.(ts, (t) => ctx.timers.registerEventTime(t));
      },
    });

  test('a timer fires once the watermark reaches its time, with the timer time as timestamp', async () => {
    const h = harness(timerJob());
    await h.send(event('a', 1, { timer: 1000 }));
    await h.watermark(999);
    expect(h.results()).toEqual([]);
    await h.watermark(1000);
    expect(h.results()).toEqual([{ key: 'a', timer: 1000, timestamp: 1000, watermark: 1000 }]);
    await h.watermark(5000);
    expect(h.results()).toHaveLength(1);
  });

  test('timers fire in time order, per key', async () => {
    const h = harness(timerJob());
    await h.sendBatch([event('a', 1, { timer: 3000 }), event('a', 2, { timer: 1000 }), event('a', 3, { timer: 2000 })]);
    await h.send(event('b', 4, { timer: 1500 }));
    await h.watermark(5000);
    const fired = h.results().map((r) => `${r.key}@${r.timer}`);
    expect(fired.filter((f) => f.startsWith('a'))).toEqual(['a@1000', 'a@2000', 'a@3000']);
    expect(fired.filter((f) => f.startsWith('b'))).toEqual(['b@1500']);
  });

  test('registering the same time twice fires once', async () => {
    const h = harness(timerJob());
    await h.send(event('a', 1, { timer: 1000 }));
    await h.send(event('a', 2, { timer: 1000 }));
    await h.sendBatch([event('a', 3, { timer: 1000 }), event('a', 4, { timer: 1000 })]);
    await h.finish();
    expect(h.results()).toEqual([{ key: 'a', timer: 1000, timestamp: 1000, watermark: Number.MAX_SAFE_INTEGER }]);
  });

  test('deleteEventTime cancels a timer, and only that one', async () => {
    const h = harness(timerJob());
    await h.send(event('a', 1, { timer: 1000 }));
    await h.send(event('a', 2, { timer: 2000 }));
    await h.send(event('a', 3, { unset: 1000 }));
    await h.watermark(3000);
    expect(h.results().map((r) => r.timer)).toEqual([2000]);
  });

  test('a timer registered inside onTimer that is already due fires in the same watermark; a later one waits', async () => {
    const h = harness(timerJob((ts, register) => (ts === 1000 ? register(1500) : ts === 1500 ? register(9000) : undefined)));
    await h.send(event('a', 1, { timer: 1000 }));
    await h.watermark(2000);
    expect(h.results().map((r) => r.timer)).toEqual([1000, 1500]);
    await h.watermark(8999);
    expect(h.results()).toHaveLength(2);
    await h.watermark(9000);
    expect(h.results().map((r) => r.timer)).toEqual([1000, 1500, 9000]);
  });

  test('every timer firing has its own output id, even for the same time after the state emptied', async () => {
    const h = harness(timerJob());
    await h.send(event('a', 1, { timer: 1000 }));
    await h.watermark(1000);
    await h.send(event('a', 2, { timer: 1000 })); // already due: fires at the next watermark
    await h.watermark(2000);
    expect(h.results().map((r) => r.watermark)).toEqual([1000, 2000]);
    const ids = h.outputs().map((o) => o.id);
    expect(new Set(ids).size).toBe(2);
  });

  test('a key whose timers have all fired and whose state is empty leaves nothing in the shard (state stays bounded by live keys)', async () => {
    const h = harness(timerJob());
    for (const [i, user] of ['a', 'b', 'c'].entries()) await h.send(event(user, i, { timer: 1000 + i }));
    expect(Object.keys(await h.state())).toEqual(['a', 'b', 'c']);
    await h.watermark(5000);
    expect(h.results()).toHaveLength(3);
    expect(await h.state()).toEqual({});
  });

  test('timers and state work together: emit a per-key sum when the key goes quiet', async () => {
    const gapMs = 1000;
    const h = harness(
      processJob({
        state: { sum: valueState(0), deadline: valueState(-1) },
        onEvent(e, ctx) {
          ctx.state.sum.update(ctx.state.sum.value() + (e.n ?? 0));
          ctx.timers.deleteEventTime(ctx.state.deadline.value());
          ctx.state.deadline.update(e.ts + gapMs);
          ctx.timers.registerEventTime(e.ts + gapMs);
        },
        onTimer(ts, ctx) {
          ctx.emit({ user: ctx.key, sum: ctx.state.sum.value(), quietAt: ts });
          ctx.state.sum.clear();
          ctx.state.deadline.clear();
        },
      }),
    );
    await h.sendBatch([event('a', 0, { n: 1 }), event('a', 500, { n: 2 }), event('b', 100, { n: 10 })]);
    await h.watermark(1200);
    await h.send(event('a', 1300, { n: 4 })); // a is not quiet yet: its deadline moves to 2300
    await h.watermark(2300);
    await h.send(event('a', 2400, { n: 8 }));
    await h.finish();
    expect(h.results()).toEqual([
      { user: 'b', sum: 10, quietAt: 1100 },
      { user: 'a', sum: 7, quietAt: 2300 },
      { user: 'a', sum: 8, quietAt: 3400 },
    ]);
  });
});

describe('state TTL (event time)', () => {
  test('a value not written for ttl of event time reads as its initial value', async () => {
    const h = harness(
      processJob({
        state: { last: valueState<string>('none', { ttl: '10s' }) },
        onEvent(e, ctx) {
          ctx.emit({ ts: e.ts, before: ctx.state.last.value() });
          if (e.tag) ctx.state.last.update(e.tag);
        },
      }),
    );
    await h.send(event('a', 0, { tag: 'x' }));
    await h.send(event('a', 9_999)); // reading does not refresh the entry
    await h.send(event('a', 10_000, { tag: 'y' }));
    await h.send(event('a', 19_999));
    await h.send(event('a', 30_000));
    expect(h.results()).toEqual([
      { ts: 0, before: 'none' },
      { ts: 9_999, before: 'x' },
      { ts: 10_000, before: 'none' },
      { ts: 19_999, before: 'y' },
      { ts: 30_000, before: 'none' },
    ]);
  });

  test('TTL ignores processing time: only event time ages state', async () => {
    const h = harness(
      processJob({
        state: { last: valueState<string>('none', { ttl: '1s' }) },
        onEvent(e, ctx) {
          ctx.emit({ before: ctx.state.last.value() });
          ctx.state.last.update(String(e.ts));
        },
      }),
    );
    await h.send(event('a', 100));
    await h.advanceProcessingTime(3_600_000);
    await h.send(event('a', 200));
    expect(h.results()).toEqual([{ before: 'none' }, { before: '100' }]);
  });

  test('list and map entries expire one by one', async () => {
    const h = harness(
      processJob({
        state: { recent: listState<number>({ ttl: 1000 }), byTag: mapState<number>({ ttl: 1000 }) },
        onEvent(e, ctx) {
          ctx.state.recent.add(e.ts);
          ctx.state.byTag.put(e.tag ?? '-', e.ts);
          ctx.emit({ recent: ctx.state.recent.get(), tags: ctx.state.byTag.entries().map(([k]) => k).sort(), hasP: ctx.state.byTag.has('p') });
        },
      }),
    );
    await h.send(event('a', 0, { tag: 'p' }));
    await h.send(event('a', 600, { tag: 'q' }));
    await h.send(event('a', 1200, { tag: 'r' }));
    expect(h.results()).toEqual([
      { recent: [0], tags: ['p'], hasP: true },
      { recent: [0, 600], tags: ['p', 'q'], hasP: true },
      { recent: [600, 1200], tags: ['q', 'r'], hasP: false },
    ]);
  });

  test('in onTimer, TTL is measured at the timer time', async () => {
    const h = harness(
      processJob({
        state: { last: valueState<number>(-1, { ttl: 1000 }) },
        onEvent(e, ctx) {
          ctx.state.last.update(e.ts);
          ctx.timers.registerEventTime(e.ts + 999);
          ctx.timers.registerEventTime(e.ts + 1000);
        },
        onTimer(ts, ctx) {
          ctx.emit({ at: ts, last: ctx.state.last.value() });
        },
      }),
    );
    await h.send(event('a', 0));
    await h.finish();
    expect(h.results()).toEqual([
      { at: 999, last: 0 },
      { at: 1000, last: -1 },
    ]);
  });
});

describe('a failing onEvent', () => {
  test('sends the element to the dead letters and leaves state, timers and outputs as they were', async () => {
    const h = harness(
      processJob({
        state: { total: valueState(0), log: listState<number>() },
        onEvent(e, ctx) {
          ctx.state.total.update(ctx.state.total.value() + (e.n ?? 0));
          ctx.state.log.add(e.ts);
          ctx.timers.registerEventTime(e.ts + 100);
          ctx.emit({ total: ctx.state.total.value() });
          if (e.fail) throw new Error(`bad event at ${e.ts}`);
        },
        onTimer(ts, ctx) {
          ctx.emit({ timer: ts, total: ctx.state.total.value(), log: ctx.state.log.get() });
        },
      }),
    );
    await h.sendBatch([event('a', 1, { n: 1 }), event('a', 2, { n: 50, fail: true }), event('a', 3, { n: 2 })]);
    await h.finish();
    expect(h.results()).toEqual([
      { total: 1 },
      { total: 3 },
      { timer: 101, total: 3, log: [1, 3] },
      { timer: 103, total: 3, log: [1, 3] },
    ]);
    expect(h.deadLetters()).toEqual([
      {
        id: 'shard-0/2/process#2',
        reason: 'process#2 onEvent threw: bad event at 2',
        operator: 'process#2',
        shardId: 'shard-0',
        sequenceNumber: '2',
        data: JSON.stringify(event('a', 2, { n: 50, fail: true })),
      },
    ]);
  });
});

describe('examples/click-totals', () => {
  test('emits every click with the running total of its user; the table keeps the latest per user', async () => {
    const h = harness(clickTotals);
    await h.sendBatch([
      { userId: 'ann', clicks: 2, ts: 1000 },
      { userId: 'bob', clicks: 1, ts: 1100 },
      { userId: 'ann', clicks: 3, ts: 1200 },
    ]);
    await h.send({ userId: 'ann', clicks: 5, ts: 900 });
    expect(h.results()).toEqual([
      { userId: 'ann', clicks: 2, ts: 1000, clickCount: 2 },
      { userId: 'bob', clicks: 1, ts: 1100, clickCount: 1 },
      { userId: 'ann', clicks: 3, ts: 1200, clickCount: 5 },
      { userId: 'ann', clicks: 5, ts: 900, clickCount: 10 },
    ]);
    expect(h.table()).toEqual([
      { userId: 'ann', clicks: 5, ts: 900, clickCount: 10 },
      { userId: 'bob', clicks: 1, ts: 1100, clickCount: 1 },
    ]);
  });
});
