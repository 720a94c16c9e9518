/**
 * The stage and watermark functions on real emulators (kinesis-local, dynalite): records really put,
 * read back with GetRecords, handed to the real handlers; state really in DynamoDB.
 */
import { dynamoSink, job, kinesisSource, logSink, tumbling, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { pipelinesOnEmulators } from './pipeline';
import type { KinesisStreamEvent } from '../../lib/io/kinesis-event';
import { stateWriteCounts, type StateWriteCounts } from '../../lib/io/metrics';
import { SinkWriter } from '../../lib/io/sinks';
import { createStageHandler, type StageInvocation } from '../../lib/io/stage-handler';
import { createWatermarkHandler, type WatermarkTick } from '../../lib/io/watermark-handler';
import { DynamoBackend } from '../../lib/state/dynamodb/dynamo-backend';

jest.setTimeout(120_000);

const pipeline = pipelinesOnEmulators();

type Click = { userId: string; clicks: number; ts: number };
const T0 = 1_700_000_000_000;
const click = (userId: string, clicks: number, offsetMs: number): Click => ({ userId, clicks, ts: T0 + offsetMs });

/** click-counts under another name, so each test has its own streams and tables. */
function clickCounts(name: string, options: { shards?: number; lateness?: string; late?: boolean } = {}): JobDefinition {
  let windowed = job(name)
    .source(kinesisSource<Click>(`${name}-clicks`, { eventTime: (c) => c.ts, outOfOrderness: '2s', shards: options.shards ?? 1 }))
    .keyBy((c) => c.userId)
    .window(tumbling('5s'));
  if (options.lateness) windowed = windowed.allowedLateness(options.lateness as '1s');
  if (options.late) windowed = windowed.lateOutput(dynamoSink(`${name}-late`));
  return windowed.sum('clicks').sink(dynamoSink(`${name}-out`));
}

/** Seeded clicks: `n` events over users u0..u(users-1), event time moving forward with disorder under 1 s. */
function clicks(n: number, users: number, seed = 7): Click[] {
  let s = seed;
  const random = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, (_, i) => click(`u${Math.floor(random() * users)}`, 1 + Math.floor(random() * 4), i * 50 - Math.floor(random() * 900)));
}

/** Lambda's bisect: the first and second half of a batch as events of their own. */
const halves = (e: KinesisStreamEvent): [KinesisStreamEvent, KinesisStreamEvent] => {
  const mid = Math.ceil(e.Records.length / 2);
  return [{ Records: e.Records.slice(0, mid) }, { Records: e.Records.slice(mid) }];
};

test('replaying any batch — whole, or split in two as bisect does — leaves state and results unchanged', async () => {
  const p = await pipeline(clickCounts('it-replay'), 40).create();
  await p.put(clicks(200, 6), (e) => (e as Click).userId);
  const [s0shard] = await p.shards('s0');
  const first = await p.nextBatch('s0', s0shard!);
  await p.invoke('s0', first.event);
  p.checkpoint('s0', s0shard!, first.records);
  await p.pump();
  const [s1shard] = await p.shards('s1');
  const keyedBatch = await p.nextBatch('s1', s1shard!, { after: undefined });
  expect(keyedBatch.records.length).toBeGreaterThan(1);

  const replayEverything = async (): Promise<void> => {
    await p.invoke('s0', first.event); // the source stage re-sends its envelopes…
    for (const half of halves(first.event)) await p.invoke('s0', half);
    await p.pump(); // …which the keyed stage reads and must drop
    await p.invoke('s1', keyedBatch.event);
    const [a, b] = halves(keyedBatch.event);
    await p.invoke('s1', b); // bisect may run either half first after a crash
    await p.invoke('s1', a);
  };

  const state = await p.stateItems();
  expect(state.length).toBeGreaterThan(0);
  await replayEverything();
  expect(await p.stateItems()).toEqual(state);

  await p.tick();
  const results = await p.results('it-replay-out');
  expect(results.length).toBeGreaterThan(0);
  const fired = await p.stateItems();
  await replayEverything();
  await p.tick();
  expect(await p.stateItems()).toEqual(fired);
  expect(await p.results('it-replay-out')).toEqual(results);
});

