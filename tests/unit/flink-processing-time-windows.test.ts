/**
 * Processing-time cases transcribed from Apache Flink's WindowOperatorTest
 * (flink-streaming-java/src/test/java/org/apache/flink/streaming/runtime/operators/windowing/WindowOperatorTest.java:
 * testProcessingTimeTumblingWindows, testProcessingTimeSlidingWindows, testProcessingTimeSessionWindows), with
 * the same processing times and expected outputs.
 *
 * How Flink's harness maps onto ours (see also flink-window-operator.test.ts):
 * - `setProcessingTime(t)` → `setProcessingTime(t)`: processing time moves to t and a tick arrives then, as
 *   the watermark function's do, firing what is due; what is sent afterwards arrives at t.
 * - An element's StreamRecord timestamp "is ignored in processing time" (Flink's comment): we send it as
 *   the event time all the same, and it plays no part.
 * - Output `StreamRecord(Tuple2(key, sum), window.maxTimestamp())` → `{ key, sum, maxTimestamp: windowEnd − 1 }`.
 */
import { dynamoSink, job, kinesisSource, session, sliding, tumbling } from 'shardflow';
import { harness, type Harness } from 'shardflow/testing';

type Tuple2 = { f0: string; f1: number; ts: number };

/** Flink's TupleKeySelector and SumReducer over a processing-time assigner. */
const sumWindows = (assigner: ReturnType<typeof tumbling>): Harness =>
  harness(
    job('flink-processing-time')
      .source(kinesisSource<Tuple2>('input', { eventTime: (t) => t.ts }))
      .keyBy((t) => t.f0)
      .window(assigner)
      .reduce((a, b) => ({ f0: a.f0, f1: a.f1 + b.f1, ts: a.ts }))
      .map((r) => ({ key: r.key, sum: r.f1, maxTimestamp: r.windowEnd - 1 }))
      .sink(dynamoSink('flink-results')),
  );

const processElement = (h: Harness, f0: string, f1: number, ts: number): Promise<void> => h.send({ f0, f1, ts });
const tuple2 = (key: string, sum: number, maxTimestamp: number) => ({ key, sum, maxTimestamp });

/** TestHarnessUtil.assertOutputEqualsSorted with Tuple2ResultSortComparator (by timestamp, then key). */
const assertOutputEqualsSorted = (expected: ReturnType<typeof tuple2>[], h: Harness): void => {
  const sorted = (rs: readonly Record<string, unknown>[]) => [...rs].sort((a, b) => Number(a.maxTimestamp) - Number(b.maxTimestamp) || String(a.key).localeCompare(String(b.key)) || Number(a.sum) - Number(b.sum));
  expect(sorted(h.results())).toEqual(sorted(expected));
};

const LONG_MAX_VALUE = Number.MAX_SAFE_INTEGER;

test('testProcessingTimeTumblingWindows', async () => {
  const h = sumWindows(tumbling('3s', { time: 'processing' }));
  const expectedOutput: ReturnType<typeof tuple2>[] = [];
  await h.setProcessingTime(3);
  // timestamp is ignored in processing time
  await processElement(h, 'key2', 1, LONG_MAX_VALUE);
  await processElement(h, 'key2', 1, 7000);
  await processElement(h, 'key2', 1, 7000);
  await processElement(h, 'key1', 1, 7000);
  await processElement(h, 'key1', 1, 7000);
  await h.setProcessingTime(5000);
  expectedOutput.push(tuple2('key2', 3, 2999), tuple2('key1', 2, 2999));
  assertOutputEqualsSorted(expectedOutput, h);
  await processElement(h, 'key1', 1, 7000);
  await processElement(h, 'key1', 1, 7000);
  await processElement(h, 'key1', 1, 7000);
  await h.setProcessingTime(7000);
  expectedOutput.push(tuple2('key1', 3, 5999));
  assertOutputEqualsSorted(expectedOutput, h);
});

test('testProcessingTimeSlidingWindows', async () => {
  const h = sumWindows(sliding('3s', '1s', { time: 'processing' }));
  const expectedOutput: ReturnType<typeof tuple2>[] = [];
  // timestamp is ignored in processing time
  await h.setProcessingTime(3);
  await processElement(h, 'key2', 1, LONG_MAX_VALUE);
  await h.setProcessingTime(1000);
  expectedOutput.push(tuple2('key2', 1, 999));
  assertOutputEqualsSorted(expectedOutput, h);
  await processElement(h, 'key2', 1, LONG_MAX_VALUE);
  await processElement(h, 'key2', 1, LONG_MAX_VALUE);
  await h.setProcessingTime(2000);
  expectedOutput.push(tuple2('key2', 3, 1999));
  assertOutputEqualsSorted(expectedOutput, h);
  await processElement(h, 'key1', 1, LONG_MAX_VALUE);
  await processElement(h, 'key1', 1, LONG_MAX_VALUE);
  await h.setProcessingTime(3000);
  expectedOutput.push(tuple2('key2', 3, 2999), tuple2('key1', 2, 2999));
  assertOutputEqualsSorted(expectedOutput, h);
  await processElement(h, 'key1', 1, LONG_MAX_VALUE);
  await processElement(h, 'key1', 1, LONG_MAX_VALUE);
  await processElement(h, 'key1', 1, LONG_MAX_VALUE);
  await h.setProcessingTime(7000);
  expectedOutput.push(tuple2('key2', 2, 3999), tuple2('key1', 5, 3999), tuple2('key1', 5, 4999), tuple2('key1', 3, 5999));
  assertOutputEqualsSorted(expectedOutput, h);
});

test('testProcessingTimeSessionWindows', async () => {
  const h = sumWindows(session('3s', { time: 'processing' }));
  const expectedOutput: ReturnType<typeof tuple2>[] = [];
  // timestamp is ignored in processing time
  await h.setProcessingTime(3);
  await processElement(h, 'key2', 1, 1);
  await h.setProcessingTime(1000);
  await processElement(h, 'key2', 1, 1002);
  await h.setProcessingTime(5000);
  expectedOutput.push(tuple2('key2', 2, 3999));
  assertOutputEqualsSorted(expectedOutput, h);
  await processElement(h, 'key2', 1, 5000);
  await processElement(h, 'key2', 1, 5000);
  await processElement(h, 'key1', 1, 5000);
  await processElement(h, 'key1', 1, 5000);
  await processElement(h, 'key1', 1, 5000);
  await h.setProcessingTime(10000);
  expectedOutput.push(tuple2('key2', 2, 7999), tuple2('key1', 3, 7999));
  assertOutputEqualsSorted(expectedOutput, h);
  expect(h.results()).toHaveLength(expectedOutput.length);
});
