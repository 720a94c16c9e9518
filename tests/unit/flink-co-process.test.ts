/**
 * Flink's KeyedCoProcessOperatorTest (flink-streaming-java, org.apache.flink.streaming.api.operators.co),
 * transcribed onto the public harness. Flink's harness sets each input's watermark directly; here a
 * record at `t + OUT_OF_ORDERNESS + 1` that the job filters out before the operator brings input watermark
 * `t`, and elements (at 42 ms) move no watermark that matters (see tests/unit/flink-interval-join.test.ts).
 */
import { job, kinesisSource, logSink, type KeyedCoProcessFunction, type StateDescriptor } from 'shardflow';
import { harness } from 'shardflow/testing';

const OUT_OF_ORDERNESS = 1000;
type In = { readonly value: string | number; readonly ts: number; readonly tick?: true };

function coProcessJob(fn: KeyedCoProcessFunction<number, string, Record<string, StateDescriptor>, { out: string }>) {
  const j = job('co-process');
  const input = (stream: string) =>
    j
      .source(kinesisSource<In>(stream, { eventTime: (e) => e.ts, outOfOrderness: OUT_OF_ORDERNESS }))
      .filter((e) => !e.tick)
      .map((e) => e.value);
  input('input1')
    .connect(input('input2'))
    .keyBy(
      (v) => String(v), // Flink's IntToStringKeySelector
      (v) => String(v), // IdentityKeySelector
    )
    .process(fn as unknown as KeyedCoProcessFunction<string | number, string | number, Record<string, StateDescriptor>, { out: string }>)
    .sink(logSink('out'));
  return harness(j, { watermarks: 'strategy' });
}

const watermark = async (h: ReturnType<typeof harness>, source: string, ts: number): Promise<void> => h.send({ value: 0, ts: ts + OUT_OF_ORDERNESS + 1, tick: true }, { source });

test('testGetCurrentKey: each input sees the current key', async () => {
  const h = coProcessJob({
    state: {},
    onEvent1: (value, ctx) => ctx.emit({ out: `${value},${ctx.key}` }),
    onEvent2: (value, ctx) => ctx.emit({ out: `${value},${ctx.key}` }),
  });
  await h.send({ value: 5, ts: 0 }, { source: 'input1' });
  await h.send({ value: 6, ts: 0 }, { source: 'input1' });
  await h.send({ value: 'hello', ts: 0 }, { source: 'input2' });
  await h.send({ value: 'world', ts: 0 }, { source: 'input2' });
  expect(h.results('out').map((r) => r.out)).toEqual(['5,5', '6,6', 'hello,hello', 'world,world']);
});

test('testGetCurrentKeyFromTimers: timers registered from either input fire with their key, on event time', async () => {
  const timeDomains: string[] = [];
  const h = coProcessJob({
    state: {},
    onEvent1: (value, ctx) => {
      ctx.emit({ out: `INPUT1:${value}` });
      ctx.timers.registerEventTime(5);
    },
    onEvent2: (value, ctx) => {
      ctx.emit({ out: `INPUT2:${value}` });
      ctx.timers.registerEventTime(6);
    },
    onTimer: (_ts, ctx) => {
      timeDomains.push(ctx.timeDomain);
      ctx.emit({ out: `${ctx.key}:1777` });
    },
  });
  await h.send({ value: 17, ts: 42 }, { source: 'input1' });
  await h.send({ value: '18', ts: 42 }, { source: 'input2' });
  await watermark(h, 'input1', 5);
  await watermark(h, 'input2', 5);
  expect(h.results('out').map((r) => r.out)).toEqual(['INPUT1:17', 'INPUT2:18', '17:1777']);
  await watermark(h, 'input1', 6);
  await watermark(h, 'input2', 6);
  expect(h.results('out').map((r) => r.out)).toEqual(['INPUT1:17', 'INPUT2:18', '17:1777', '18:1777']);
  expect(timeDomains).toEqual(['event', 'event']);
});