test('a two-stage job (shuffle, then keyed tumbling window) gives exactly the harness results', async () => {
  const definition = clickCounts('it-equal', { shards: 2 });
  const events = clicks(600, 25, 11);
  const p = await pipeline(definition, 100).create();
  await p.put(events, (e) => (e as Click).userId);
  await p.pump();
  await p.tick();
  const found = await p.results('it-equal-out');

  // The same events through the in-memory harness, up to the same watermark.
  const watermark = Math.max(...events.map((e) => e.ts)) - 2000 - 1;
  const h = harness(definition);
  await h.sendBatch(events);
  await h.watermark(watermark);
  const expected = h.table().sort((a, b) => (String(a.key) < String(b.key) ? -1 : String(a.key) > String(b.key) ? 1 : Number(a.windowStart) - Number(b.windowStart)));
  expect(found.length).toBeGreaterThan(10);
  expect(found).toEqual(expected);
});

test('malformed records land in the dead-letter table with reasons while the rest of the batch completes', async () => {
  const p = await pipeline(clickCounts('it-dead')).create();
  await p.put(['{not json', JSON.stringify({ userId: 'a', clicks: 'many', ts: T0 + 100 }), JSON.stringify(click('a', 2, 200)), JSON.stringify(click('a', 3, 9000))]);
  await p.pump();
  await p.tick();
  const dead = await p.scan('it-dead-dead-letters');
  expect(dead.map((d) => d.reason).sort()).toEqual([expect.stringMatching(/^malformed JSON/), expect.stringMatching(/field 'clicks' is not a number \("many"\)/)]);
  expect(dead.every((d) => typeof d.sequenceNumber === 'string' && String(d.shardId).startsWith('shardId-'))).toBe(true);
  expect(await p.results('it-dead-out')).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 2 }]);
});

test('a record arriving after its window fired goes to the late output', async () => {
  const p = await pipeline(clickCounts('it-late', { late: true })).create();
  await p.put([click('a', 1, 1000), click('a', 2, 2000), click('a', 1, 10_000)]);
  await p.pump();
  await p.tick();
  expect(await p.results('it-late-out')).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 3 }]);
  await p.put([click('a', 5, 1500), click('c', 4, 11_000)]);
  await p.pump();
  await p.tick();
  expect(await p.results('it-late-out')).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 3 }]);
  expect((await p.scan('it-late-late')).map(({ userId, clicks, ts }) => ({ userId, clicks, ts }))).toEqual([click('a', 5, 1500)]);
});

test('with allowed lateness, a late record updates the result already emitted', async () => {
  const p = await pipeline(clickCounts('it-lateness', { lateness: '5s', late: true })).create();
  await p.put([click('a', 1, 1000), click('a', 2, 2000), click('a', 1, 10_000)]);
  await p.pump();
  await p.tick();
  expect(await p.results('it-lateness-out')).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 3 }]);
  await p.put([click('a', 5, 1500), click('c', 4, 11_000)]);
  await p.pump();
  expect(await p.results('it-lateness-out')).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 8 }]);
  // Past the allowed lateness the window closes; later records for it are late.
  await p.put([click('b', 1, 20_000)]);
  await p.pump();
  await p.tick();
  await p.put([click('a', 7, 1600)]);
  await p.pump();
  expect((await p.results('it-lateness-out')).filter((r) => r.key === 'a' && r.windowStart === T0)).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 8 }]);
  expect((await p.scan('it-lateness-late')).map((r) => r.clicks)).toEqual([7]);
});

/**
 * Holds every caller until `parties` different ones are waiting at once, then lets all through (and every
 * later caller at once). Fails loudly when they do not meet within `timeoutMs`.
 */
function barrier(parties: number, what: string, timeoutMs = 30_000): { arrive(party: object): Promise<void>; readonly met: boolean } {
  const waiting = new Set<object>();
  let open: () => void;
  let fail: (e: Error) => void;
  const opened = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
  let met = false;
  const timer = setTimeout(() => fail(new Error(`${what}: only ${waiting.size} of ${parties} met within ${timeoutMs} ms`)), timeoutMs);
  return {
    get met() {
      return met;
    },
    arrive(party) {
      waiting.add(party);
      if (waiting.size === parties && !met) {
        met = true;
        clearTimeout(timer);
        open();
      }
      return opened;
    },
  };
}

