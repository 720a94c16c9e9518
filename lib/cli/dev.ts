import * as path from 'node:path';
import { demoClicks, partitionKeyOf, putEvents } from '../local/demo';
import { Dashboard, DashboardPortInUseError } from '../local/dashboard/server';
import { operatorLabel } from '../api/call-site';
import { ConcurrencyConfigError, type ConcurrencySettings } from '../local/concurrency';
import type { LoggedDeadLetter } from '../local/dashboard/function-figures';
import { DevRuntime, type DevStatus } from '../local/dev-runtime';
import { formatResult, ResultsWatcher } from '../local/results-watcher';
import { intFlag, parseArgs, stringFlag, UsageError, type ParsedArgs } from './args';
import { startOnState } from './deployed-layout';
import { loadJob } from './load-job';
import { clockTime, Terminal } from './terminal';

/** Where the dashboard listens unless told otherwise (Flink's web UI port). */
export const DEFAULT_DASHBOARD_PORT = 8081;

/**
 * `shardflow dev JOB [--no-demo] [--port 4566] [--dashboard-port 8081] [--data DIR] [--rate N] [--verbose]
 * [--account-concurrency N] [--reserved-concurrency s1=2,…]`: the job on the embedded runtime, under
 * Lambda's concurrency limits (AWS's defaults unless given), with a demo click stream unless --no-demo, results printed as windows
 * fire, a progress line, and a live web dashboard (`--dashboard-port 0`: none). Ctrl-C stops everything.
 */
