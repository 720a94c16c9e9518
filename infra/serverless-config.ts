import * as path from 'node:path';
import { loadJob } from '../lib/cli/load-job';
import { stageSuffix, withNameSuffix } from '../lib/plan/naming';
import { planJob } from '../lib/plan/planner';
import { bundleFunctions } from './bundle';
import { deployment, LAMBDA_RUNTIME } from './cloudformation';


/** The serverless CLI's options as the variable resolver passes them. */
export interface ServerlessOptions {
  stage?: string;
  region?: string;
  param?: string | string[];
}

/** `--param job=…` (several --param flags arrive as a list). */
export function jobParam(options: ServerlessOptions): string {
  const params = options.param === undefined ? [] : Array.isArray(options.param) ? options.param : [options.param];
  const job = params.map((p) => /^job=(.*)$/.exec(p)?.[1]).find((v) => v !== undefined);
  if (!job) throw new Error('which job? `npx shardflow deploy JOB`, or `npx serverless deploy --param job=JOB`');
  return job;
}

/**
 * What serverless.yml takes from the plan: the service name, the functions and the resources; the
 * function bundles are built on the way (esbuild, offline). On the `local` stage (LocalStack) names
 * are the job's own; elsewhere they get `-<stage>`. The job file and the bundles are in the service
 * directory (the serverless CLI's working directory), never inside shardflow's own folder.
 */
export async function serverlessParts(options: ServerlessOptions): Promise<{ service: string; runtime: string; functions: unknown; resources: unknown }> {
  const jobFile = jobParam(options);
  const stage = options.stage ?? 'dev';
  const serviceDir = process.cwd();
  const definition = loadJob(path.resolve(serviceDir, jobFile));
  const nameSuffix = stageSuffix(stage);
  const plan = withNameSuffix(planJob(definition), nameSuffix);
  const bundleDir = `.build/${plan.job}`;
  await bundleFunctions(path.resolve(serviceDir, jobFile), path.join(serviceDir, bundleDir));
  const service = `shardflow-${plan.job}`;
  return { service, runtime: LAMBDA_RUNTIME, ...deployment(plan, { service, stage, bundleDir, nameSuffix }) };
}