test('the watermark function fires each due window once, even when three invocations are inside firing at once', async () => {
  const name = 'it-race';
  const definition = job(name)
    .source(kinesisSource<Click>(`${name}-clicks`, { eventTime: (c) => c.ts, outOfOrderness: '2s' }))
    .keyBy((c) => c.userId)
    .window(tumbling('5s'))
    .sum('clicks')
    .sink(logSink(`${name}-log`));
  const p = await pipeline(definition).create();
  const other = pipeline(definition); // a second container: its own backend and cache
  const events = clicks(300, 8, 3);
  await p.put(events);
  await p.pump();

  // Each invocation delivers to its own sinks, which hold its first deliveries until all three invocations have
  // read a due window and are delivering it: none has marked anything fired yet, so all three race for the same items.
  const inside = barrier(3, 'watermark invocations delivering at once');
  const logged: Record<string, unknown>[] = [];
  class RacingSinks extends SinkWriter {
    override async write(outputs: Parameters<SinkWriter['write']>[0]): Promise<void> {
      await inside.arrive(this);
      return super.write(outputs);
    }
  }
  const racingSinks = () => new RacingSinks(p.plan, p.ddb, p.kinesis, (line) => logged.push(JSON.parse(line)));
  await Promise.all([p.tick(racingSinks()), other.tick(racingSinks()), p.tick(racingSinks())]);
  expect(inside.met).toBe(true);

  const h = harness(definition);
  await h.sendBatch(events);
  await h.watermark(Math.max(...events.map((e) => e.ts)) - 2001);
  const idsByWindow = new Map<string, Set<unknown>>();
  for (const o of logged) {
    const w = `${o.key}/${o.windowStart}`;
    idsByWindow.set(w, (idsByWindow.get(w) ?? new Set()).add(o.id));
  }
  // Every due window, each under one id (a repeat delivery is the same firing), with the harness's result.
  expect(idsByWindow.size).toBe(h.results().length);
  for (const ids of idsByWindow.values()) expect(ids.size).toBe(1);
  const distinct = [...new Map(logged.map(({ sink: _sink, id, ...record }) => [id, record])).values()];
  const byKeyAndWindow = (a: Record<string, unknown>, b: Record<string, unknown>) => (String(a.key) < String(b.key) ? -1 : String(a.key) > String(b.key) ? 1 : Number(a.windowStart) - Number(b.windowStart));
  expect(distinct.sort(byKeyAndWindow)).toEqual(h.results().sort(byKeyAndWindow));
  // The race was real: for the first window of each key, two of the three invocations lost the conditional write.
  const keys = new Set(events.map((e) => e.userId)).size;
  expect(p.backend.counters.conditionFailures + other.backend.counters.conditionFailures).toBeGreaterThanOrEqual(2 * keys);
});

test('the keyed stage writes once per (key, window) per batch: under a fifth of one write per record at 1,000 Zipf users', async () => {
  const p = await pipeline(clickCounts('it-writes'), 500).create();
  let s = 99;
  const random = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const weights = Array.from({ length: 1000 }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const zipfUser = (): string => {
    let x = random() * total;
    for (let i = 0; i < weights.length; i++) if ((x -= weights[i]!) <= 0) return `user-${i}`;
    return 'user-999';
  };
  // 5,000 clicks at 10,000 events/s, put in batches of 500 (the source stage's batch size too).
  const events = Array.from({ length: 5000 }, (_, i) => ({ userId: zipfUser(), clicks: 1, ts: T0 + Math.floor(i / 10) }));
  await p.put(events, (e) => (e as Click).userId);
  await p.pump();
  const c = p.backend.counters;
  const itemWrites = c.addUpdates + c.puts;
  const windows = new Set(events.map((e) => `${e.userId}/${e.ts - (e.ts % 5000)}`));
  const perThousand = (itemWrites / events.length) * 1000;
  console.log(`state item writes: ${itemWrites} for ${events.length} events = ${perThousand.toFixed(0)} per 1,000 (one per record: 1,000); ${windows.size} distinct (user, window); meta writes ${c.metaWrites}; condition failures ${c.conditionFailures}`);
  // The source stage's 10 batches reach the keyed stage as envelopes it reads in one batch.
  expect(itemWrites).toBe(windows.size);
  expect(perThousand).toBeLessThanOrEqual(200);
});

/** State-item writes DynamoDB accepted and conditions it refused, counted on the wire (items only, not the meta rows). */
function countStateWritesOnTheWire(ddb: DynamoDBClient, table: string): { readonly counts: StateWriteCounts; stop(): void } {
  const counts = { writes: 0, conditionFailures: 0 };
  const name = `count-state-writes-${table}`;
  ddb.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string; Key?: { pk?: { S?: string } }; Item?: { pk?: { S?: string } } };
      const write = (context.commandName === 'UpdateItemCommand' || context.commandName === 'PutItemCommand') && input.TableName === table;
      const onItem = write && (input.Key ?? input.Item)?.pk?.S?.startsWith('k#') === true;
      try {
        const out = await next(args);
        if (onItem) counts.writes += 1;
        return out;
      } catch (e) {
        if (onItem && (e as Error).name === 'ConditionalCheckFailedException') counts.conditionFailures += 1;
        throw e;
      }
    },
    { step: 'initialize', name },
  );
  return { counts, stop: () => ddb.middlewareStack.remove(name) };
}

