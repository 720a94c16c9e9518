import { DescribeStreamSummaryCommand, ListShardsCommand, UpdateShardCountCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { attachesToExisting } from '../api/source';
import { kinesisClient, resolveEndpoint } from '../io/aws-clients';
import { stageSuffix, withNameSuffix } from '../plan/naming';
import type { Stage } from '../plan/plan';
import { planJob } from '../plan/planner';
import { parseArgs, stringFlag, UsageError } from './args';
import { loadJob } from './load-job';

/** Kinesis' default shard quota per stream (the planner's limit too). */
const MAX_SHARDS = 500;
/** How long a reshard may take to finish before the command gives up waiting (AWS: "a few minutes"). */
const ACTIVE_TIMEOUT_MS = 10 * 60_000;

/**
 * `shardflow rescale JOB --stage s1 --shards N [--endpoint URL] [--deployed STAGE]`: a stage's input
 * stream to N shards while the job runs, with Kinesis' UpdateShardCount (UNIFORM_SCALING: it splits and
 * merges shards into equal hash ranges). Nothing stops: each new shard's function starts from its parent
 * shards' state for the keys of its hash range (lib/runtime/keyed/inheritance.ts), after the parents'
 * last records, and the stages sending to it route by the new shards from their next batch
 * (lib/io/shuffle-emitter.ts). Locally against `shardflow dev`'s edge; with `--deployed STAGE` the
 * deployment's stream (AWS, or `--endpoint` for LocalStack).
 */
export async function rescale(argv: readonly string[], out: (line: string) => void = console.log, kinesisFor: (endpoint: string | undefined) => KinesisClient = (endpoint) => kinesisClient({ endpoint })): Promise<number> {
  const args = parseArgs(argv);
  const file = args.positionals[0];
  const stageId = stringFlag(args, 'stage');
  const target = Number(stringFlag(args, 'shards'));
  if (!file || stageId === undefined || stringFlag(args, 'shards') === undefined) throw new UsageError('rescale needs a job, a stage and a shard count: shardflow rescale examples/click-counts.ts --stage s1 --shards 4');
  if (!Number.isInteger(target) || target < 1 || target > MAX_SHARDS) throw new UsageError(`--shards ${String(stringFlag(args, 'shards'))}: use a whole number from 1 to ${MAX_SHARDS}`);
  const deployed = stringFlag(args, 'deployed');
  const plan = withNameSuffix(planJob(loadJob(file)), stageSuffix(deployed));
  const stage = plan.stages.find((s) => s.id === stageId);
  if (!stage) throw new UsageError(`--stage ${stageId}: job '${plan.job}' has stages ${plan.stages.map((s) => s.id).join(', ')}`);
  refuseFixed(stage);
  const stream = stage.input.stream;
  const endpoint = deployed === undefined ? (resolveEndpoint(stringFlag(args, 'endpoint')) ?? 'http://localhost:4566') : resolveEndpoint(stringFlag(args, 'endpoint'));
  const kinesis = kinesisFor(endpoint);
  try {
    const before = await summary(kinesis, stream, endpoint);
    if (before.onDemand) {
      throw new UsageError(
        `stream ${stream} is in on-demand mode: Kinesis scales it by itself (UpdateShardCount is for provisioned streams) — to choose its shards, make the stage provisioned in the job (.settings({ streamMode: 'provisioned' }) with its ${stage.input.kind === 'source' ? "kinesisSource shards" : '.parallelism(n)'}) and deploy`,
      );
    }
    if (before.openShards === target) {
      out(`${stage.id}: stream ${stream} has ${target} shard(s) already`);
      return 0;
    }
    // UpdateShardCount's own limits: at most double, at least half the current count per call.
    const [low, high] = [Math.ceil(before.openShards / 2), before.openShards * 2];
    if (target < low || target > high) {
      const step = target > high ? high : low;
      throw new UsageError(`--shards ${target}: Kinesis rescales ${stream} from ${before.openShards} shard(s) to at most double and at least half in one step — go to ${step} first, then on`);
    }
    await kinesis.send(new UpdateShardCountCommand({ StreamName: stream, TargetShardCount: target, ScalingType: 'UNIFORM_SCALING' }));
    const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
    let after = before;
    while (!((after = await summary(kinesis, stream, endpoint)).active && after.openShards === target)) {
      if (Date.now() > deadline) throw new Error(`stream ${stream} is not ACTIVE with ${target} shards after ${ACTIVE_TIMEOUT_MS / 60_000} minutes (now ${after.openShards} open, ${after.status})`);
      await new Promise((r) => setTimeout(r, 500));
    }
    out(`${stage.id}: stream ${stream} from ${before.openShards} to ${target} shard(s): ${(await openShardIds(kinesis, stream)).join(', ')}`);
    out(`  each new shard starts from its parents' state for its hash range once they are done; change the job's ${stage.input.kind === 'source' ? "kinesisSource shards" : '.parallelism(n)'} to ${target} too, or the next deploy sets it back`);
    return 0;
  } finally {
    kinesis.destroy();
  }
}

/** Streams the job does not own, and a windowAll's one-key stream, keep their shards. */
function refuseFixed(stage: Stage): void {
  if (stage.input.kind === 'shuffle' && stage.input.global) throw new UsageError(`${stage.id} is a windowAll: every record has one key, so more shards would stay idle`);
  if (stage.input.kind === 'source' && attachesToExisting(stage.input.source)) {
    throw new UsageError(`${stage.id} reads ${stage.input.source.stream}, a stream that exists without the job: reshard it where it is owned`);
  }
}

async function summary(kinesis: KinesisClient, stream: string, endpoint: string | undefined): Promise<{ openShards: number; active: boolean; status: string; onDemand: boolean }> {
  try {
    const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    return { openShards: s?.OpenShardCount ?? 0, active: s?.StreamStatus === 'ACTIVE', status: s?.StreamStatus ?? 'unknown', onDemand: s?.StreamModeDetails?.StreamMode === 'ON_DEMAND' };
  } catch (e) {
    const name = (e as Error).name;
    if (name === 'ResourceNotFoundException') throw new UsageError(`no stream '${stream}' at ${endpoint ?? 'AWS'} — is the job running (\`shardflow dev JOB\`) or deployed (--deployed STAGE)?`);
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED' || name === 'TimeoutError') throw new UsageError(`nothing answers at ${endpoint} — start \`shardflow dev JOB\` first, or pass --endpoint / --deployed`);
    throw e;
  }
}

async function openShardIds(kinesis: KinesisClient, stream: string): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }));
    for (const shard of page.Shards ?? []) if (shard.SequenceNumberRange?.EndingSequenceNumber === undefined) ids.push(shard.ShardId!);
    token = page.NextToken;
  } while (token);
  return ids;
}
