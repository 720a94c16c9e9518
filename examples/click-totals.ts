/**
 * The seed's 4.2: each user's running total of clicks, kept in keyed value state. Every click is
 * emitted again with the total so far; the results table keeps the latest total per user.
 */
import { dynamoSink, job, kinesisSource, valueState } from 'shardflow';

export type Click = { userId: string; clicks: number; ts: number };
export type ClickTotal = Click & { clickCount: number };

export default job('click-totals')
  .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s' }))
  .keyBy((c) => c.userId)
  .process({
    state: { clickCount: valueState(0) },
    onEvent(click, ctx) {
      const total = ctx.state.clickCount.value() + click.clicks;
      ctx.state.clickCount.update(total);
      ctx.emit({ ...click, clickCount: total });
    },
  })
  .sink(dynamoSink('click-totals', { key: (r) => String(r.userId) }));
