/**
 * Chaos job: events per user in 4-second windows sliding by 1 second (count: each event in four windows),
 * on a source declared partitioned by the user: the keyed operator runs in the source stage, no shuffle.
 */
import { dynamoSink, job, kinesisSource, sliding } from 'shardflow';
import { namesOf, SLIDING_SIZE_MS, SLIDING_SLIDE_MS, sourceOptions, type ChaosEvent } from './settings';

const n = namesOf('sliding');

export default job(n.job)
  .source(kinesisSource<ChaosEvent>(n.source, { ...sourceOptions, partitionedBy: 'userId' }))
  .filter((e) => e.flush !== true)
  .keyBy('userId')
  .window(sliding(SLIDING_SIZE_MS, SLIDING_SLIDE_MS))
  .lateOutput(dynamoSink(n.late))
  .count()
  .sink(dynamoSink(n.results));
