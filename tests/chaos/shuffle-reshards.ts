/**
 * Reshards of a job's shuffle streams mid-run — the input streams of its keyed stages, where keyed state
 * lives: a SplitShard of one open shard, a MergeShards of two adjacent ones, or an UpdateShardCount that
 * doubles or halves the stream (`shardflow rescale`'s call). An on-demand stream gets splits and merges
 * only: that is how Kinesis scales one by itself (kinesis-local does not, so the harness does it for it),
 * and AWS refuses UpdateShardCount on it. Keyed state must follow its keys to the new shards
 * (docs/operations.md#rescaling-a-keyed-stage) with nothing lost or counted twice.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { StreamMode } from '../../lib/api/settings';
import { loadJob } from '../../lib/cli/load-job';
import { planJob } from '../../lib/plan/planner';
import type { Random } from './random';
import { listShards, mergeShards, splitShard, updateShardCount } from './stream';

export type ShuffleReshardKind = 'split' | 'merge' | 'update';

/** One reshard of a shuffle stream, at a share of the run's chunks. */
export interface ShuffleReshard {
  readonly stream: string;
  readonly kind: ShuffleReshardKind;
  /** Where in the run, as a share of the producer's chunks. */
  readonly at: number;
}

/** The shuffle streams of a job file, in stage order (a chained job's first keyed stage's, then its second's). */
export function shuffleStreamsOf(jobFile: string): string[] {
  return planJob(loadJob(jobFile))
    .streams.filter((s) => s.role === 'shuffle')
    .map((s) => s.name);
}

/**
 * The reshards of a run: `perStream` for each shuffle stream, their kinds drawn from the seed, between a
 * quarter and a half of the run — after the source's first split, and before the lateness pauses (a shard a
 * reshard opens holds its stage's watermark until its first batch: the pauses wait for that watermark). Each
 * stream at its own moments, so a chained job's two keyed stages are resharded one after the other.
 */
export function shuffleReshardSchedule(streams: readonly string[], perStream: number, mode: StreamMode, random: Random): ShuffleReshard[] {
  const kinds: readonly ShuffleReshardKind[] = mode === 'on-demand' ? ['split', 'merge'] : ['split', 'merge', 'update'];
  const slots = streams.length * perStream;
  return streams.flatMap((stream, i) =>
    Array.from({ length: perStream }, (_, j) => ({ stream, kind: random.pick(kinds), at: 0.25 + (0.25 * (j * streams.length + i + 0.5)) / slots })),
  );
}

/**
 * Does one reshard; says what it did. A merge with one open shard splits instead. An update doubles or
 * halves the stream, drawn (UpdateShardCount's limits: at most double, at least half, per call): one shard
 * doubles, four or more halve, so the run stays small.
 */
export async function reshardShuffle(kinesis: KinesisClient, reshard: ShuffleReshard, random: Random): Promise<{ kind: ShuffleReshardKind; what: string }> {
  const pick = <T>(items: readonly T[]): T => random.pick(items);
  const { stream } = reshard;
  if (reshard.kind === 'merge') {
    const pair = await mergeShards(kinesis, stream, pick);
    if (pair) return { kind: 'merge', what: `merged ${stream} ${pair.join(' + ')}` };
  }
  if (reshard.kind === 'update') {
    const open = (await listShards(kinesis, stream)).filter((s) => s.open).length;
    const double = open <= 1 || (open < 4 && random.chance(0.5));
    const target = double ? open * 2 : Math.ceil(open / 2);
    await updateShardCount(kinesis, stream, target);
    return { kind: 'update', what: `UpdateShardCount ${stream} ${open} → ${target}` };
  }
  const shard = await splitShard(kinesis, stream, pick);
  return { kind: 'split', what: `split ${stream} ${shard}` };
}
