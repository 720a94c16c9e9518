/**
 * The benchmark's job: examples/click-counts.ts (clicks per user per 5 seconds of event time) with a
 * chosen number of source shards. One file per shard count (click-counts-N.ts), because the embedded
 * runtime loads and bundles a job from a file.
 */
import { dynamoSink, job, kinesisSource, tumbling, type JobDefinition } from 'shardflow';

export type Click = { userId: string; clicks: number; ts: number };

export function clickCounts(shards: number): JobDefinition {
  return job('click-counts')
    .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s', shards }))
    .keyBy((c) => c.userId)
    .window(tumbling('5s'))
    .sum('clicks')
    .sink(dynamoSink('click-counts'));
}
