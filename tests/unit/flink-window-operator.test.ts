/**
 * Cases transcribed from Apache Flink's own WindowOperatorTest
 * (flink-streaming-java/src/test/java/org/apache/flink/streaming/runtime/operators/windowing/WindowOperatorTest.java):
 * the same element timestamps, the same watermarks, the same expected outputs.
 *
 * How Flink's harness maps onto ours:
 * - `processElement(new StreamRecord<>(new Tuple2<>("key2", 1), 3999))` → `send({ f0: 'key2', f1: 1, ts: 3999 })`,
 *   keyed by f0 (Flink's TupleKeySelector). One element per `send`, because Flink handles elements one by one
 *   and we pre-aggregate per batch (a batch makes at most one late firing per window).
 * - `processWatermark(new Watermark(999))` → `watermark(999)`.
 * - Flink's output `StreamRecord(Tuple2(key, sum), window.maxTimestamp())` → our record
 *   `{ key, windowStart, windowEnd, ... }` with windowEnd − 1 = maxTimestamp; `Tuple3("key2-6", start, end)`
 *   from its SessionWindowFunction → `{ key, windowStart: start, windowEnd: end, label: 'key2-6' }`.
 * - `getSideOutput(lateOutputTag)` → the lateOutput sink's records.
 * - Flink compares with assertOutputEqualsSorted; we compare sorted lists after each watermark.
 * - Flink's snapshot/close/restore in the middle of a case has no counterpart here (state lives in the
 *   backend, not in the operator); those lines are left out, the elements and watermarks around them kept.
 */
import { dynamoSink, job, kinesisSource, session, sliding, tumbling, type DataStream, type JobDefinition, type WindowedStream } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';

/** What `.window(...)` takes: tumbling(...), sliding(...), session(...), countWindow(...). */
type WindowAssigner = ReturnType<typeof tumbling>;

/** Flink's Tuple2<String, Integer> with the StreamRecord timestamp as a field. */
type Tuple2 = { f0: string; f1: number; ts: number };

const element = (f0: string, f1: number, ts: number): Tuple2 => ({ f0, f1, ts });

const results = dynamoSink('flink-results');
const lateOutputTag = dynamoSink('late-output');

const windowed = (assigner: WindowAssigner): WindowedStream<Tuple2> =>
  job('flink-window-operator')
    .source(kinesisSource<Tuple2>('input', { eventTime: (t) => t.ts }))
    .keyBy((t) => t.f0)
    .window(assigner);

/** Flink's SumReducer: Tuple2(a.f0, a.f1 + b.f1). */
const sumReducer = (a: Tuple2, b: Tuple2): Tuple2 => ({ f0: a.f0, f1: a.f1 + b.f1, ts: a.ts });

/** Flink's RichSumReducer as a window function over the whole window (the `...Apply` variants). */
const sumOfWindow = ({ elements }: { elements: Tuple2[] }): { f1: number } => ({ f1: elements.reduce((s, t) => s + t.f1, 0) });

/** Our window results, reduced to what Flink's Tuple2(key, sum) output carries. */
const asTuple2 = (stream: DataStream<{ key: string; windowStart: number; windowEnd: number; f1: number }>): JobDefinition =>
  stream.map((r) => ({ key: r.key, windowStart: r.windowStart, windowEnd: r.windowEnd, sum: r.f1 })).sink(results);

/** Our session results as Flink's SessionWindowFunction output Tuple3(key + "-" + sum, start, end). */
const asTuple3 = (stream: DataStream<{ key: string; windowStart: number; windowEnd: number; f1: number }>): JobDefinition =>
  stream.map((r) => ({ key: r.key, windowStart: r.windowStart, windowEnd: r.windowEnd, label: `${r.key}-${r.f1}` })).sink(results);

/** Flink's `new StreamRecord<>(new Tuple2<>(key, sum), maxTimestamp)` for windows of `sizeMs`. */
const tuple2 =
  (sizeMs: number) =>
  (key: string, sum: number, maxTimestamp: number): Record<string, unknown> => ({ key, windowStart: maxTimestamp + 1 - sizeMs, windowEnd: maxTimestamp + 1, sum });

/** Flink's `new StreamRecord<>(new Tuple3<>(label, start, end), timestamp)`; the timestamp must be end − 1. */
function tuple3(label: string, start: number, end: number, timestamp: number): Record<string, unknown> {
  if (timestamp !== end - 1) throw new Error(`transcription error: ${label} has timestamp ${timestamp}, not ${end - 1}`);
  return { key: label.slice(0, label.lastIndexOf('-')), windowStart: start, windowEnd: end, label };
}

