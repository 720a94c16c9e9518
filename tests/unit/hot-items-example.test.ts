import { soleOutput, type StageOutput } from '../../lib/plan/plan';
import hotItems, { type ItemClick } from '../../examples/hot-items';
import { harness } from 'shardflow/testing';

const outputName = (o: StageOutput): string => (o.kind === 'sink' ? o.sink.name : o.stream);


const click = (itemId: string, ts: number): ItemClick => ({ itemId, userId: 'u', ts });

test('the hot-items example counts clicks per item per 10 s, then ranks the top 3 of each window in a second keyed stage', async () => {
  const h = harness(hotItems);
  // Window [0, 10000): pen 3, cup 2, hat 2, map 1 (cup before hat: equal counts rank by item id).
  for (const c of [click('pen', 100), click('hat', 200), click('cup', 300), click('pen', 4000), click('map', 5000), click('hat', 6000), click('cup', 7000), click('pen', 9999)]) await h.send(c);
  // Window [10000, 20000): only map.
  await h.send(click('map', 12_000));
  await h.watermark(9998);
  expect(h.results()).toEqual([]);
  await h.watermark(9999);
  expect(h.results()).toEqual([
    {
      key: '10000',
      windowStart: 0,
      windowEnd: 10_000,
      top: [
        { itemId: 'pen', clicks: 3 },
        { itemId: 'cup', clicks: 2 },
        { itemId: 'hat', clicks: 2 },
      ],
    },
  ]);
  await h.finish();
  expect(h.results().slice(1)).toEqual([{ key: '20000', windowStart: 10_000, windowEnd: 20_000, top: [{ itemId: 'map', clicks: 1 }] }]);
  expect(h.plan.stages.map((s) => ({ id: s.id, input: s.input.stream, output: outputName(soleOutput(s)!) }))).toEqual([
    { id: 's0', input: 'item-clicks', output: 'hot-items-s1' },
    { id: 's1', input: 'hot-items-s1', output: 'hot-items-s2' },
    { id: 's2', input: 'hot-items-s2', output: 'hot-items' },
  ]);
});
