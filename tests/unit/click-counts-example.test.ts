import { soleOutput } from '../../lib/plan/plan';
import clickCounts from '../../examples/click-counts';
import { harness } from 'shardflow/testing';

test('the clicks example counts clicks per user in 5-second windows and fires them at the watermark', async () => {
  const h = harness(clickCounts);
  await h.send({ userId: 'a', clicks: 2, ts: 1000 });
  await h.send({ userId: 'a', clicks: 3, ts: 4000 });
  await h.send({ userId: 'b', clicks: 1, ts: 4500 });
  await h.send({ userId: 'a', clicks: 1, ts: 5000 });
  await h.watermark(4999);
  expect(h.results()).toEqual([
    { key: 'a', windowStart: 0, windowEnd: 5000, clicks: 5 },
    { key: 'b', windowStart: 0, windowEnd: 5000, clicks: 1 },
  ]);
  expect(h.plan.stages.map((s) => ({ id: s.id, input: s.input.stream, output: soleOutput(s)!.kind }))).toEqual([
    { id: 's0', input: 'clicks', output: 'shuffle' },
    { id: 's1', input: 'click-counts-s1', output: 'sink' },
  ]);
});
