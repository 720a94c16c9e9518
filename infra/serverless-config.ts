import * as path from 'node:path';
import { loadJob } from '../lib/cli/load-job';
import { withNameSuffix } from '../lib/plan/naming';
import { planJob } from '../lib/plan/planner';
import { bundleFunctions } from './bundle';
import { deployment, LAMBDA_RUNTIME } from './cloudformation';

export const DEFAULT_JOB = 'examples/click-counts.ts';
const ROOT = path.resolve(__dirname, '..');

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
  return job ?? DEFAULT_JOB;
}

/**
 * What serverless.yml takes from the plan: the service name, the functions and the resources; the
 * function bundles are built on the way (esbuild, offline). On the `local` stage (LocalStack) names
 * are the job's own; elsewhere they get `-<stage>`.
 */
export async function serverlessParts(options: ServerlessOptions): Promise<{ service: string; runtime: string; functions: unknown; resources: unknown }> {
  const jobFile = jobParam(options);
  const stage = options.stage ?? 'dev';
  const definition = loadJob(path.resolve(ROOT, jobFile));
  const nameSuffix = stage === 'local' ? '' : `-${stage}`;
  const plan = withNameSuffix(planJob(definition), nameSuffix);
  const bundleDir = `.build/${plan.job}`;
  await bundleFunctions(path.resolve(ROOT, jobFile), path.join(ROOT, bundleDir));
  const service = `shardflow-${plan.job}`;
  return { service, runtime: LAMBDA_RUNTIME, ...deployment(plan, { service, stage, bundleDir, nameSuffix }) };
}
