/**
 * Chaos job with two sources: clicks and impressions, each on its own stream, keyed by user into
 * - an interval join: a click at t with every impression of its user at [t − 2 s, t + 1 s], one pair per
 *   match (a two-input keyed stage: both sides' records buffered in keyed state, cleaned as the watermark
 *   passes; a record behind the watermark is dropped, as in Flink);
 * - a coGroup on 2-second tumbling windows: per user and window, the clicks and the impressions (a second
 *   two-input keyed stage, on the same sources: its windows fire as the watermark passes them).
 * Clicks that are not numbers are refused before the key, in the source stages, so a bad record is dead-lettered
 * once, whatever it would have joined with.
 */
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
import { JOIN_LOWER_MS, JOIN_UPPER_MS, namesOf, sourceOptions, TUMBLING_SIZE_MS, type ChaosEvent } from './settings';

const n = namesOf('join');
const [clicksStream, impressionsStream] = n.sources as [string, string];

const checked = (e: ChaosEvent): ChaosEvent => {
  if (typeof e.clicks !== 'number') throw new TypeError(`clicks is ${JSON.stringify(e.clicks)}, not a number`);
  return e;
};

const chaos = job(n.job);
const clicks = chaos
  .source(kinesisSource<ChaosEvent>(clicksStream, sourceOptions))
  .filter((e) => e.flush !== true)
  .map(checked);
const impressions = chaos
  .source(kinesisSource<ChaosEvent>(impressionsStream, sourceOptions))
  .filter((e) => e.flush !== true)
  .map(checked);

clicks
  .keyBy((c) => c.userId)
  .intervalJoin(impressions.keyBy((i) => i.userId))
  .between(JOIN_LOWER_MS, JOIN_UPPER_MS)
  .process((c, i, ctx) => ({ userId: ctx.key, clickId: c.id, impressionId: i.id, clickTs: c.ts, impressionTs: i.ts, clicks: c.clicks, at: ctx.timestamp }))
  .sink(dynamoSink(n.results));

clicks
  .coGroup(impressions)
  .where((c) => c.userId)
  .equalTo((i) => i.userId)
  .window(tumbling(TUMBLING_SIZE_MS))
  .apply((cs, is, ctx) => ({
    key: ctx.key,
    windowStart: ctx.window.start,
    windowEnd: ctx.window.end,
    clickEvents: cs.length,
    clicks: cs.reduce((sum, c) => sum + c.clicks, 0),
    impressions: is.length,
  }))
  .sink(dynamoSink(n.windows));

export default chaos;
