/**
 * Seeded workloads for benchmarks: click events with Zipf-distributed users and bounded disorder.
 */

import { dynamoSink, job, kinesisSource, tumbling, type JobDefinition } from 'shardflow';
import { seededRandom } from '../lib/local/demo';

/** A small, fast, seeded PRNG (mulberry32, the demo generator's): every run sees the same events. */
export const rng = seededRandom;


/** Samples ranks 0..n-1 with probability ∝ 1/(rank+1)^s (inverse CDF over a precomputed table). */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / Math.pow(i + 1, s);
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export interface Click {
  userId: string;
  clicks: number;
  ts: number;
}

/**
 * `count` clicks from `users` Zipf users at `ratePerSec` events per second of event time, each shifted
 * back by up to `disorderMs` (within a job's out-of-orderness bound).
 */
export function clicks(opts: { count: number; users: number; ratePerSec: number; disorderMs: number; seed: number; startMs?: number }): Click[] {
  const random = rng(opts.seed);
  const user = zipf(opts.users, 1.0, random);
  const start = opts.startMs ?? 1_700_000_000_000;
  const out: Click[] = new Array(opts.count);
  for (let i = 0; i < opts.count; i++) {
    const ts = start + Math.floor((i * 1000) / opts.ratePerSec) - Math.floor(random() * opts.disorderMs);
    out[i] = { userId: `user-${user()}`, clicks: 1 + Math.floor(random() * 5), ts };
  }
  return out;
}

/** Median, min and max of samples. */
export function summary(samples: number[]): { median: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/**
 * examples/click-counts.ts under the name `name` (its own streams and tables), on `shards` source shards;
 * the keyed stage on `keyedShards` (its `.parallelism`), by default as many as the source.
 */
export function clickCountsNamed(name: string, shards: number, keyedShards = shards): JobDefinition {
  return job(name)
    .source(kinesisSource<Click>(`${name}-clicks`, { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s', shards }))
    .keyBy((c) => c.userId)
    .window(tumbling('5s'))
    .sum('clicks')
    .parallelism(keyedShards)
    .sink(dynamoSink(`${name}-out`));
}
