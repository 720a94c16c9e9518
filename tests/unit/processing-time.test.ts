/**
 * Processing time (docs/processing-time.md): a record's processing time is its Kinesis arrival time; a
 * processing-time timer or window fires when the keyed shard processes a record — an envelope, a marker or
 * a tick of the watermark function — that arrived at or after its time. The harness drives arrival times:
 * what is sent arrives at its processing time (or at `arrivalMs`), and `advanceProcessingTime` /
 * `setProcessingTime` deliver a tick, as the watermark function does.
 */
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { dynamoSink, job, kinesisSource, planJob, PlanError, session, tumbling, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { describePlan } from '../../lib/plan/describe';
import deviceOffline, { OFFLINE_AFTER_MS } from '../../examples/device-offline';

type Event = { user: string; ts: number; timer?: number; del?: number; bad?: boolean };
const event = (user: string, fields: Partial<Event> = {}): Event => ({ user, ts: 1, ...fields });
const events = kinesisSource<Event>('events', { eventTime: (e) => e.ts });

/**
 * A process function that registers a processing-time timer `timer` ms after the event arrived (at `timer`
 * itself when `absolute`), deletes the one at `del`, and reports its events and firings.
 */
const timerJob = (absolute = false): JobDefinition =>
  job('ptime')
    .source(events)
    .keyBy((e) => e.user)
    .process({
      state: {},
      onEvent(e, ctx) {
        if (e.del !== undefined) ctx.timers.deleteProcessingTime(e.del);
        if (e.bad) ctx.timers.registerProcessingTime(Number.NaN);
        if (e.timer !== undefined) ctx.timers.registerProcessingTime(absolute ? e.timer : ctx.processingTime + e.timer);
        ctx.emit({ event: ctx.key, at: ctx.processingTime });
      },
      onTimer(ts, ctx) {
        ctx.emit({ fired: ts, key: ctx.key, at: ctx.processingTime, domain: ctx.timeDomain });
      },
    })
    .sink(dynamoSink('ptime-out'));

/** The keyed shard's log in the harness. */
const KEYED = { stageId: 's1', shardId: 'ptime-s1-0' };

describe('processing-time timers in a process function', () => {
  test('fire on a tick when no event comes, at the first record that arrived at or after their time', async () => {
    const h = harness(timerJob(), { startMs: 5_000 });
    await h.send(event('a', { timer: 1_000 }));
    await h.advanceProcessingTime(999);
    expect(h.results()).toEqual([{ event: 'a', at: 5_000 }]);
    await h.advanceProcessingTime(1);
    expect(h.results()).toEqual([
      { event: 'a', at: 5_000 },
      { fired: 6_000, key: 'a', at: 6_000, domain: 'processing' },
    ]);
    await h.advanceProcessingTime(5_000);
    expect(h.results()).toHaveLength(2); // once
  });

  test("a timer due by a record's arrival fires before that record's elements, even one at its very time", async () => {
    const h = harness(timerJob());
    await h.send(event('a', { timer: 1_000 }));
    // No tick in between (the watermark function was late): the event at 1500 deletes the timer, but the
    // device was silent past it, so it fires first.
    await h.send(event('a', { del: 1_000, timer: 1_000 }), { arrivalMs: 1_500 });
    // Reset at its very time: the record arrived at the timer's time, which is due.
    await h.send(event('a', { del: 2_500 }), { arrivalMs: 2_500 });
    await h.advanceProcessingTime(10_000);
    expect(h.results()).toEqual([
      { event: 'a', at: 0 },
      { fired: 1_000, key: 'a', at: 1_500, domain: 'processing' },
      { event: 'a', at: 1_500 },
      { fired: 2_500, key: 'a', at: 2_500, domain: 'processing' },
      { event: 'a', at: 2_500 },
    ]);
  });

  test('a timer registered in the past fires right after the call; a time that is not a number is a dead letter with the reason', async () => {
    const h = harness(timerJob(true), { startMs: 5_000 });
    await h.send(event('a', { timer: 100 }));
    expect(h.results()).toEqual([
      { event: 'a', at: 5_000 },
      { fired: 100, key: 'a', at: 5_000, domain: 'processing' },
    ]);
    await h.send(event('b', { bad: true, timer: 9_000 }));
    expect(h.deadLetters()).toEqual([
      expect.objectContaining({ operator: 'process#2', reason: 'process#2 onEvent threw: processing-time timer NaN is not a number of epoch ms' }),
    ]);
    // The failed call left no timer behind: b's 9000 was never registered.
    await h.setProcessingTime(20_000);
    expect(h.results()).toHaveLength(2);
  });

  test('deleted timers do not fire; timers of one key fire in time order, each once, with ids that name the firing', async () => {
    const h = harness(timerJob(true));
    await h.send(event('a', { timer: 3_000 }));
    await h.send(event('a', { timer: 2_000 }));
    await h.send(event('a', { timer: 4_000 }));
    await h.send(event('a', { del: 4_000 }));
    await h.setProcessingTime(10_000);
    expect(h.outputs().filter((o) => 'fired' in o.record).map((o) => [o.record.fired, o.id])).toEqual([
      [2_000, 'a/ptimer/2000/5.0/0'],
      [3_000, 'a/ptimer/3000/5.1/0'],
    ]);
  });

  test('a retried or crashed batch fires nothing twice, and processing time never goes back, on any container', async () => {
    const h = harness(timerJob());
    const record = { shardId: 'shard-0', sequenceNumber: '1', data: JSON.stringify(event('a', { timer: 1_000 })), arrivalMs: 0 };
    await h.replay([record], { crash: 'after-state' });
    await h.replay([record]);
    await h.replay([record]); // Lambda delivers it again: its marks drop it
    h.loseCaches();
    await h.setProcessingTime(1_000);
    h.loseCaches();
    // A record stamped earlier than what the shard has processed (Kinesis' arrival times are approximate)
    // is processed at the shard's time, which only moves forward.
    await h.send(event('b'), { arrivalMs: 400, shard: 'shard-1' });
    expect(h.outputs().map((o) => [o.id, o.record])).toEqual([
      ['shard-0@1.0/0', { event: 'a', at: 0 }],
      ['a/ptimer/1000/4.0/0', { fired: 1_000, key: 'a', at: 1_000, domain: 'processing' }],
      ['shard-1@1.0/0', { event: 'b', at: 1_000 }],
    ]);
  });

  test('ticks keep the processing time they bring in the log (a retried tick then changes nothing); the log head names the earliest pending timer', async () => {
    const h = harness(timerJob(true));
    await h.send(event('a', { timer: 5_000 }));
    await h.send(event('b', { timer: 3_000 }));
    expect((await h.logs.readHead(KEYED))?.processingTimerMs).toBe(3_000);
    let appends = (h.logs as MemoryLogStore).counters.appends;
    await h.setProcessingTime(1_000);
    expect((h.logs as MemoryLogStore).counters.appends).toBe(appends + 1);
    appends = (h.logs as MemoryLogStore).counters.appends;
    await h.setProcessingTime(1_000); // the same tick again, as a retry delivers it
    expect((h.logs as MemoryLogStore).counters.appends).toBe(appends);
    await h.setProcessingTime(3_000);
    expect((await h.logs.readHead(KEYED))?.processingTimerMs).toBe(5_000);
    await h.setProcessingTime(5_000);
    expect((await h.logs.readHead(KEYED))?.processingTimerMs).toBeUndefined();
    expect(h.results().filter((r) => 'fired' in r).map((r) => r.fired)).toEqual([3_000, 5_000]);
  });

  test('an event-time operator does not keep processing time: its ticks that fire nothing append nothing', async () => {
    const h = harness(job('et').source(events).keyBy((e) => e.user).window(tumbling('1s')).count().sink(dynamoSink('et-out')));
    await h.send(event('a'));
    const appends = (h.logs as MemoryLogStore).counters.appends;
    await h.setProcessingTime(1_000);
    await h.setProcessingTime(2_000);
    expect((h.logs as MemoryLogStore).counters.appends).toBe(appends);
  });
});

describe('processing-time windows', () => {
  const counts = (assigner: ReturnType<typeof tumbling>) =>
    job('ptime-windows').source(events).keyBy((e) => e.user).window(assigner).count().sink(dynamoSink('ptime-counts'));

  test('elements go to windows by arrival time; a window fires at the first record that arrived at or after its end, before that record\'s elements', async () => {
    const h = harness(counts(tumbling('1s', { time: 'processing' })));
    await h.send(event('a', { ts: 99_999 }), { arrivalMs: 100 }); // event time plays no part
    await h.send(event('a', { ts: -5 }), { arrivalMs: 999 });
    expect(h.results()).toEqual([]);
    await h.send(event('a'), { arrivalMs: 1_000 });
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1_000, count: 2 }]);
    await h.send(event('b'), { arrivalMs: 1_200 });
    // Stamped earlier than what the shard has processed: it counts at the shard's time, in [1000, 2000).
    await h.send(event('b'), { arrivalMs: 900 });
    await h.setProcessingTime(2_500); // a tick: no event needed
    expect(h.results().slice(1)).toEqual([
      { key: 'a', windowStart: 1_000, windowEnd: 2_000, count: 1 },
      { key: 'b', windowStart: 1_000, windowEnd: 2_000, count: 2 },
    ]);
    expect(h.late()).toEqual([]);
    expect(await h.state()).toEqual({});
  });

  test('plan shows the clock; lateness is refused; a source partitioned by the key still gets a shuffle, for the ticks', () => {
    const byUser = (e: Event): string => e.user;
    const src = kinesisSource<Event>('events', { eventTime: (e) => e.ts, partitionedBy: byUser });
    const processing = planJob(job('pt').source(src).keyBy(byUser).window(session('30s', { time: 'processing' })).count().sink(dynamoSink('pt-out')));
    expect(processing.stages.map((s) => s.input.kind)).toEqual(['source', 'shuffle']);
    expect(describePlan(processing)).toContain("session(30s, { time: 'processing' }).count()");
    const eventTime = planJob(job('et').source(src).keyBy(byUser).window(session('30s')).count().sink(dynamoSink('et-out')));
    expect(eventTime.stages.map((s) => s.input.kind)).toEqual(['source']);
    const late = job('late').source(events).keyBy((e) => e.user).window(tumbling('1s', { time: 'processing' })).allowedLateness('5s').count().sink(dynamoSink('late-out'));
    expect(() => planJob(late)).toThrow(PlanError);
    expect(() => planJob(late)).toThrow('processing-time windows have no late elements, so no lateness — drop allowedLateness/lateOutput or use an event-time window');
  });
});