test('the state writes and refused conditions a batch and a tick report are the ones DynamoDB answered', async () => {
  const name = 'it-metrics';
  const p = await pipeline(clickCounts(name, { lateness: '10s' })).create();
  const wire = countStateWritesOnTheWire(p.ddb, p.plan.stateTable);
  try {
    // The keyed stage's container and the watermark function's: each backend counts its own writes.
    const stageBackend = p.backend;
    const watermarkBackend = new DynamoBackend(p.ddb, p.plan.stateTable, { clock: () => p.nowMs });
    const invocations: StageInvocation[] = [];
    const ticks: WatermarkTick[] = [];
    const keyedStage = (sinks: SinkWriter) =>
      createStageHandler({ plan: p.plan, stageId: 's1', backend: stageBackend, sinks, clock: () => p.nowMs, stateCounters: () => stateWriteCounts(stageBackend.counters), onInvocation: (i) => invocations.push(i) });
    const tick = createWatermarkHandler({ plan: p.plan, backend: watermarkBackend, sinks: p.sinks, clock: () => p.nowMs, stateCounters: () => stateWriteCounts(watermarkBackend.counters), onTick: (t) => ticks.push(t) });
    /** What DynamoDB answered while `step` ran. */
    const onTheWire = async (step: () => Promise<unknown>): Promise<StateWriteCounts> => {
      const before = { ...wire.counts };
      await step();
      return { writes: wire.counts.writes - before.writes, conditionFailures: wire.counts.conditionFailures - before.conditionFailures };
    };
    const reported = (r: StageInvocation | WatermarkTick | undefined) => ({ writes: r?.stateWrites, conditionFailures: r?.conditionFailures });

    // Four fresh windows: four blind ADDs; then the invocation dies before its commit (its sinks fail).
    class DyingSinks extends SinkWriter {
      override async write(): Promise<void> {
        throw new Error('killed after the state writes');
      }
    }
    p.handlers.set('s1', keyedStage(new DyingSinks(p.plan, p.ddb, p.kinesis)));
    await p.put([click('a', 2, 1000), click('a', 3, 2000), click('b', 1, 3000), click('a', 1, 6000), click('b', 1, 12_000)]);
    expect(await onTheWire(() => p.pump().catch((e: Error) => e.message))).toEqual({ writes: 4, conditionFailures: 0 });
    expect(invocations).toEqual([]);

    // Lambda retries the batch: every ADD's condition (the origin's mark) is refused, and nothing is written again.
    p.handlers.set('s1', keyedStage(p.sinks));
    const retried = await onTheWire(() => p.pump());
    expect(invocations).toHaveLength(1);
    expect(reported(invocations[0])).toEqual(retried);
    expect(retried).toEqual({ writes: 0, conditionFailures: 4 });

    // The tick fires the three windows the watermark (T + 9,999) has passed: one versioned put each.
    const fired = await onTheWire(() => tick());
    expect(ticks.map((t) => [t.stage, t.fired])).toEqual([['s1', 3]]);
    expect(reported(ticks[0])).toEqual(fired);
    expect(fired).toEqual({ writes: 3, conditionFailures: 0 });

    // A late click within the allowed lateness, and a click for a fresh window (a blind ADD). The stage's cache
    // holds the late click's window as the retry read it, before the tick fired it: the put under that version
    // is refused, the window read again and put, its result updated.
    const late = await onTheWire(() => p.put([click('a', 5, 1500), click('c', 4, 11_000)]).then(() => p.pump()));
    expect(invocations).toHaveLength(2);
    expect(reported(invocations[1])).toEqual(late);
    expect(late).toEqual({ writes: 2, conditionFailures: 1 });
    expect((await p.results(`${name}-out`)).filter((r) => r.key === 'a' && r.windowStart === T0)).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 10 }]);
  } finally {
    wire.stop();
  }
});
