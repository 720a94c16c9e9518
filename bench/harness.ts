/**
 * The test harness with many outputs: events/s of jobs that emit a record per event (pass-through) or
 * many window results (sliding windows over many keys), through `harness()` with the source's watermark
 * strategy, as a user's test or a SQL equivalence check runs them. The output path must stay linear:
 * once, every output copied the list of those before it (a pass-through job over 184,000 events took
 * 224 s; a sliding-window job did not finish in 13 minutes).
 *
 * `node bin/run-ts.js bench/harness.ts [--quick]`; BENCH_HARNESS_EVENTS, BENCH_HARNESS_RUNS.
 */
import { dynamoSink, job, kinesisSource, sliding, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';
import { benchOptions, commandOf, figure, loadavg, round, sized, table, writeResult, type Figure } from './run-info';
import { clicks, type Click } from './workload';

const options = benchOptions();
const EVENTS = sized('BENCH_HARNESS_EVENTS', 100_000, 20_000, options);
const RUNS = sized('BENCH_HARNESS_RUNS', 2, 1, options);
const BATCH = 500;
const USERS = 10_000;

const source = () => kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s' });
/** Every event becomes one output: as many outputs as events. */
const passThrough = job('pass-through')
  .source(source())
  .map((c) => ({ userId: c.userId, clicks: c.clicks, at: c.ts }))
  .sink(dynamoSink('out'));
/** Five windows per event over 10,000 Zipf users: tens of thousands of results. */
const slidingCounts = job('sliding').source(source()).keyBy((c) => c.userId).window(sliding('5s', '1s')).sum('clicks').sink(dynamoSink('out'));

const jobs: readonly { name: string; definition: JobDefinition }[] = [
  { name: 'pass-through (map)', definition: passThrough },
  { name: 'sliding 5s/1s, sum, 10,000 users', definition: slidingCounts },
];

/** Sends every event in batches of BATCH; returns events per second and the outputs the sink received. */
async function runOnce(definition: JobDefinition, events: readonly Click[]): Promise<{ eventsPerSec: number; outputs: number }> {
  const started = process.hrtime.bigint();
  const h = harness(definition, { watermarks: 'strategy' });
  for (let i = 0; i < events.length; i += BATCH) await h.sendBatch(events.slice(i, i + BATCH));
  await h.finish();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { eventsPerSec: events.length / seconds, outputs: h.outputs().length };
}

async function main(): Promise<void> {
  const started = Date.now();
  const events = clicks({ count: EVENTS, users: USERS, ratePerSec: 10_000, disorderMs: 1500, seed: 42 });
  console.log(`harness: ${EVENTS.toLocaleString()} events, ${USERS.toLocaleString()} Zipf users, batches of ${BATCH}, ${RUNS} run(s) per job`);
  const rows: { job: string; eventsPerSec: Figure; outputs: number }[] = [];
  for (const { name, definition } of jobs) {
    await runOnce(definition, events.slice(0, Math.min(EVENTS, 5000))); // warm up the JIT
    const rates: number[] = [];
    const loads: [number, number, number][] = [];
    let outputs = 0;
    for (let r = 0; r < RUNS; r++) {
      loads.push(loadavg());
      const run = await runOnce(definition, events);
      rates.push(round(run.eventsPerSec, 4));
      outputs = run.outputs;
    }
    const f = figure(rates, loads);
    rows.push({ job: name, eventsPerSec: f, outputs });
    console.log(`  ${name}: ${f.median.toLocaleString()} events/s (${f.min.toLocaleString()}–${f.max.toLocaleString()}); ${outputs.toLocaleString()} outputs`);
  }
  console.log(`\n${table(['job', 'events/s', 'outputs'], rows.map((r) => [r.job, r.eventsPerSec.median, r.outputs]))}`);
  const file = writeResult('harness', commandOf('harness.ts', options), { events: EVENTS, users: USERS, batch: BATCH, runs: RUNS, rows, seconds: Math.round((Date.now() - started) / 1000) });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
