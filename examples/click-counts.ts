/**
 * The seed's 4.1: clicks per user per 5 seconds of event time.
 * `npm start` runs it on the embedded runtime with a demo click stream.
 */
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';

export type Click = { userId: string; clicks: number; ts: number };

export default job('click-counts')
  .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s' }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .sum('clicks')
  .sink(dynamoSink('click-counts'));
