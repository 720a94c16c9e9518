import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Plan } from '../plan/plan';
import { compareLayouts, describeChanges, stateLayout, upgradeRefusal, type StateLayout } from '../plan/state-layout';
import { stringFlag, UsageError, type ParsedArgs } from './args';

/**
 * `plan --save-layout FILE` writes the job's state layout; `plan --against FILE` says what an upgrade from
 * that layout keeps, starts anew, drops or refuses, and exits 2 when it would be refused.
 */
export function checkLayout(plan: Plan, args: ParsedArgs): number {
  const save = stringFlag(args, 'save-layout');
  if (save !== undefined) {
    fs.writeFileSync(save, `${JSON.stringify(stateLayout(plan), null, 2)}\n`);
    console.log(`\nstate layout written to ${save}`);
  }
  const against = stringFlag(args, 'against');
  if (against === undefined) return 0;
  const changes = compareLayouts(readLayout(against), stateLayout(plan));
  console.log(`\nstate, against ${against}:\n${describeChanges(changes)}`);
  const refusal = upgradeRefusal(changes, args.flags.get('allow-non-restored-state') === true);
  if (refusal === undefined) return 0;
  console.error(`shardflow: the upgrade would be refused: ${refusal}`);
  return 2;
}

/**
 * Before `dev --data DIR` starts a job on state a previous run left: the upgrade check against the layout
 * that run saved, then the new layout saved for the next one.
 */
export function checkUpgradeOfDataDir(plan: Plan, dataDir: string, allowNonRestoredState: boolean): string[] {
  const file = path.join(dataDir, 'state-layout.json');
  const lines: string[] = [];
  if (fs.existsSync(file)) {
    const changes = compareLayouts(readLayout(file), stateLayout(plan));
    const refusal = upgradeRefusal(changes, allowNonRestoredState);
    if (refusal !== undefined) throw new UsageError(`${dataDir} holds the state of another version of ${plan.job}: ${refusal}`);
    if (changes.some((c) => c.verdict !== 'kept')) lines.push(`state of the previous run in ${dataDir}:`, describeChanges(changes));
  }
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(stateLayout(plan), null, 2)}\n`);
  return lines;
}

function readLayout(file: string): StateLayout {
  if (!fs.existsSync(file)) throw new UsageError(`${file}: no such file (write one with shardflow plan JOB --save-layout ${file})`);
  let layout: StateLayout;
  try {
    layout = JSON.parse(fs.readFileSync(file, 'utf8')) as StateLayout;
  } catch (e) {
    throw new UsageError(`${file}: not a state layout (${(e as Error).message})`);
  }
  if (layout?.version !== 1 || !Array.isArray(layout.operators)) throw new UsageError(`${file}: not a state layout of this shardflow (version ${String(layout?.version)})`);
  return layout;
}
