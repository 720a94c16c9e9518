/**
 * examples/nexmark-hot-items.sql written with the Table API: the same logical query, compiled to the
 * same stages. `npx shardflow plan examples/nexmark-hot-items.ts` prints them.
 */
import { $, dynamoSink, from, kinesisTable, Slide } from 'shardflow';

export const bids = kinesisTable('bids', {
  columns: { auction: 'BIGINT', bidder: 'BIGINT', price: 'BIGINT', channel: 'STRING', url: 'STRING', dateTime: 'TIMESTAMP(3)', extra: 'STRING' },
  watermark: { column: 'dateTime', outOfOrderness: '1s' },
  idleAfter: '5s',
});

export default from(bids)
  .window(Slide.over('10s').every('2s').on('dateTime').as('w'))
  .groupBy('w', 'auction')
  .select('auction', $('w').end().as('window_end'), $('*').count().as('bids'), $('bidder').count().distinct().as('bidders'), 'MAX(price) AS top_price')
  .where('bids >= 3')
  .insertInto(dynamoSink('nexmark-hot-items-table-api'), { job: 'hot-items-table-api' });
