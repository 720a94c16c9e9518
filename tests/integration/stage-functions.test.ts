/**
 * The stage and watermark functions on real emulators (kinesis-local, dynalite): records really put,
 * read back with GetRecords, handed to the real handlers; state really in DynamoDB.
 */
import { dynamoSink, job, kinesisSource, logSink, tumbling, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { pipelinesOnEmulators } from './pipeline';
import type { KinesisStreamEvent } from '../../lib/io/kinesis-event';
import { stateLayout } from '../../lib/plan/state-layout';
import { writeLayoutRecord } from '../../lib/state/dynamodb/dynamo-layout-record';
import { STATE_SCHEMA_VERSION } from '../../lib/state/state-schema';

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

  const state = await p.keyedState('s1');
  expect(Object.keys((Object.values(state)[0] as { keys: object }).keys).length).toBeGreaterThan(0);
  await replayEverything();
  expect(await p.keyedState('s1')).toEqual(state);
  p.loseCaches(); // and on a cold container
  await replayEverything();
  expect(await p.keyedState('s1')).toEqual(state);

  await p.tick();
  const results = await p.results('it-replay-out');
  expect(results.length).toBeGreaterThan(0);
  const fired = await p.keyedState('s1');
  await replayEverything();
  await p.tick();
  expect(await p.keyedState('s1')).toEqual(fired);
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
  await p.put([click('a', 5, 1500)]);
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
  await p.put([click('a', 5, 1500)]);
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

test('two containers running one keyed batch at once (a zombie and its retry) deliver each window once, with one value, and append one entry', async () => {
  const name = 'it-race';
  const definition = job(name)
    .source(kinesisSource<Click>(`${name}-clicks`, { eventTime: (c) => c.ts, outOfOrderness: '2s' }))
    .keyBy((c) => c.userId)
    .window(tumbling('5s'))
    .sum('clicks')
    .sink(logSink(`${name}-log`));
  const p = await pipeline(definition).create();
  const other = pipeline(definition); // a second container: its own cache of shard states
  const events = clicks(300, 8, 3);
  await p.put(events);
  const [source] = await p.shards('s0');
  const sourceBatch = await p.nextBatch('s0', source!);
  await p.invoke('s0', sourceBatch.event);
  const [keyedShard] = await p.shards('s1');
  const keyed = await p.nextBatch('s1', keyedShard!);
  // Both inside the batch at once: neither appends before both have run the batch and delivered it.
  let arrived = 0;
  let bothThere!: () => void;
  const barrier = new Promise<void>((resolve) => (bothThere = resolve));
  for (const store of [p.logs, other.logs]) {
    const append = store.append.bind(store);
    store.append = async (log, entry) => {
      if (++arrived === 2) bothThere();
      await barrier;
      return append(log, entry);
    };
  }
  const appendsBefore = p.logs.counters.appends + other.logs.counters.appends;
  await Promise.all([p.invoke('s1', keyed.event), other.invoke('s1', keyed.event)]);
  expect(arrived).toBe(2);
  expect(p.logs.counters.appends + other.logs.counters.appends - appendsBefore).toBe(1);
  expect(p.logs.counters.refused + other.logs.counters.refused).toBe(1);
  const outputs = [...p.logged, ...other.logged];
  const byWindow = new Map<string, Set<string>>();
  for (const o of outputs) {
    const w = `${o.key}/${o.windowStart}`;
    byWindow.set(w, (byWindow.get(w) ?? new Set()).add(JSON.stringify(o)));
  }
  const h = harness(definition);
  await h.sendBatch(events);
  await h.watermark(Math.max(...events.map((e) => e.ts)) - 2001);
  expect(byWindow.size).toBe(h.results().length);
  expect(byWindow.size).toBeGreaterThan(5);
  for (const versions of byWindow.values()) expect(versions.size).toBe(1);
});

test("a keyed batch costs one log entry, billed by the bytes it changed: a small fraction of a write unit per (key, window) at 1,000 Zipf users", async () => {
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
  const c = p.logs.counters;
  const windows = new Set(events.map((e) => `${e.userId}/${e.ts - (e.ts % 5000)}`));
  console.log(`state log: ${c.appends} entries, ${c.writeUnits} write units for ${events.length} events and ${windows.size} distinct (user, window) = ${(c.writeUnits / windows.size).toFixed(3)} per window (the per-item design: one per window per batch)`);
  // The source stage's 10 batches reach the keyed stage as envelopes it reads in one batch: one entry.
  expect(c.appends).toBe(1);
  expect(c.writeUnits / windows.size).toBeLessThan(0.1);
});

test('a late firing is not lost when another container fired the window meanwhile (issue 18: the late record then went into state, its result nowhere)', async () => {
  // Container A's cache holds the window before it fired; container B fires it (the marker passes its end);
  // then A gets the late record. A must read what B appended before it runs the batch: the record is a late
  // firing within the allowed lateness — its result updated, in state and in the sink.
  const p = await pipeline(clickCounts('it-late-firing', { lateness: '2s', late: true })).create();
  const [up] = await p.shards('s0');
  const [down] = await p.shards('s1');
  const keyedBatch = async (inputs: object[]): Promise<KinesisStreamEvent> => ({
    Records: inputs.map((data, i) => ({
      eventID: `${down}:${String(900 + i)}`,
      kinesis: { data: Buffer.from(JSON.stringify(data)).toString('base64'), sequenceNumber: String(900 + i), partitionKey: 'x', approximateArrivalTimestamp: p.nowMs / 1000 },
    })),
  });
  const row = (seq: number, clicks: number, offsetMs: number) => ['a', String(seq), 0, T0 + offsetMs, click('a', clicks, offsetMs)];
  const a = p.handlers;
  await a.get('s1')!(await keyedBatch([{ f: up, w: 0, r: [row(1, 1, 1000)] }]));
  p.loseCaches();
  const b = p.handlers;
  await b.get('s1')!(await keyedBatch([{ f: up, w: T0 + 6000, m: 1 }])); // B fires [T0, T0 + 5 s): clicks 1
  expect(await p.results('it-late-firing-out')).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 1 }]);
  await a.get('s1')!(await keyedBatch([{ f: up, w: 0, r: [row(2, 4, 2000)] }])); // A, with its stale cache
  expect(await p.results('it-late-firing-out')).toEqual([{ key: 'a', windowStart: T0, windowEnd: T0 + 5000, clicks: 5 }]);
  expect(await p.scan('it-late-firing-late')).toEqual([]);
  const state = (await p.keyedState('s1'))[down!] as { keys: Record<string, { w: unknown[][] }> };
  expect(state.keys.a!.w).toEqual([[T0, T0 + 5000, { sum: 5 }, 2]]);
});

