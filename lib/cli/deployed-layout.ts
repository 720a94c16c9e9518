import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoClient, resolveEndpoint } from '../io/aws-clients';
import { stageSuffix, withNameSuffix } from '../plan/naming';
import { sourceLanesOf, type Plan } from '../plan/plan';
import { describeChanges, schemaVersionOf, stateLayout, upgradeChanges, upgradeRefusal, type StateChange, type StateLayout } from '../plan/state-layout';
import { readLayoutRecord, writeLayoutRecord, writeUpgradeStart } from '../state/dynamodb/dynamo-layout-record';
import { DynamoLogStore } from '../state/dynamodb/dynamo-log-store';
import { ShardStates } from '../state/shard-states';
import { addReadPositions, upgradeStartOf, type ReadPositions } from '../state/upgrade-start';
import { stringFlag, UsageError, type ParsedArgs } from './args';
import { checkSchemaVersion, parseLayout, reportUpgrade } from './layout';

/** A job's state table, which records the state layout of the version running on it. */
export interface StateTable {
  readonly ddb: DynamoDBClient;
  readonly name: string;
  /** What holds the state, in messages: `shardflow dev`'s data directory, or the table and where it is. */
  readonly holder: string;
}

/** A table's recorded layout, and what wrote it when. */
interface RecordedLayout {
  readonly layout: StateLayout;
  readonly writtenBy: string;
  readonly writtenAtMs: number;
}

/**
 * The state table of a job that runs in `shardflow dev` (no stage: its edge, http://localhost:4566, or
 * `endpoint`) or is deployed on a stage (AWS, or `endpoint`; LocalStack's `local` stage on :4566 too), named
 * as the deployment names it (`click-counts-state-prod`), as `drain` and `rescale` find their streams.
 */
export function stateTableOf(plan: Plan, stage: string | undefined, options: { endpoint?: string | undefined; region?: string | undefined } = {}): StateTable {
  const endpoint = stage === undefined || stage === 'local' ? (resolveEndpoint(options.endpoint) ?? 'http://localhost:4566') : resolveEndpoint(options.endpoint);
  const name = withNameSuffix(plan, stageSuffix(stage)).stateTable;
  const ddb = dynamoClient({ ...(endpoint !== undefined && { endpoint }), ...(options.region !== undefined && { region: options.region }) });
  return { ddb, name, holder: `table ${name} (${endpoint ?? `AWS, ${options.region ?? 'the region your AWS configuration names'}`})` };
}

