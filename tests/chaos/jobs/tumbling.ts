/** Chaos job: clicks per user per 2-second tumbling window (sum: the blind-ADD path), through a shuffle. */
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
import { namesOf, sourceOptions, TUMBLING_SIZE_MS, type ChaosEvent } from './settings';

const n = namesOf('tumbling');

export default job(n.job)
  .source(kinesisSource<ChaosEvent>(n.source, sourceOptions))
  .filter((e) => e.flush !== true)
  .keyBy((e) => e.userId)
  .window(tumbling(TUMBLING_SIZE_MS))
  .lateOutput(dynamoSink(n.late))
  .sum('clicks')
  .sink(dynamoSink(n.results));