test('sums follow one rounding rule whatever the path: the deployed stage and the harness give the same doubles (issue 18, defect 5)', async () => {
  // The per-item design summed exact decimals in a blind ADD and doubles when it read the item first, so
  // 0.1 + 0.2 was 0.3 or 0.30000000000000004 depending on a container's cache. Now every sum is a JavaScript
  // double in the shard's memory, as Flink sums Java doubles: cold containers and warm alike.
  const definition = clickCounts('it-doubles');
  const p = await pipeline(definition).create();
  const events = [click('a', 0.1, 100), click('a', 0.2, 200), click('b', 0.7, 300), click('b', 0.1, 400), click('c', 1, 9000)];
  await p.put(events.slice(0, 2));
  await p.pump();
  p.loseCaches(); // the next batch on a cold container
  await p.put(events.slice(2));
  await p.pump();
  const h = harness(definition);
  await h.sendBatch(events);
  await h.watermark(T0 + 9000 - 2001);
  const found = await p.results('it-doubles-out');
  expect(found).toEqual(h.table().sort((x, y) => String(x.key).localeCompare(String(y.key))));
  expect(found.map((r) => r.clicks)).toEqual([0.1 + 0.2, 0.7 + 0.1]);
});

test("a keyed stage function refuses state of a newer schema version than its shardflow reads, and runs once the recorded version is one it reads", async () => {
  const p = await pipeline(clickCounts('it-schema'), 100).create();
  // A newer shardflow's deploy recorded its layout (lib/state/dynamodb/dynamo-layout-record.ts); this function is older.
  const record = (schemaVersion: number) => writeLayoutRecord(p.ddb, p.plan.stateTable, { schemaVersion, layout: JSON.stringify(stateLayout(p.plan)), writtenAtMs: T0, writtenBy: 'shardflow deploy' });
  await record(STATE_SCHEMA_VERSION + 1);
  await p.put(clicks(50, 5), (e) => (e as Click).userId);
  const [s0shard] = await p.shards('s0');
  const source = await p.nextBatch('s0', s0shard!);
  await p.invoke('s0', source.event); // the source stage keeps no state: it runs
  p.checkpoint('s0', s0shard!, source.records);
  const [s1shard] = await p.shards('s1');
  const keyed = await p.nextBatch('s1', s1shard!);
  expect(keyed.records.length).toBeGreaterThan(0);
  await expect(p.invoke('s1', keyed.event)).rejects.toThrow(
    `the state table ${p.plan.stateTable} holds state of schema version ${STATE_SCHEMA_VERSION + 1}, and this function's shardflow reads up to version ${STATE_SCHEMA_VERSION}: a newer shardflow wrote it — deploy the job with that shardflow (or a newer one)`,
  );
  expect(await p.logs.readHead({ stageId: p.plan.stages[1]!.stateId, shardId: s1shard! })).toBeUndefined();
  // The same batch, retried after the state's version is one this shardflow reads, appends its entry.
  await record(STATE_SCHEMA_VERSION);
  await p.invoke('s1', keyed.event);
  expect((await p.logs.readHead({ stageId: p.plan.stages[1]!.stateId, shardId: s1shard! }))?.slot).toBe(1);
});