/** The layout recorded in the table, or undefined when nothing has run on it yet (no record, or no table: a first deploy). */
export async function recordedLayout(table: StateTable): Promise<RecordedLayout | undefined> {
  let record: Awaited<ReturnType<typeof readLayoutRecord>>;
  try {
    record = await readLayoutRecord(table.ddb, table.name);
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException') return undefined;
    const unreachable = (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (e as Error).name === 'TimeoutError';
    throw new UsageError(`cannot read the state layout of ${table.holder}: ${(e as Error).message}${unreachable ? ' — is the job running (`shardflow dev JOB`), or deployed (--deployed STAGE)?' : ''}`);
  }
  if (!record) return undefined;
  // The record's own version first: a newer shardflow may have changed the layout's format too.
  checkSchemaVersion(record.schemaVersion, table.holder);
  return { layout: parseLayout(record.layout, table.holder), writtenBy: record.writtenBy, writtenAtMs: record.writtenAtMs };
}

/** Records the job's layout, with this shardflow's schema version, as the one running on the table. */
export async function recordLayout(table: StateTable, plan: Plan, writtenBy: string): Promise<void> {
  await writeLayoutRecord(table.ddb, table.name, { schemaVersion: schemaVersionOf(plan), layout: JSON.stringify(stateLayout(plan)), writtenAtMs: Date.now(), writtenBy });
}

/**
 * Records, before the job's version starts on the table, where the running version had read each source
 * shard, for the keyed stages this version adds behind a source (lib/state/upgrade-start.ts) — read from the
 * kept keyed stages' logs. Every upgrade records it: a version that adds nothing records that it adds nothing.
 * Returns how many source shards have a recorded position, 0 when the version adds no such stage.
 */
async function recordUpgradeStart(table: StateTable, plan: Plan, recorded: RecordedLayout | undefined, changes: readonly StateChange[]): Promise<number> {
  // A first start (no table yet on a first deploy): nothing has read the source before it, and every stage starts at the source's start.
  if (!recorded) return 0;
  const added = new Set(changes.filter((c) => c.verdict === 'new').map((c) => c.stateId));
  const read: ReadPositions = {};
  if (plan.stages.some((s) => added.has(s.stateId) && sourceLanesOf(plan, s).length > 0)) {
    const store = new DynamoLogStore(table.ddb, table.name);
    // One shard's state at a time: only what it heard of its inputs is kept.
    const states = new ShardStates(store, { maxCachedBytes: 0 });
    for (const log of await store.listLogs(changes.filter((c) => c.verdict === 'kept').map((c) => c.stateId))) addReadPositions(read, plan, log.stageId, await states.current(log));
  }
  const start = upgradeStartOf(plan, added, read);
  await writeUpgradeStart(table.ddb, table.name, start, Date.now());
  return Object.values(start.positions).reduce((n, shards) => n + Object.keys(shards).length, 0);
}

/** What the job's version would do to the state in the table, and the record it was compared with. */
async function changesAgainst(table: StateTable, plan: Plan): Promise<{ recorded: RecordedLayout | undefined; changes: StateChange[] }> {
  const recorded = await recordedLayout(table);
  return { recorded, changes: upgradeChanges(recorded?.layout, plan) };
}

function againstRecord(table: StateTable, recorded: RecordedLayout | undefined): string {
  if (!recorded) return `against ${table.holder}, which records no state layout yet (a first deploy: every state starts empty)`;
  return `against ${table.holder}, recorded by ${recorded.writtenBy} at ${new Date(recorded.writtenAtMs).toISOString()}`;
}

/**
 * `plan JOB --against deployed [--deployed STAGE] [--endpoint URL] [--region R]`: what the job would keep,
 * start anew, drop or refuse on the state of the version running in `shardflow dev` or on the stage; 2
 * when the upgrade would be refused.
 */
export async function checkAgainstDeployed(plan: Plan, args: ParsedArgs, allowNonRestoredState: boolean): Promise<number> {
  const table = stateTableOf(plan, stringFlag(args, 'deployed'), { endpoint: stringFlag(args, 'endpoint'), region: stringFlag(args, 'region') });
  try {
    const { recorded, changes } = await changesAgainst(table, plan);
    return reportUpgrade(changes, againstRecord(table, recorded), allowNonRestoredState);
  } finally {
    table.ddb.destroy();
  }
}

/**
 * `shardflow deploy` on a deployment's state: the plan against the recorded layout before anything is
 * deployed (refused as `plan --against deployed` would refuse it: nothing deployed, 2), then `runDeploy`
 * (osls), and once it has deployed, the new version's layout recorded for the next deploy.
 */
export async function deployOnState(table: StateTable, plan: Plan, allowNonRestoredState: boolean, runDeploy: () => Promise<number>): Promise<number> {
  const { recorded, changes } = await changesAgainst(table, plan);
  if (reportUpgrade(changes, againstRecord(table, recorded), allowNonRestoredState) !== 0) {
    console.error('shardflow: nothing deployed');
    return 2;
  }
  const positions = await recordUpgradeStart(table, plan, recorded, changes);
  if (positions > 0) console.log(`shardflow: the keyed operators this version adds start where the running version had read the source (${positions} shard positions, recorded in ${table.holder})`);
  const code = await runDeploy();
  if (code !== 0) return code;
  try {
    await recordLayout(table, plan, 'shardflow deploy');
  } catch (e) {
    throw new UsageError(`deployed, but the state layout could not be recorded in ${table.holder}: ${(e as Error).message} — run the deploy again, or the next one is checked against the previous version's layout`);
  }
  console.log(`shardflow: state layout recorded in ${table.holder}`);
  return 0;
}

/**
 * `shardflow dev`, once its tables exist and before the job's functions start: refused when the state a
 * previous run left (`--data DIR`) does not fit the job, else the job's layout recorded for the next start.
 * Returns what changed, to print.
 */
export async function startOnState(table: StateTable, plan: Plan, allowNonRestoredState: boolean): Promise<string[]> {
  const { recorded, changes } = await changesAgainst(table, plan);
  const refusal = upgradeRefusal(changes, allowNonRestoredState);
  if (refusal !== undefined) throw new UsageError(`${table.holder} holds the state of another version of ${plan.job}: ${refusal}`);
  const positions = await recordUpgradeStart(table, plan, recorded, changes);
  await recordLayout(table, plan, 'shardflow dev');
  if (!recorded || changes.every((c) => c.verdict === 'kept')) return [];
  const started = positions > 0 ? [`  the keyed operators it adds start where the previous run had read the source (${positions} shard positions)`] : [];
  return [`state of the previous run in ${table.holder}:`, describeChanges(changes), ...started];
}