export async function dev(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['demo', 'verbose', 'allow-non-restored-state']);
  const jobFile = args.positionals[0];
  if (!jobFile) throw new UsageError('dev needs a job file: shardflow dev examples/click-counts.ts');
  const port = intFlag(args, 'port', 4566, 65535);
  const dashboardPort = intFlag(args, 'dashboard-port', DEFAULT_DASHBOARD_PORT, 65535);
  const rate = intFlag(args, 'rate', 20, 100_000);
  const demo = args.flags.get('demo') !== false;
  const verbose = args.flags.get('verbose') === true;
  const dataDir = stringFlag(args, 'data');
  const concurrency = concurrencyFlags(args);
  const term = new Terminal();
  const started = Date.now();

  term.line(`shardflow dev: starting ${path.relative(process.cwd(), path.resolve(jobFile)) || jobFile} (emulators, streams, tables, function bundles)…`);
  let runtime: DevRuntime;
  try {
    runtime = await DevRuntime.start({
      jobFile,
      port,
      concurrency,
      ...(dataDir && { dataDir }),
      ...(verbose && { log: (l: string) => term.line(`  · ${l}`) }),
      // The job's state layout recorded in its state table; a restart on a previous run's state (--data) is refused here, before any function starts, if the state does not fit the job.
      beforeFunctions: async (ddb, plan) => {
        const table = { ddb, name: plan.stateTable, holder: dataDir ?? 'the local state table' };
        for (const line of await startOnState(table, plan, args.flags.get('allow-non-restored-state') === true)) term.line(line);
      },
    });
  } catch (e) {
    if (e instanceof ConcurrencyConfigError) throw new UsageError(e.message);
    throw e;
  }
  const plan = runtime.plan;
  const source = plan.stages[0]!.input.stream;
  const sinkTables = plan.sinks.flatMap((s) => (s.kind === 'dynamodb' ? [s.table] : []));
  let dashboard: Dashboard | undefined;
  if (dashboardPort !== 0) {
    try {
      dashboard = await Dashboard.start(runtime, { port: dashboardPort, ...(verbose && { log: (l: string) => term.line(`  · ${l}`) }) });
    } catch (e) {
      // The dashboard is a view: without it the job still runs.
      if (!(e instanceof DashboardPortInUseError)) {
        await runtime.stop();
        throw e;
      }
      term.line(e.message);
    }
  }
  // Ctrl-C is ours from here on, before "ready" is printed: whoever reads "ready" may interrupt at once.
  const stopRequested = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  term.line(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s — job ${plan.job}: ${plan.stages.map((s) => `${s.id} ← ${s.input.stream}`).join(', ')}${dashboard ? ` — dashboard ${dashboard.url}` : ''}`);
  term.line(`  edge      ${runtime.edgeUrl}  (Kinesis + DynamoDB: aws --endpoint-url ${runtime.edgeUrl} …)`);
  term.line(`  push to   ${source}${demo ? `  (demo: ${rate} clicks/s)` : ''}`);
  term.line(`  results   ${sinkTables.join(', ') || plan.sinks.map((s) => s.name).join(', ')}${dataDir ? `   data in ${dataDir}` : ''}`);
  term.line('  Ctrl-C stops everything');

  const watchers = sinkTables.map((t) => new ResultsWatcher(runtime.ddb, t));
  let pushed = 0;
  let stopping = false;
  /** The first dead letter's reason is printed once; the progress line counts the rest. */
  let deadLetterShown = false;
  const loops: Promise<void>[] = [];

  if (demo) {
    const next = demoClicks();
    loops.push(
      (async () => {
        while (!stopping) {
          const events = Array.from({ length: Math.max(1, Math.round(rate / 5)) }, next);
          try {
            pushed += await putEvents(runtime.kinesis, source, events, partitionKeyOf);
          } catch (e) {
            if (!stopping) term.line(`demo: ${(e as Error).message}`);
          }
          await sleep(200);
        }
      })(),
    );
  }
  loops.push(
    (async () => {
      while (!stopping) {
        for (const w of watchers) {
          try {
            for (const item of await w.poll()) term.line(formatResult(w.table, item));
          } catch (e) {
            if (!stopping) term.line(`results: ${(e as Error).message}`);
          }
        }
        const status = runtime.status();
        // The last keyed stage's watermark: the one the results have reached.
        const keyed = [...status.stages].reverse().find((s) => s.watermarkMs !== undefined);
        const lag = status.stages.map((s) => `${s.id} ${(s.iteratorAgeMs / 1000).toFixed(1)}s`).join(' ');
        const errors = status.stages.reduce((n, s) => n + s.errors, 0);
        const eventsIn = status.stages[0]?.recordsIn ?? 0;
        const { late, deadLetters } = failureCounts(status);
        if (deadLetters > 0 && !deadLetterShown) {
          const first = runtime.logged().deadLetters.at(-1);
          if (first) {
            term.line(firstDeadLetter(first, deadLetters, eventsIn, jobFile, plan.deadLetterTable));
            deadLetterShown = true;
          }
        }
        term.setStatus(
          `events in ${eventsIn.toLocaleString()}${demo ? ` (pushed ${pushed.toLocaleString()})` : ''} · results ${watchers.reduce((n, w) => n + w.count, 0).toLocaleString()}${late ? ` · late ${late.toLocaleString()}` : ''}${deadLetters ? ` · dead letters ${deadLetters.toLocaleString()}` : ''} · watermark ${clockTime(keyed?.watermarkMs)} · lag ${lag}${errors ? ` · function errors ${errors}` : ''}`,
        );
        await sleep(500);
      }
    })(),
  );

  await stopRequested;
  stopping = true;
  term.done();
  term.line('stopping…');
  await Promise.all(loops);
  await dashboard?.close();
  await runtime.stop();
  term.line('stopped: no emulator or worker left running');
  return 0;
}

/** Late records and dead letters so far, over all stages, from the functions' metrics. */
function failureCounts(status: DevStatus): { late: number; deadLetters: number } {
  const total = (metric: string): number => status.stages.reduce((n, s) => n + (s.metrics[metric]?.sum ?? 0), 0);
  return { late: total('LateRecords'), deadLetters: total('DeadLetters') };
}

/**
 * `dead letter: sum('amout'): field 'amout' is missing — 5 of 5 events so far (jobs/orders.ts:9 .sum('amout')); …`:
 * the reason, how often, where the operator was written, and where the rest are.
 */
function firstDeadLetter(dead: LoggedDeadLetter, count: number, eventsIn: number, jobFile: string, table: string): string {
  let where = '';
  try {
    const node = loadJob(jobFile).nodes.find((n) => n.id === dead.operator); // already loaded: no second evaluation
    const label = node && operatorLabel(node, 'function');
    if (label && label !== dead.operator) where = ` (${label})`;
  } catch {
    // the runtime loaded it; if it cannot be read again, the reason alone still says what is wrong
  }
  return `dead letter: ${dead.reason} — ${count.toLocaleString()} of ${eventsIn.toLocaleString()} events so far${where}; every one is in table ${table}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `--account-concurrency N` and `--reserved-concurrency s1=2,s0=1` (by stage id) as Lambda's settings. */
function concurrencyFlags(args: ParsedArgs): ConcurrencySettings {
  const accountLimit = args.flags.has('account-concurrency') ? intFlag(args, 'account-concurrency', 1000) : undefined;
  const reserved: Record<string, number> = {};
  for (const pair of (stringFlag(args, 'reserved-concurrency') ?? '').split(',').filter(Boolean)) {
    const m = /^([A-Za-z0-9-]+)=(\d+)$/.exec(pair.trim());
    if (!m) throw new UsageError(`--reserved-concurrency ${pair}: expected STAGE=N, e.g. s1=2`);
    reserved[m[1]!] = Number(m[2]);
  }
  return { ...(accountLimit !== undefined && { accountLimit }), reserved };
}
