/**
 * `npm run chaos [-- --runs 20] [--kind tumbling|sliding|session|chained|lateness|join] [--seed N] [--first 1] [--parallel 2] [--quick] [--verbose] [--keep-log]`:
 * seeded chaos runs of each job kind (20 per kind by default), each compared with the sqlite3
 * reference. Prints a line per run and the totals per kind and overall, writes a JSON summary to
 * tests/chaos/results/latest.json, and exits non-zero if any run had a mismatch. `--seed N` re-runs
 * one seed (of every kind, or of `--kind`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runChaos, type ChaosRunReport } from './harness';
import { JOB_KINDS, type JobKind } from './jobs/settings';
import { ROOT } from './processes';
import { RUN_HEADER, runLine, totalsOf, totalsText } from './summary';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * The seeds of a full run: fixed, so `npm run chaos` is the same run every time. `first` (1-based) starts
 * later in the list: `--runs 10` then `--runs 10 --first 11` are the full run's 20 seeds in two halves.
 */
const chaosSeeds = (runs: number, kind: JobKind, first = 1): number[] =>
  Array.from({ length: runs }, (_, i) => 1000 * (JOB_KINDS.indexOf(kind) + 1) + first + i);

// The AWS SDK's Node-version notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

async function main(): Promise<number> {
  const runs = Number(flag('runs') ?? 20);
  const kindFlag = flag('kind');
  const seedFlag = flag('seed');
  const quick = process.argv.includes('--quick');
  const verbose = process.argv.includes('--verbose');
  const parallel = Number(flag('parallel') ?? 2);
  const first = Number(flag('first') ?? 1);
  if (!Number.isInteger(first) || first < 1) throw new Error(`--first must be a seed number from 1 (the first of a kind's seeds), got ${flag('first')}`);
  if (kindFlag && !JOB_KINDS.includes(kindFlag as JobKind)) throw new Error(`--kind must be one of ${JOB_KINDS.join(', ')}`);
  const kinds = kindFlag ? [kindFlag as JobKind] : JOB_KINDS;
  const resultsDir = path.join(ROOT, 'tests/chaos/results');
  const started = Date.now();
  const reports: ChaosRunReport[] = [];
  console.log(`shardflow chaos: ${seedFlag ? `seed ${seedFlag}` : `${runs} seeded runs (seeds ${first} to ${first + runs - 1})`} per job kind (${kinds.join(', ')})${quick ? ', quick' : ''}, ${parallel} at a time`);
  console.log(RUN_HEADER);
  const queue = kinds.flatMap((kind) => (seedFlag ? [Number(seedFlag)] : chaosSeeds(runs, kind, first)).map((seed) => ({ kind, seed })));
  // Runs are independent (own ports, data and emulators); two at a time keep two cores busy.
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { kind, seed } = next;
      const progress = verbose ? { progress: (line: string) => console.log(`    ${kind} ${seed} ${line}`) } : {};
      const report = await runChaos({ kind, seed, quick, resultsDir, keepLog: process.argv.includes('--keep-log'), ...progress });
      reports.push(report);
      console.log(runLine(report));
      if (report.mismatches > 0) {
        for (const line of report.comparison.examples) console.log(`    ${line}`);
        console.log(`    evidence in tests/chaos/results/${kind}-${seed}.*; re-run with: npm run chaos -- --kind ${kind} --seed ${seed}`);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  reports.sort((a, b) => JOB_KINDS.indexOf(a.kind) - JOB_KINDS.indexOf(b.kind) || a.seed - b.seed);
  console.log('');
  for (const kind of kinds) console.log(totalsText(kind, totalsOf(reports.filter((r) => r.kind === kind))));
  const total = totalsOf(reports);
  console.log(totalsText('total', total));
  console.log(`wall time ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  fs.mkdirSync(resultsDir, { recursive: true });
  const summary = {
    at: new Date().toISOString(),
    command: `npm run chaos -- ${process.argv.slice(2).join(' ')}`.trim(),
    wallMs: Date.now() - started,
    totals: total,
    byKind: Object.fromEntries(kinds.map((k) => [k, totalsOf(reports.filter((r) => r.kind === k))])),
    runs: reports,
  };
  fs.writeFileSync(path.join(resultsDir, seedFlag || kindFlag || quick || runs !== 20 ? 'last-partial.json' : 'latest.json'), `${JSON.stringify(summary, null, 1)}\n`);
  return total.mismatches === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
