import * as fs from 'node:fs';
import type { Plan } from '../plan/plan';
import { describeChanges, STATE_SCHEMA_VERSION, stateLayout, upgradeChanges, upgradeRefusal, type StateChange, type StateLayout } from '../plan/state-layout';
import { stringFlag, UsageError, type ParsedArgs } from './args';

/** `--against deployed`: the layout recorded in a running or deployed job's state table, not a file. */
const DEPLOYED = 'deployed';

/**
 * `plan --save-layout FILE` writes the job's state layout; `plan --against FILE` says what an upgrade from
 * that layout keeps, starts anew, drops or refuses, and exits 2 when it would be refused. `--against
 * deployed` compares with the layout recorded in the job's state table (lib/cli/deployed-layout.ts).
 */
export async function checkLayout(plan: Plan, args: ParsedArgs): Promise<number> {
  const save = stringFlag(args, 'save-layout');
  if (save !== undefined) {
    fs.writeFileSync(save, `${JSON.stringify(stateLayout(plan), null, 2)}\n`);
    console.log(`\nstate layout written to ${save}`);
  }
  const against = stringFlag(args, 'against');
  if (against !== DEPLOYED && stringFlag(args, 'deployed') !== undefined) {
    throw new UsageError(`--deployed ${stringFlag(args, 'deployed')} says which deployment to compare with: add --against deployed`);
  }
  if (against === undefined) return 0;
  const allowNonRestoredState = args.flags.get('allow-non-restored-state') === true;
  if (against === DEPLOYED) {
    const { checkAgainstDeployed } = require('./deployed-layout') as typeof import('./deployed-layout'); // loaded lazily: a plain `plan` needs no AWS SDK
    return await checkAgainstDeployed(plan, args, allowNonRestoredState);
  }
  if (!fs.existsSync(against)) throw new UsageError(`${against}: no such file (write one with shardflow plan JOB --save-layout ${against})`);
  return reportUpgrade(upgradeChanges(parseLayout(fs.readFileSync(against, 'utf8'), against), plan), `against ${against}`, allowNonRestoredState);
}

/** Prints what an upgrade keeps, starts anew, drops or refuses; 2 when it would be refused. */
export function reportUpgrade(changes: readonly StateChange[], against: string, allowNonRestoredState: boolean): number {
  console.log(`\nstate, ${against}:\n${describeChanges(changes)}`);
  const refusal = upgradeRefusal(changes, allowNonRestoredState);
  if (refusal === undefined) return 0;
  console.error(`shardflow: the upgrade would be refused: ${refusal}`);
  return 2;
}

/** A state layout from its JSON (a file's, or a state table's record); `where` names it in errors. */
export function parseLayout(text: string, where: string): StateLayout {
  let layout: StateLayout;
  try {
    layout = JSON.parse(text) as StateLayout;
  } catch (e) {
    throw new UsageError(`${where}: not a state layout (${(e as Error).message})`);
  }
  checkSchemaVersion(layout?.version, where);
  if (!Array.isArray(layout.operators)) throw new UsageError(`${where}: not a state layout (no operators)`);
  return layout;
}

/** Refuses state of a schema version this shardflow does not know: newer (written by a newer shardflow), or none. */
export function checkSchemaVersion(version: unknown, where: string): void {
  if (typeof version === 'number' && version > STATE_SCHEMA_VERSION) {
    throw new UsageError(`${where} holds state of schema version ${version}, and this shardflow reads up to version ${STATE_SCHEMA_VERSION}: a newer shardflow wrote it — upgrade shardflow before comparing with it or running on it`);
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw new UsageError(`${where}: not a state layout of shardflow (schema version ${String(version)})`);
}
