import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoClient, resolveEndpoint } from '../io/aws-clients';
import { stageSuffix, withNameSuffix } from '../plan/naming';
import type { Plan } from '../plan/plan';
import { describeChanges, schemaVersionOf, stateLayout, upgradeChanges, upgradeRefusal, type StateChange, type StateLayout } from '../plan/state-layout';
import { readLayoutRecord, writeLayoutRecord } from '../state/dynamodb/dynamo-layout-record';
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
  await recordLayout(table, plan, 'shardflow dev');
  return recorded && changes.some((c) => c.verdict !== 'kept') ? [`state of the previous run in ${table.holder}:`, describeChanges(changes)] : [];
}
