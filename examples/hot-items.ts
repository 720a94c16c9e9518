/**
 * Hot items (the seed's 6.1, Flink's "top N" example): clicks per item in 10-second windows, then the 3 most
 * clicked items of each window. Two keyed stages in one job: the second keys the first's window results by
 * their window (a result's event time is its window's last millisecond, so it lands in the same window).
 *   npx shardflow plan examples/hot-items.ts
 *   npx shardflow dev examples/hot-items.ts --no-demo      # then push { itemId, userId, ts } events to item-clicks
 */
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';

export type ItemClick = { itemId: string; userId: string; ts: number };
export type ItemClicks = { itemId: string; clicks: number };

/** The `n` items with the most clicks, most first; ties by item id, so a window's answer is one answer. */
export function topItems(n: number, counts: readonly ItemClicks[]): ItemClicks[] {
  return [...counts].sort((a, b) => b.clicks - a.clicks || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0)).slice(0, n);
}

export default job('hot-items')
  .source(kinesisSource<ItemClick>('item-clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s' }))
  .keyBy((c) => c.itemId)
  .window(tumbling('10s'))
  .count()
  .keyBy((perItem) => perItem.windowEnd)
  .window(tumbling('10s'))
  .process(({ elements }) => ({ top: topItems(3, elements.map((perItem) => ({ itemId: perItem.key, clicks: perItem.count }))) }))
  .sink(dynamoSink('hot-items'));
