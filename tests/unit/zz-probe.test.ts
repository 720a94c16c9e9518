import { job, kinesisSource, tumbling, sliding, session, dynamoSink, valueState } from 'shardflow';
import { harness } from 'shardflow/testing';
type C = { userId: string; clicks: number; ts: number };
const src = () => kinesisSource<C>('clicks', { eventTime: (c) => c.ts });
test('probe', async () => {
  // 1. rejected-only window
  let h = harness(job('p').source(src()).keyBy((c) => c.userId).window(tumbling(1000)).sum('clicks').sink(dynamoSink('out')));
  await h.send({ userId: 'a', clicks: 'x', ts: 10 });
  await h.finish();
  console.log('1', JSON.stringify(h.results()), h.deadLetters().length);
  // 2. sliding dead letters
  h = harness(job('p').source(src()).keyBy((c) => c.userId).window(sliding(3000, 1000)).sum('clicks').sink(dynamoSink('out')));
  await h.send({ userId: 'a', clicks: 'x', ts: 2500 });
  console.log('2', h.deadLetters().length);
  // 3. session merge into fired session with lateness (Flink testNotSideOutputDueToLatenessSessionWithLateness)
  h = harness(job('p').source(src()).keyBy((c) => c.userId).window(session(3000)).allowedLateness(10).lateOutput(dynamoSink('late')).sum('clicks').sink(dynamoSink('out')));
  await h.send({ userId: 'a', clicks: 1, ts: 11600 });
  await h.watermark(14600);
  await h.send({ userId: 'a', clicks: 1, ts: 10000 });
  console.log('3', JSON.stringify(h.results()), JSON.stringify(h.late()));
  // 4. new window already due within lateness
  h = harness(job('p').source(src()).keyBy((c) => c.userId).window(tumbling(1000)).allowedLateness(5000).sum('clicks').sink(dynamoSink('out')));
  await h.watermark(2500);
  await h.send({ userId: 'a', clicks: 1, ts: 10 });
  console.log('4', JSON.stringify(h.results()));
});