const byKeyAndWindow = (rs: readonly Record<string, unknown>[]): Record<string, unknown>[] =>
  [...rs].sort((a, b) => Number(a.windowEnd) - Number(b.windowEnd) || String(a.key).localeCompare(String(b.key)) || Number(a.windowStart) - Number(b.windowStart));

/** TestHarnessUtil.assertOutputEqualsSorted for the main output. */
const assertOutputEqualsSorted = (expected: Record<string, unknown>[], h: Harness): void =>
  expect(byKeyAndWindow(h.results())).toEqual(byKeyAndWindow(expected));

/** The same for the late-data side output. */
const assertSideOutputEqualsSorted = (expected: Tuple2[], h: Harness): void =>
  expect([...h.results('late-output')].sort((a, b) => Number(a.ts) - Number(b.ts))).toEqual([...expected].sort((a, b) => a.ts - b.ts));

describe("Flink's WindowOperatorTest", () => {
  // testSlidingEventTimeWindowsReduce (SumReducer) and testSlidingEventTimeWindowsApply (RichSumReducer over the window).
  test.each([
    ['testSlidingEventTimeWindowsReduce', (w: WindowedStream<Tuple2>) => asTuple2(w.reduce(sumReducer))],
    ['testSlidingEventTimeWindowsApply', (w: WindowedStream<Tuple2>) => asTuple2(w.process(sumOfWindow))],
  ])('%s', async (_name, build) => {
    const record = tuple2(3000);
    const h = harness(build(windowed(sliding('3s', '1s'))));
    const expected: Record<string, unknown>[] = [];

    // add elements out-of-order
    await h.send(element('key2', 1, 3999));
    await h.send(element('key2', 1, 3000));
    await h.send(element('key1', 1, 20));
    await h.send(element('key1', 1, 0));
    await h.send(element('key1', 1, 999));
    await h.send(element('key2', 1, 1998));
    await h.send(element('key2', 1, 1999));
    await h.send(element('key2', 1, 1000));

    await h.watermark(999);
    expected.push(record('key1', 3, 999));
    assertOutputEqualsSorted(expected, h);

    await h.watermark(1999);
    expected.push(record('key1', 3, 1999), record('key2', 3, 1999));
    assertOutputEqualsSorted(expected, h);

    await h.watermark(2999);
    expected.push(record('key1', 3, 2999), record('key2', 3, 2999));
    assertOutputEqualsSorted(expected, h);

    // (Flink snapshots, closes and restores the operator here.)
    await h.watermark(3999);
    expected.push(record('key2', 5, 3999));
    assertOutputEqualsSorted(expected, h);

    await h.watermark(4999);
    expected.push(record('key2', 2, 4999));
    assertOutputEqualsSorted(expected, h);

    await h.watermark(5999);
    expected.push(record('key2', 2, 5999));
    assertOutputEqualsSorted(expected, h);

    // those don't have any effect...
    await h.watermark(6999);
    await h.watermark(7999);
    assertOutputEqualsSorted(expected, h);
  });

  // testTumblingEventTimeWindowsReduce and testTumblingEventTimeWindowsApply.
  test.each([
    ['testTumblingEventTimeWindowsReduce', (w: WindowedStream<Tuple2>) => asTuple2(w.reduce(sumReducer))],
    ['testTumblingEventTimeWindowsApply', (w: WindowedStream<Tuple2>) => asTuple2(w.process(sumOfWindow))],
  ])('%s', async (_name, build) => {
    const record = tuple2(3000);
    const h = harness(build(windowed(tumbling('3s'))));
    const expected: Record<string, unknown>[] = [];

    // add elements out-of-order
    await h.send(element('key2', 1, 3999));
    await h.send(element('key2', 1, 3000));
    await h.send(element('key1', 1, 20));
    await h.send(element('key1', 1, 0));
    await h.send(element('key1', 1, 999));
    await h.send(element('key2', 1, 1998));
    await h.send(element('key2', 1, 1999));
    await h.send(element('key2', 1, 1000));

    await h.watermark(999);
    assertOutputEqualsSorted(expected, h);

    await h.watermark(1999);
    assertOutputEqualsSorted(expected, h);

    // (Flink snapshots, closes and restores the operator here.)
    await h.watermark(2999);
    expected.push(record('key1', 3, 2999), record('key2', 3, 2999));
    assertOutputEqualsSorted(expected, h);

    await h.watermark(3999);
    assertOutputEqualsSorted(expected, h);

    await h.watermark(4999);
    assertOutputEqualsSorted(expected, h);

    await h.watermark(5999);
    expected.push(record('key2', 2, 5999));
    assertOutputEqualsSorted(expected, h);

    // those don't have any effect...
    await h.watermark(6999);
    await h.watermark(7999);
    assertOutputEqualsSorted(expected, h);
  });

  // testSessionWindows (SessionWindowFunction over the window's elements) and testReduceSessionWindows
  // (SumReducer, then ReducedSessionWindowFunction). Both expect the same output.
  test.each([
    ['testSessionWindows', (w: WindowedStream<Tuple2>) => asTuple3(w.process(sumOfWindow))],
    ['testReduceSessionWindows', (w: WindowedStream<Tuple2>) => asTuple3(w.reduce(sumReducer))],
  ])('%s', async (_name, build) => {
    const h = harness(build(windowed(session('3s'))));
    const expected: Record<string, unknown>[] = [];

    // add elements out-of-order
    await h.send(element('key2', 1, 0));
    await h.send(element('key2', 2, 1000));
    await h.send(element('key2', 3, 2500));

    await h.send(element('key1', 1, 10));
    await h.send(element('key1', 2, 1000));

    // (Flink snapshots, closes and restores the operator here.)
    assertOutputEqualsSorted(expected, h);

    await h.send(element('key1', 3, 2500));

    await h.send(element('key2', 4, 5501));
    await h.send(element('key2', 5, 6000));
    await h.send(element('key2', 5, 6000));
    await h.send(element('key2', 6, 6050));

    await h.watermark(12000);

    expected.push(tuple3('key1-6', 10, 5500, 5499));
    expected.push(tuple3('key2-6', 0, 5500, 5499));
    expected.push(tuple3('key2-20', 5501, 9050, 9049));

    await h.send(element('key2', 10, 15000));
    await h.send(element('key2', 20, 15000));

    await h.watermark(17999);

    expected.push(tuple3('key2-30', 15000, 18000, 17999));

    assertOutputEqualsSorted(expected, h);
  });

  // testLateness: tumbling 2s, allowed lateness 500ms, late data to a side output.
  // Deviation by design: Flink's case uses PurgingTrigger.of(EventTimeTrigger), so its late firing emits only the
  // late element (1). We keep the window's contents until cleanup (Flink's default, accumulating EventTimeTrigger),
  // so the late firing emits the updated result (3), which overwrites the one in the results table.
  test('testLateness (accumulating instead of purging)', async () => {
    const record = tuple2(2000);
    const h = harness(asTuple2(windowed(tumbling('2s')).allowedLateness(500).lateOutput(lateOutputTag).reduce(sumReducer)));
    const expected: Record<string, unknown>[] = [];
    const lateExpected: Tuple2[] = [];

    await h.send(element('key2', 1, 500));
    await h.watermark(1500);

    await h.send(element('key2', 1, 1300));
    await h.watermark(2300);

    expected.push(record('key2', 2, 1999));
    assertOutputEqualsSorted(expected, h);

    // this will not be sideoutput because window.maxTimestamp() + allowedLateness > currentWatermark
    await h.send(element('key2', 1, 1997));
    // Flink: record('key2', 1, 1999) "because the trigger fires and purges"; we do not purge.
    expected.push(record('key2', 3, 1999));
    assertOutputEqualsSorted(expected, h);

    await h.watermark(6000);

    // this will be side output because window.maxTimestamp() + allowedLateness < currentWatermark
    await h.send(element('key2', 1, 1998));
    await h.watermark(7000);

    lateExpected.push(element('key2', 1, 1998));

    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted(lateExpected, h);
    expect(h.table()).toEqual([record('key2', 3, 1999)]);
  });

  // testSideOutputDueToLatenessTumbling: tumbling 2s, zero lateness.
  test('testSideOutputDueToLatenessTumbling', async () => {
    const record = tuple2(2000);
    const h = harness(asTuple2(windowed(tumbling('2s')).allowedLateness(0).lateOutput(lateOutputTag).reduce(sumReducer)));
    const expected: Record<string, unknown>[] = [];
    const sideExpected: Tuple2[] = [];

    // normal element
    await h.send(element('key2', 1, 1000));
    await h.watermark(1985);

    // this will not be dropped because window.maxTimestamp() + allowedLateness > currentWatermark
    await h.send(element('key2', 1, 1980));
    await h.watermark(1999);

    expected.push(record('key2', 2, 1999));

    // sideoutput as late, will reuse previous timestamp since only input tuple is sideoutputed
    await h.send(element('key2', 1, 1998));
    sideExpected.push(element('key2', 1, 1998));

    await h.send(element('key2', 1, 2001));
    await h.watermark(2999);

    await h.watermark(3999);

    expected.push(record('key2', 1, 3999));

    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted(sideExpected, h);
  });

  // testSideOutputDueToLatenessSliding: sliding 3s by 1s, zero lateness. An element late for some of its
  // windows but not all is kept for the others and not side-output.
  test('testSideOutputDueToLatenessSliding', async () => {
    const record = tuple2(3000);
    const h = harness(asTuple2(windowed(sliding('3s', '1s')).allowedLateness(0).lateOutput(lateOutputTag).reduce(sumReducer)));
    const expected: Record<string, unknown>[] = [];
    const sideExpected: Tuple2[] = [];

    await h.send(element('key2', 1, 1000));
    await h.watermark(1999);

    expected.push(record('key2', 1, 1999));
    assertOutputEqualsSorted(expected, h);

    await h.send(element('key2', 1, 2000));
    await h.watermark(3000);

    expected.push(record('key2', 2, 2999));
    assertOutputEqualsSorted(expected, h);

    await h.send(element('key1', 1, 3001));

    // lateness is set to 0 and window size = 3 sec and slide 1, the following 2 elements (2400)
    // are assigned to windows ending at 2999, 3999, 4999.
    // The 2999 is dropped because it is already late (WM = 2999) but the rest are kept.
    await h.send(element('key2', 1, 2400));
    await h.send(element('key2', 1, 2400));
    await h.send(element('key1', 1, 3001));
    await h.send(element('key2', 1, 3900));
    await h.watermark(6000);

    expected.push(record('key2', 5, 3999));
    expected.push(record('key1', 2, 3999));

    expected.push(record('key2', 4, 4999));
    expected.push(record('key1', 2, 4999));

    expected.push(record('key2', 1, 5999));
    expected.push(record('key1', 2, 5999));

    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted(sideExpected, h);

    // sideoutput element due to lateness
    await h.send(element('key1', 1, 3001));
    sideExpected.push(element('key1', 1, 3001));

    await h.watermark(25000);

    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted(sideExpected, h);
  });

  // testSideOutputDueToLatenessSessionZeroLateness: sessions with a 3s gap, zero lateness.
  test('testSideOutputDueToLatenessSessionZeroLateness', async () => {
    const h = harness(asTuple3(windowed(session('3s')).allowedLateness(0).lateOutput(lateOutputTag).reduce(sumReducer)));
    const expected: Record<string, unknown>[] = [];
    const sideExpected: Tuple2[] = [];

    await h.send(element('key2', 1, 1000));
    await h.watermark(1999);

    await h.send(element('key2', 1, 2000));
    await h.watermark(4998);

    // this will not be dropped because the session we're adding two has maxTimestamp after the current watermark
    await h.send(element('key2', 1, 4500));

    // new session
    await h.send(element('key2', 1, 8500));
    await h.watermark(7400);
    assertOutputEqualsSorted(expected, h);

    // this will merge the two sessions into one
    await h.send(element('key2', 1, 7000));
    await h.watermark(11501);

    expected.push(tuple3('key2-5', 1000, 11500, 11499));
    assertOutputEqualsSorted(expected, h);

    // new session
    await h.send(element('key2', 1, 11600));
    await h.watermark(14600);

    expected.push(tuple3('key2-1', 11600, 14600, 14599));
    assertOutputEqualsSorted(expected, h);

    // this is sideoutput as late, reuse last timestamp
    await h.send(element('key2', 1, 10000));
    sideExpected.push(element('key2', 1, 10000));

    await h.send(element('key2', 1, 14500));
    await h.watermark(20000);

    expected.push(tuple3('key2-1', 14500, 17500, 17499));

    await h.watermark(100000);

    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted(sideExpected, h);
  });

  // testNotSideOutputDueToLatenessSessionWithLateness: allowed lateness 10ms, accumulating EventTimeTrigger.
  // Lateness of a session element is decided on the merged session, not on [ts, ts + gap).
  test('testNotSideOutputDueToLatenessSessionWithLateness', async () => {
    const h = harness(asTuple3(windowed(session('3s')).allowedLateness(10).lateOutput(lateOutputTag).reduce(sumReducer)));
    const expected: Record<string, unknown>[] = [];

    await h.send(element('key2', 1, 1000));
    await h.watermark(1999);

    await h.send(element('key2', 1, 2000));
    await h.watermark(4998);

    // this will not be sideoutput because the session we're adding two has maxTimestamp after the current watermark
    await h.send(element('key2', 1, 4500));

    // new session
    await h.send(element('key2', 1, 8500));
    await h.watermark(7400);

    // this will merge the two sessions into one
    await h.send(element('key2', 1, 7000));
    await h.watermark(11501);

    expected.push(tuple3('key2-5', 1000, 11500, 11499));

    // new session
    await h.send(element('key2', 1, 11600));
    await h.watermark(14600);

    expected.push(tuple3('key2-1', 11600, 14600, 14599));
    assertOutputEqualsSorted(expected, h);

    // because of the small allowed lateness and because the trigger is accumulating
    // this will be merged into the session (11600-14600) and therefore will not be sideoutput as late
    await h.send(element('key2', 1, 10000));

    // adding ("key2", 1) extended the session to (10000-14600) for which maxTimestamp <= currentWatermark.
    // Therefore, we immediately get a firing
    expected.push(tuple3('key2-2', 10000, 14600, 14599));
    assertOutputEqualsSorted(expected, h);

    await h.send(element('key2', 1, 14500));
    assertOutputEqualsSorted(expected, h);

    await h.watermark(20000);

    expected.push(tuple3('key2-3', 10000, 17500, 17499));

    await h.watermark(100000);

    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted([], h);
  });

  // testNotSideOutputDueToLatenessSessionWithHugeLateness: allowed lateness 10s, accumulating EventTimeTrigger.
  test('testNotSideOutputDueToLatenessSessionWithHugeLateness', async () => {
    const h = harness(asTuple3(windowed(session('3s')).allowedLateness(10000).lateOutput(lateOutputTag).reduce(sumReducer)));
    const expected: Record<string, unknown>[] = [];

    await h.send(element('key2', 1, 1000));
    await h.watermark(1999);

    await h.send(element('key2', 1, 2000));
    await h.watermark(4998);

    // this will not be sideoutput because the session we're adding two has maxTimestamp after the current watermark
    await h.send(element('key2', 1, 4500));

    // new session
    await h.send(element('key2', 1, 8500));
    await h.watermark(7400);

    // this will merge the two sessions into one
    await h.send(element('key2', 1, 7000));
    await h.watermark(11501);

    expected.push(tuple3('key2-5', 1000, 11500, 11499));

    // new session
    await h.send(element('key2', 1, 11600));
    await h.watermark(14600);

    expected.push(tuple3('key2-1', 11600, 14600, 14599));
    assertOutputEqualsSorted(expected, h);

    await h.send(element('key2', 1, 10000));

    // the maxTimestamp of the merged session is already late, so we get an immediate firing
    expected.push(tuple3('key2-7', 1000, 14600, 14599));
    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted([], h);

    await h.send(element('key2', 1, 14500));
    // (not in Flink's case, but what its EventTimeTrigger implies) the session now ends at 17500, past the
    // watermark: it waits for the watermark instead of firing at once.
    assertOutputEqualsSorted(expected, h);
    await h.watermark(20000);

    expected.push(tuple3('key2-8', 1000, 17500, 17499));

    await h.watermark(100000);

    assertOutputEqualsSorted(expected, h);
    assertSideOutputEqualsSorted([], h);
  });

  // testCleanupTimerWithEmptyReduceStateForTumblingWindows: allowed lateness 1ms; the cleanup timer fires nothing.
  test('testCleanupTimerWithEmptyReduceStateForTumblingWindows', async () => {
    const h = harness(asTuple2(windowed(tumbling('2s')).allowedLateness(1).reduce(sumReducer)));

    // normal element
    await h.send(element('key2', 1, 1000));
    await h.watermark(1599);
    await h.watermark(1999);
    await h.watermark(2000);
    await h.watermark(5000);

    assertOutputEqualsSorted([tuple2(2000)('key2', 1, 1999)], h);
    expect(await h.state()).toEqual({}); // the window's state is gone once its cleanup time passed
  });
});
