/**
 * Flink's CoGroupJoinITCase (flink-tests, org.apache.flink.test.streaming.runtime), transcribed onto the
 * public harness: the same two finite sources (each element's watermark its time − 1, then the final
 * watermark at the end of input), tumbling 3 ms windows, and the same expected results, strings and all.
 */
import { job, kinesisSource, logSink, tumbling } from 'shardflow';
import { harness } from 'shardflow/testing';

type T2 = [string, number];
type T3 = [string, string, number];
const show = (t: readonly unknown[]): string => `(${t.join(',')})`;

/** Each element its own batch, in order, as Flink's source emits them one by one. */
async function sendAll(h: ReturnType<typeof harness>, source: string, elements: readonly unknown[]): Promise<void> {
  for (const e of elements) await h.send(e, { source });
}

/** Both sources coGrouped by their first field in tumbling 3 ms windows, each window's sides as one string. */
function coGroupHarness(name: string): ReturnType<typeof harness> {
  const j = job(name);
  // Flink's punctuated assigner emits time − 1 after each element: out-of-orderness 0 does the same.
  const source1 = j.source(kinesisSource<T2>('source1', { eventTime: (t) => t[1] }));
  const source2 = j.source(kinesisSource<T2>('source2', { eventTime: (t) => t[1] }));
  source1
    .coGroup(source2)
    .where((t) => t[0])
    .equalTo((t) => t[0])
    .window(tumbling(3))
    .apply((first, second) => ({ value: `F:${first.map(show).join('')} S:${second.map(show).join('')}` }))
    .sink(logSink('results'));
  return harness(j, { watermarks: 'strategy' });
}

test('testCoGroup', async () => {
  const h = coGroupHarness('cogroup');
  await sendAll(h, 'source1', [['a', 0], ['a', 1], ['a', 2], ['b', 3], ['b', 4], ['b', 5], ['a', 6], ['a', 7], ['a', 8]]);
  await sendAll(h, 'source2', [['a', 0], ['a', 1], ['b', 3], ['c', 6], ['c', 7], ['c', 8]]);
  await h.finish();
  expect(h.results('results').map((r) => r.value).sort()).toEqual(['F:(a,0)(a,1)(a,2) S:(a,0)(a,1)', 'F:(b,3)(b,4)(b,5) S:(b,3)', 'F:(a,6)(a,7)(a,8) S:', 'F: S:(c,6)(c,7)(c,8)'].sort());
});

test('a record for windows that have all fired is late: dropped from the join, and counted', async () => {
  const h = coGroupHarness('cogroup-late');
  await sendAll(h, 'source1', [['a', 0], ['a', 7]]);
  await sendAll(h, 'source2', [['a', 1], ['a', 7]]);
  // Both inputs at 6: [0, 3) has fired. A record of it now is late on either side.
  await sendAll(h, 'source1', [['a', 2]]);
  await sendAll(h, 'source2', [['a', 2]]);
  await h.finish();
  expect(h.late()).toEqual([
    ['a', 2],
    ['a', 2],
  ]);
  expect(h.results('results').map((r) => r.value)).toEqual(['F:(a,0) S:(a,1)', 'F:(a,7) S:(a,7)']);
});

const source3: T3[] = [
  ['a', 'x', 0],
  ['a', 'y', 1],
  ['a', 'z', 2],
  ['b', 'u', 3],
  ['b', 'w', 5],
  ['a', 'i', 6],
  ['a', 'j', 7],
  ['a', 'k', 8],
];

test('testJoin', async () => {
  const j = job('join');
  const source1 = j.source(kinesisSource<T3>('source1', { eventTime: (t) => t[2] }));
  const source2 = j.source(kinesisSource<T3>('source2', { eventTime: (t) => t[2] }));
  source1
    .join(source2)
    .where((t) => t[0])
    .equalTo((t) => t[0])
    .window(tumbling(3))
    .apply((first, second) => ({ value: `${show(first)}:${show(second)}` }))
    .sink(logSink('results'));
  const h = harness(j, { watermarks: 'strategy' });
  await sendAll(h, 'source1', source3);
  await sendAll(h, 'source2', [['a', 'u', 0], ['a', 'w', 1], ['b', 'i', 3], ['b', 'k', 5], ['a', 'x', 6], ['a', 'z', 8]]);
  await h.finish();
  expect(h.results('results').map((r) => r.value).sort()).toEqual(
    [
      '(a,x,0):(a,u,0)',
      '(a,x,0):(a,w,1)',
      '(a,y,1):(a,u,0)',
      '(a,y,1):(a,w,1)',
      '(a,z,2):(a,u,0)',
      '(a,z,2):(a,w,1)',
      '(b,u,3):(b,i,3)',
      '(b,u,3):(b,k,5)',
      '(b,w,5):(b,i,3)',
      '(b,w,5):(b,k,5)',
      '(a,i,6):(a,x,6)',
      '(a,i,6):(a,z,8)',
      '(a,j,7):(a,x,6)',
      '(a,j,7):(a,z,8)',
      '(a,k,8):(a,x,6)',
      '(a,k,8):(a,z,8)',
    ].sort(),
  );
});

test('testSelfJoin: one stream joined with itself (both inputs from one source stage)', async () => {
  const j = job('self-join');
  const source1 = j.source(kinesisSource<T3>('source1', { eventTime: (t) => t[2] }));
  source1
    .join(source1)
    .where((t) => t[0])
    .equalTo((t) => t[0])
    .window(tumbling(3))
    .apply((first, second) => ({ value: `${show(first)}:${show(second)}` }))
    .sink(logSink('results'));
  const h = harness(j, { watermarks: 'strategy' });
  await sendAll(h, 'source1', source3);
  await h.finish();
  const pairsOf = (window: T3[]): string[] => window.flatMap((a) => window.map((b) => `${show(a)}:${show(b)}`));
  expect(h.results('results').map((r) => r.value).sort()).toEqual([...pairsOf(source3.slice(0, 3)), ...pairsOf(source3.slice(3, 5)), ...pairsOf(source3.slice(5))].sort());
  expect(h.results('results')).toHaveLength(22);
});
