import { PlanError } from '../plan/plan-error';
import { planJob } from '../plan/planner';
import { describePlan } from '../plan/describe';
import { parseArgs, stringFlag, UsageError } from './args';
import { loadJob, JobFileError } from './load-job';
import { PortInUseError } from '../local/dev-runtime';
import { changelogOf, describeChangelog } from '../sql/changelog';
import { SqlError } from '../sql/sql-error';

const USAGE = `usage: shardflow <command>

  plan JOB [--check-event EVENT] [--save-layout FILE] [--against FILE [--allow-non-restored-state]]
                           print the job's stages, streams and tables; with a sample event (JSON or
                           a .jsonl file), check that it goes through every operator; save its state
                           layout, or say what an upgrade from a saved one keeps, drops or refuses
  plan JOB --against deployed [--deployed STAGE] [--endpoint URL] [--region R]
                           the same, against the layout recorded in the state table of the job running
                           in shardflow dev, or deployed on STAGE
  dev JOB [--no-demo] [--port 4566] [--data DIR] [--rate N] [--dashboard-port 8081] [--verbose]
                           run the job on the embedded local runtime (with --data, a restart with a
                           changed job keeps its state: see plan --against; --allow-non-restored-state)
  run JOB --input events.jsonl [--output DIR]
                           run a bounded input through the job in this process to the end (the final
                           watermark fires everything); each sink's records to DIR/<sink>.jsonl.
                           JSON lines from a file, s3://BUCKET/KEY or every object under s3://BUCKET/DIR/
                           (--s3-endpoint URL for an emulator). Several sources: --input STREAM=FILE,…
  run JOB --from-stream [SOURCE=]STREAM --at TIME [--until TIME] [--endpoint URL] [--deployed STAGE]
                           the same over a Kinesis stream's history, from TIME (ISO-8601, epoch ms or
                           TRIM_HORIZON) to when the command started: every shard, closed parents first
  push STREAM (--file events.jsonl | --demo clicks [--rate N] [--count N]) [--endpoint URL]
                           put JSON events on a stream (default endpoint http://localhost:4566)
  tail TABLE [--endpoint URL] [--once]
                           print a results table's items as they appear or change
  failures JOB [--stage s1] [--redrive] [--endpoint URL] [--deployed STAGE]
                           list the batches a stage's event source mapping gave up on; --redrive feeds
                           their records (read back from the stream) to the stage again
  sql [-f SCRIPT.sql] [--port 4566]
                           Flink's SQL client: a prompt where CREATE TABLE statements accumulate, EXPLAIN
                           prints a query's stages and a SELECT runs on the embedded runtime with its rows
                           shown as they change (Ctrl-C stops it); -f runs a script as dev does
  rescale JOB --stage s1 --shards N [--endpoint URL] [--deployed STAGE]   (or: scale)
                           reshards a stage's input stream while the job runs (UpdateShardCount);
                           keyed state follows its keys to the new shards
  drain JOB [--endpoint URL] [--deployed STAGE]
                           fires every open window and event-time timer (the watermark to the end of
                           time), and waits until every keyed shard has: stop the producers first
  init [DIR]               a new project: a job, its test, tsconfig, scripts (see its README)
  package JOB [--stage S] [--region R] [--package DIR]
                           the CloudFormation template and function bundles, offline (.serverless/)
  deploy JOB [--stage S] [--region R] [--allow-non-restored-state]
                           deploys the job to AWS with the serverless CLI (osls), from this directory;
                           refused first if the deployed state does not fit it (see plan --against)
  remove JOB [--stage S] [--region R]
                           deletes the job's stack, with its streams and tables
  help                     this text
`;

/** The shardflow command. Returns the exit code; prints one clear line for a user's mistake. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'plan': {
        const parsed = parseArgs(args, ['allow-non-restored-state']);
        const file = parsed.positionals[0];
        if (!file) return usage('plan needs a job file: shardflow plan examples/click-counts.ts');
        const definition = loadJob(file);
        const plan = planJob(definition);
        console.log(describePlan(plan));
        // A SQL job also says what it writes: append-only, or updating by a unique key.
        const changelog = changelogOf(definition);
        if (changelog) console.log(describeChangelog(changelog));
        const { checkLayout } = require('./layout') as typeof import('./layout');
        const layoutCode = await checkLayout(plan, parsed);
        if (layoutCode !== 0) return layoutCode;
        const sample = stringFlag(parsed, 'check-event');
        if (sample === undefined) return 0;
        const { checkEvent } = require('./check-event') as typeof import('./check-event');
        const problems = await checkEvent(definition, sample);
        for (const p of problems) console.error(`shardflow: the sample event would be a dead letter: ${p}`);
        if (problems.length === 0) console.log('\nthe sample event goes through every operator');
        return problems.length === 0 ? 0 : 2;
      }
      case 'dev': {
        const { dev } = require('./dev') as typeof import('./dev'); // loaded lazily: `plan` needs no AWS SDK
        return await dev(args);
      }
      case 'run': {
        const { run } = require('./run') as typeof import('./run');
        return await run(args);
      }
      case 'push': {
        const { push } = require('./push') as typeof import('./push'); // loaded lazily: `plan` needs no AWS SDK
        return await push(args);
      }
      case 'tail': {
        const { tail } = require('./tail') as typeof import('./tail'); // loaded lazily: `plan` needs no AWS SDK
        return await tail(args);
      }
      case 'failures': {
        const { failures } = require('./failures') as typeof import('./failures'); // loaded lazily: `plan` needs no AWS SDK
        return await failures(args);
      }
      case 'sql': {
        const { sql } = require('./sql') as typeof import('./sql'); // loaded lazily: `plan` needs no AWS SDK
        return await sql(args);
      }
      case 'rescale':
      case 'scale': {
        const { rescale } = require('./rescale') as typeof import('./rescale'); // loaded lazily: `plan` needs no AWS SDK
        return await rescale(args);
      }
      case 'drain': {
        const { drain } = require('./drain') as typeof import('./drain'); // loaded lazily: `plan` needs no AWS SDK
        return await drain(args);
      }
      case 'init': {
        const { init } = require('./init') as typeof import('./init');
        return await init(args);
      }
      case 'package':
      case 'deploy':
      case 'remove': {
        const { deploy } = require('./deploy') as typeof import('./deploy'); // loaded lazily: `plan` needs no AWS SDK
        return await deploy(command, args);
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
    if (e instanceof PlanError || e instanceof JobFileError || e instanceof UsageError || e instanceof PortInUseError || e instanceof SqlError) {
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
