import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_REGION, serverlessService } from '../../infra/serverless-service';
import { planJob } from '../plan/planner';
import { parseArgs, stringFlag, UsageError } from './args';
import { deployOnState, stateTableOf } from './deployed-layout';
import { JobFileError, loadJob } from './load-job';

/** The serverless commands shardflow drives. */
export const DEPLOY_COMMANDS = ['package', 'deploy', 'remove'] as const;
export type DeployCommand = (typeof DEPLOY_COMMANDS)[number];

/** The config files the serverless CLI looks for in a service directory, in its order. */
const OWN_CONFIGS = ['serverless.yml', 'serverless.yaml', 'serverless.json', 'serverless.js', 'serverless.mjs', 'serverless.cjs', 'serverless.ts'];
/** shardflow's service, written for one run when the project has no serverless config of its own. */
const GENERATED_CONFIG = '.serverless-shardflow.json';

/**
 * `shardflow package|deploy|remove JOB [--stage S] [--region R] [--package DIR] [--verbose]`: the serverless
 * CLI (osls) run in the current directory, which is the service directory — the job path is read from
 * here and `.serverless/` and the function bundles (`.build/`) are written here. A project's own
 * `serverless.yml` is used when there is one; otherwise shardflow's service, written for the run.
 * `deploy` first checks the new version against the state layout recorded in the stage's state table
 * (refused as `plan --against deployed` refuses; `--allow-non-restored-state`), and records the new one after.
 */
export async function deploy(command: DeployCommand, argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['verbose', 'allow-non-restored-state']);
  const jobFile = args.positionals[0];
  if (!jobFile) throw new UsageError(`${command} needs a job file: shardflow ${command} jobs/clicks.ts [--stage prod]`);
  const serviceDir = process.cwd();
  if (!fs.existsSync(path.resolve(serviceDir, jobFile))) throw new JobFileError(jobFile, 'no such file');
  const stage = stringFlag(args, 'stage') ?? 'dev';
  const region = stringFlag(args, 'region');
  const packageDir = stringFlag(args, 'package');
  const ownConfig = OWN_CONFIGS.find((f) => fs.existsSync(path.join(serviceDir, f)));
  const slsArgs = [
    command,
    '--stage', stage,
    ...(region ? ['--region', region] : []),
    ...(packageDir && command === 'package' ? ['--package', packageDir] : []),
    ...(args.flags.get('verbose') === true ? ['--verbose'] : []),
    '--param', `job=${path.relative(serviceDir, path.resolve(serviceDir, jobFile)).replace(/\\/g, '/')}`,
    ...(ownConfig ? [] : ['--config', GENERATED_CONFIG]),
  ];
  const osls = async (): Promise<number> => {
    console.log(`shardflow: serverless ${slsArgs.join(' ')}${ownConfig ? `  (your ${ownConfig})` : ''}`);
    const generated = path.join(serviceDir, GENERATED_CONFIG);
    if (!ownConfig) fs.writeFileSync(generated, `${JSON.stringify(serverlessService({ stage }), null, 2)}\n`);
    try {
      return await runServerless(slsArgs, serviceDir);
    } finally {
      if (!ownConfig) fs.rmSync(generated, { force: true });
    }
  };
  if (command !== 'deploy') return await osls();
  // The deployed state must fit the new version: checked before osls runs, the new layout recorded after.
  const plan = planJob(loadJob(jobFile));
  const table = stateTableOf(plan, stage, { region: region ?? DEFAULT_REGION });
  try {
    return await deployOnState(table, plan, args.flags.get('allow-non-restored-state') === true, osls);
  } finally {
    table.ddb.destroy();
  }
}

/** Runs the osls CLI this package depends on, with the terminal passed through; resolves its exit code. */
function runServerless(args: readonly string[], cwd: string): Promise<number> {
  const cli = require.resolve('osls/bin/serverless.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: 'inherit', env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' } });
    // Ctrl-C reaches the child too (same process group); wait for it to finish its own cleanup.
    const ignore = (): void => {};
    process.on('SIGINT', ignore);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}
