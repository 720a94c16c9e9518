import { groupPartitionKey, logicalShardsOf } from '../runtime/keyed/key-groups';
import { kinesisClient, dynamoClient, resolveEndpoint } from '../io/aws-clients';
import { encodeMarker } from '../io/envelope';
import { KinesisWriter } from '../io/kinesis-writer';
import { listShardIds } from '../io/shard-list';
import { stageSuffix, withNameSuffix } from '../plan/naming';
import { senderOf, type Plan } from '../plan/plan';
import { planJob } from '../plan/planner';
import { DynamoLogStore } from '../state/dynamodb/dynamo-log-store';
import { ShardStates } from '../state/shard-states';
import { END_OF_INPUT } from '../time/watermark';
import { parseArgs, stringFlag, UsageError } from './args';
import { loadJob } from './load-job';

/** How long `drain` waits for every keyed shard to fire everything, unless told otherwise. */
const DEFAULT_WAIT_MS = 10 * 60_000;

/**
 * `shardflow drain JOB [--endpoint URL] [--deployed STAGE]`: fires every open window and event-time timer
 * of a running job, as Flink's `stop --drain` does with its MAX_WATERMARK. It puts, on every shard of the
 * first keyed stage's stream, a marker from every source shard with the watermark at the end of time: that
 * stage's shards fire everything, and their own markers carry the end of time on down the line. It then
 * waits until every keyed shard's log says its watermark is there. Events that come after are late: stop
 * the producers first.
 */
export async function drain(argv: readonly string[], out: (line: string) => void = console.log): Promise<number> {
  const args = parseArgs(argv);
  const file = args.positionals[0];
  if (!file) throw new UsageError('drain needs a job file: shardflow drain examples/click-counts.ts');
  const deployed = stringFlag(args, 'deployed');
  const plan = withNameSuffix(planJob(loadJob(file)), stageSuffix(deployed));
  const keyed = plan.stages.filter((s) => s.keyed);
  if (keyed.length === 0) throw new UsageError(`job '${plan.job}' has no keyed stage: nothing to drain`);
  const inSource = keyed.find((s) => s.input.kind === 'source');
  if (inSource) {
    throw new UsageError(`${inSource.id} reads the source stream itself (partitionedBy): its watermark comes from the producers' events — put one far ahead on every source shard instead`);
  }
  const endpoint = deployed === undefined ? (resolveEndpoint(stringFlag(args, 'endpoint')) ?? 'http://localhost:4566') : resolveEndpoint(stringFlag(args, 'endpoint'));
  const kinesis = kinesisClient({ endpoint });
  const ddb = dynamoClient({ endpoint });
  try {
    // The keyed stages that sources feed get the end of time from every source shard on each lane; the
    // keyed stages after them follow, as their markers reach them.
    for (const stage of keyed) {
      const lanes = stage.input.kind === 'shuffle' ? stage.input.lanes.filter((l) => !plan.stages.find((s) => s.id === l.fromStage)!.keyed) : [];
      if (lanes.length === 0) continue;
      const senders: string[] = [];
      for (const lane of lanes) {
        const source = plan.stages.find((s) => s.id === lane.fromStage)!.input.stream;
        const upstream = await listShardIds(kinesis, source).catch((e: Error) => {
          throw new UsageError(`cannot list the shards of ${source} at ${endpoint ?? 'AWS'} (${e.message}) — is the job running (\`shardflow dev JOB\`) or deployed (--deployed STAGE)?`);
        });
        senders.push(...upstream.map((u) => senderOf(lane.name, u)));
      }
      const writer = new KinesisWriter(kinesis, stage.input.stream);
      // One chain per target shard: its markers, one per sender (markers are idempotent: a repeat changes nothing).
      const shards = await writer.openShards();
      // With key groups, one chain per (shard, key group), under the group's partition key (lib/runtime/keyed/key-groups.ts).
      const groups = stage.keyGroups;
      const partitionKeyOf = (sender: string, group: number): string => (groups <= 1 ? sender : groupPartitionKey(group));
      await writer.put(shards.flatMap((s) => Array.from({ length: groups }, (_, g) => senders.map((u) => ({ partitionKey: partitionKeyOf(u, g), data: encodeMarker(u, { watermarkMs: END_OF_INPUT }), explicitHashKey: s.startingHashKey.toString() })))));
      out(`${stage.id}: the end of time put on ${shards.length} shard(s) of ${stage.input.stream} from ${senders.length} source shard(s)`);
    }
    await untilFiredEverything(plan, kinesis, ddb, Date.now() + DEFAULT_WAIT_MS, out);
    out('drained: every window and event-time timer has fired; events put from now on are late');
    return 0;
  } finally {
    kinesis.destroy();
    ddb.destroy();
  }
}

/** Waits, stage by stage, until every open shard of each keyed stage has its watermark at the end of time. */
async function untilFiredEverything(plan: Plan, kinesis: ReturnType<typeof kinesisClient>, ddb: ReturnType<typeof dynamoClient>, deadline: number, out: (line: string) => void): Promise<void> {
  const states = new ShardStates(new DynamoLogStore(ddb, plan.stateTable));
  for (const stage of plan.stages.filter((s) => s.keyed)) {
    const writer = new KinesisWriter(kinesis, stage.input.stream);
    for (;;) {
      writer.forgetShards(); // a rescale may have changed them meanwhile
      const shards = await writer.openShards();
      const behind: string[] = [];
      for (const { shardId } of shards) {
        for (const logical of logicalShardsOf(shardId, stage.keyGroups)) {
          const state = await states.current({ stageId: stage.stateId, shardId: logical });
          if (state.watermarkMs < END_OF_INPUT) behind.push(logical);
        }
      }
      if (behind.length === 0) {
        out(`${stage.id}: all ${shards.length} shard(s) fired everything`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`${stage.id}: shards ${behind.join(', ')} have not fired everything within ${DEFAULT_WAIT_MS / 60_000} minutes — is the job running?`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
