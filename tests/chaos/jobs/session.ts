/**
 * Chaos job: per-user sessions with a 1.5-second gap, events and clicks per session (an aggregate
 * function: read-modify-write under versions, merging sessions), through a shuffle.
 */
import { dynamoSink, job, kinesisSource, session } from 'shardflow';
import { namesOf, SESSION_GAP_MS, sourceOptions, type ChaosEvent } from './settings';

const n = namesOf('session');

type Totals = { events: number; clicks: number };

export default job(n.job)
  .source(kinesisSource<ChaosEvent>(n.source, sourceOptions))
  .filter((e) => e.flush !== true)
  .keyBy((e) => e.userId)
  .window(session(SESSION_GAP_MS))
  .lateOutput(dynamoSink(n.late))
  .aggregate<Totals, Totals>({
    create: () => ({ events: 0, clicks: 0 }),
    add: (a, e) => {
      if (typeof e.clicks !== 'number') throw new TypeError(`clicks is ${JSON.stringify(e.clicks)}, not a number`);
      return { events: a.events + 1, clicks: a.clicks + e.clicks };
    },
    merge: (a, b) => ({ events: a.events + b.events, clicks: a.clicks + b.clicks }),
    result: (a) => a,
  })
  .sink(dynamoSink(n.results));
