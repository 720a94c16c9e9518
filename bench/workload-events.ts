/**
 * Click events with arrival times, for the simulated pipeline and the naive design: the same seeded
 * Zipf clicks as bench/workload.ts, each put on the stream at the moment its event time was "now"
 * (event time lags arrival by up to the disorder, within the job's 2 s out-of-orderness).
 */
import { rng, zipf, type Click } from './workload';
import type { TimedEvent } from './lambda-sim';

export const T0 = 1_700_000_000_000;

/**
 * How producers partition the source stream: by user (the demo's choice: a user's clicks stay in order on
 * one shard), or at random when the busiest user alone would exceed what a shard takes.
 */
export type Partitioning = 'user' | 'random';

/** By user unless the busiest Zipf user (share 1/H(keys)) would put more than 800 records/s on its shard. */
export function partitioningFor(eventsPerSec: number, keys: number): Partitioning {
  let harmonic = 0;
  for (let i = 1; i <= keys; i++) harmonic += 1 / i;
  return eventsPerSec / harmonic > 800 ? 'random' : 'user';
}

export function timedClicks(opts: { count: number; keys: number; ratePerSec: number; disorderMs?: number; seed: number; partitionBy?: Partitioning }): TimedEvent[] {
  const random = rng(opts.seed);
  const user = zipf(opts.keys, 1.0, random);
  const disorder = opts.disorderMs ?? 1000;
  const out: TimedEvent[] = new Array(opts.count);
  for (let i = 0; i < opts.count; i++) {
    const arrivalMs = T0 + Math.floor((i * 1000) / opts.ratePerSec);
    const click: Click = { userId: `user-${user()}`, clicks: 1 + Math.floor(random() * 5), ts: arrivalMs - Math.floor(random() * disorder) };
    out[i] = { arrivalMs, partitionKey: opts.partitionBy === 'random' ? `p${Math.floor(random() * 2 ** 31)}` : click.userId, data: JSON.stringify(click) };
  }
  return out;
}

/**
 * Source shards a deployment needs for a rate: Kinesis takes 1,000 records/s per shard
 * (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html); sized at 80 % of it.
 */
export const shardsFor = (eventsPerSec: number): number => Math.max(1, Math.ceil(eventsPerSec / 800));

/**
 * Bytes one click takes on the shuffle stream, inside an envelope (key, origin, event time, the record):
 * measured by bench/cost.ts (shuffle KB/s ÷ events/s), which checks it on every run.
 */
export const SHUFFLE_BYTES_PER_EVENT = 140;

/**
 * The keyed stage's parallelism as a user would size it (the plan's default is the source's shard count):
 * its input stream carries envelopes, many events per record, so bytes decide — a shard takes 1 MB/s, and
 * 800 KB/s leaves a margin.
 */
export const keyedShardsFor = (eventsPerSec: number): number => Math.max(1, Math.ceil((eventsPerSec * SHUFFLE_BYTES_PER_EVENT) / (800 * 1024)));
