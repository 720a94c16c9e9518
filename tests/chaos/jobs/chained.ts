/**
 * Chaos job with two keyed stages: clicks per user per 2-second tumbling window (late records to the late
 * output), then, keyed by window, how many users clicked in it and their clicks — the first stage's results
 * shuffled through a second stream to a second keyed stage, its watermark following the first's markers.
 */
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
import { namesOf, sourceOptions, TUMBLING_SIZE_MS, type ChaosEvent } from './settings';

const n = namesOf('chained');

type Totals = { users: number; clicks: number };

export default job(n.job)
  .source(kinesisSource<ChaosEvent>(n.source, sourceOptions))
  .filter((e) => e.flush !== true)
  .keyBy((e) => e.userId)
  .window(tumbling(TUMBLING_SIZE_MS))
  .lateOutput(dynamoSink(n.late))
  .sum('clicks')
  .keyBy((perUser) => perUser.windowStart)
  .window(tumbling(TUMBLING_SIZE_MS))
  .aggregate<Totals, Totals>({
    create: () => ({ users: 0, clicks: 0 }),
    add: (a, perUser) => ({ users: a.users + 1, clicks: a.clicks + perUser.clicks }),
    merge: (a, b) => ({ users: a.users + b.users, clicks: a.clicks + b.clicks }),
    result: (a) => a,
  })
  .sink(dynamoSink(n.results));
