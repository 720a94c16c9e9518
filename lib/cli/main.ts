import { PlanError } from '../plan/plan-error';
import { planJob } from '../plan/planner';
import { describePlan } from '../plan/describe';
import { loadJob, JobFileError } from './load-job';

const USAGE = `usage: shardflow <command>

  plan JOB                 print the job's stages, streams and tables
  dev JOB [--no-demo] [--port 4566] [--data DIR]
                           run the job on the embedded local runtime
  help                     this text
`;

/** The shardflow command. Returns the exit code; prints one clear line for a user's mistake. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'plan': {
        const file = args[0];
        if (!file) return usage('plan needs a job file: shardflow plan examples/click-counts.ts');
        console.log(describePlan(planJob(loadJob(file))));
        return 0;
      }
      case 'dev': {
        const { dev } = await import('./dev');
        return await dev(args);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        return usage(`unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof PlanError || e instanceof JobFileError) {
      console.error(`shardflow: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

function usage(problem: string): number {
  console.error(`shardflow: ${problem}\n\n${USAGE}`);
  return 2;
}
