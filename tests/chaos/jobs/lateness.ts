/**
 * Chaos job: clicks per user per 2-second tumbling window with 5 seconds of allowed lateness, through a
 * shuffle. The producer puts records for windows that have fired (each fires its window again, with the
 * updated sum) and for windows already dropped (to the late output).
 */
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
import { ALLOWED_LATENESS_MS, namesOf, sourceOptions, TUMBLING_SIZE_MS, type ChaosEvent } from './settings';

const n = namesOf('lateness');

export default job(n.job)
  .source(kinesisSource<ChaosEvent>(n.source, sourceOptions))
  .filter((e) => e.flush !== true)
  .keyBy((e) => e.userId)
  .window(tumbling(TUMBLING_SIZE_MS))
  .allowedLateness(ALLOWED_LATENESS_MS)
  .lateOutput(dynamoSink(n.late))
  .sum('clicks')
  .sink(dynamoSink(n.results));