describe('examples/device-offline.ts', () => {
  const T = 1_700_000_000_000;

  test('alerts once per silence: when a device sends nothing for 30 s of processing time, with no event needed', async () => {
    const h = harness(deviceOffline, { startMs: T });
    await h.send({ deviceId: 'd1', ts: T - 50 });
    await h.send({ deviceId: 'd2', ts: T - 40 });
    await h.advanceProcessingTime(10_000);
    await h.send({ deviceId: 'd1', ts: T + 9_950 }); // d1 is alive: its deadline moves to T + 40 s
    await h.advanceProcessingTime(OFFLINE_AFTER_MS - 10_000 - 1);
    expect(h.results()).toEqual([]);
    await h.advanceProcessingTime(1);
    expect(h.results()).toEqual([{ deviceId: 'd2', lastHeartbeatTs: T - 40, silentSinceMs: T, alertAtMs: T + 30_000 }]);
    for (let i = 0; i < 60; i++) await h.advanceProcessingTime(1_000); // a minute of ticks
    expect(h.results()).toEqual([
      { deviceId: 'd2', lastHeartbeatTs: T - 40, silentSinceMs: T, alertAtMs: T + 30_000 },
      { deviceId: 'd1', lastHeartbeatTs: T + 9_950, silentSinceMs: T + 10_000, alertAtMs: T + 40_000 },
    ]);
    // d2 comes back, and falls silent again: a new alert, a new item.
    await h.send({ deviceId: 'd2', ts: T + 90_000 });
    await h.advanceProcessingTime(OFFLINE_AFTER_MS);
    expect(h.table().map((a) => `${String(a.deviceId)}@${Number(a.silentSinceMs) - T}`)).toEqual(['d2@0', 'd1@10000', 'd2@90000']);
  });
});
