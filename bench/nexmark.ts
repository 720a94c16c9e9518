/**
 * `npm run bench:nexmark`: events/s per core for each Nexmark query that plans, in process as
 * bench/engine.ts measures (the stage executor on whole batches of JSON records, the keyed shards' logs in
 * memory; every stage of the query, bench/pipeline-run.ts), on a generated Nexmark stream — each query reads
 * the records of the tables it names (bids; persons and auctions for the joins); beside Flink's published
 * per-core figures. Writes
 * bench/results/nexmark.json and the Nexmark section of bench/REPORT.md.
 *
 *   npm run bench:nexmark [-- --quick]        BENCH_NEXMARK_EVENTS (default 500,000), BENCH_NEXMARK_RUNS (3),
 *                                             BENCH_NEXMARK_RUN_SECONDS (20: a slower query runs on fewer events)
 */
import * as path from 'node:path';
import { planJob } from 'shardflow';
import { nexmarkEvents, rowOf } from '../lib/nexmark';
import { compileNexmark, NEXMARK_QUERIES } from '../tests/fixtures/nexmark/queries';
import { loadSideInput } from '../tests/fixtures/nexmark/side-input';
import { dynamoClient } from '../lib/io/aws-clients';
import { startDynamo, type Emulator } from '../lib/local/emulators';
import { runPipeline, type StreamRecord } from './pipeline-run';
import { nexmarkSection, spliceIntoReport, type NexmarkResult } from './nexmark-report';
import { benchOptions, commandOf, figure, loadavg, readResult, round, sized, table, writeResult } from './run-info';

const options = benchOptions();
const EVENTS = sized('BENCH_NEXMARK_EVENTS', 500_000, 100_000, options);
const RUNS = sized('BENCH_NEXMARK_RUNS', 3, 1, options);
/** Nexmark's own rate: it sets event time, so the windows (q11's sessions) close as they do in Flink's runs. */
const EVENTS_PER_SECOND = 10_000_000;
const TABLES = ['person', 'auction', 'bid'] as const;
/** Records of the warm-up run. */
const WARM_UP = 20_000;
/** How long one measured run may take, about: a slower query runs on the first events of the stream only (its row says how many). */
const RUN_BUDGET_S = Number(process.env.BENCH_NEXMARK_RUN_SECONDS ?? 20);

async function main(): Promise<void> {
  const started = Date.now();
  // Nexmark's one stream of events, in order, each as a JSON record of its view's stream (ddl_kinesis.sql).
  const records: StreamRecord[] = [];
  for (const event of nexmarkEvents({ count: EVENTS, eventsPerSecond: EVENTS_PER_SECOND, seed: 42 })) {
    for (const table of TABLES) {
      const row = rowOf(table, event);
      if (row) records.push({ stream: `nexmark-${table}`, data: JSON.stringify(row) });
    }
  }
  const bids = records.filter((r) => r.stream === 'nexmark-bid').length;
  const compiled = NEXMARK_QUERIES.map((n) => ({ query: `q${n}`, outcome: compileNexmark(n) }));
  const planned = compiled.flatMap(({ query, outcome }) => ('job' in outcome ? [{ query, job: outcome.job }] : []));
  console.log(`nexmark: ${EVENTS.toLocaleString()} events (${bids.toLocaleString()} bids), ${RUNS} run(s) per query; ${planned.length} of ${compiled.length} queries plan; load ${loadavg().join(' / ')}`);
  // q13 looks its side input up in DynamoDB: a local one (dynalite, another process), the 10,000 items cached after their first read.
  const dynamo = planned.some((p) => p.query === 'q13') ? await sideInputTable() : undefined;
  const rows: NexmarkResult['rows'][number][] = [];
  const notMeasured: { query: string; reason: string }[] = [];
  for (const { query, job } of planned) {
    const plan = planJob(job)
      .stages.map((s) => (s.keyed ? (s.keyed.kind === 'window' ? `${s.keyed.assigner.kind} window` : s.keyed.kind) : 'stateless'))
      .join(' → ');
    let prefix = records;
    try {
      // Warm up the JIT; a query too slow for the whole stream in RUN_BUDGET_S runs on the part of it that fits.
      const warm = await runPipeline(job, records.slice(0, WARM_UP));
      const fits = Math.round((warm.recordsPerSec * RUN_BUDGET_S * WARM_UP) / Math.max(1, warm.read));
      if (fits < records.length) prefix = records.slice(0, Math.max(WARM_UP, fits));
    } catch (e) {
      notMeasured.push({ query, reason: (e as Error).message });
      console.log(`  ${query.padEnd(4)} ${plan.padEnd(26)} not measured: ${(e as Error).message}`);
      continue;
    }
    const wall: number[] = [];
    const cpu: number[] = [];
    const loads: [number, number, number][] = [];
    let results = 0;
    let read = 0;
    for (let run = 0; run < RUNS; run++) {
      loads.push(loadavg());
      const cpuBefore = process.cpuUsage();
      const measured = await runPipeline(job, prefix);
      const cpuUsed = process.cpuUsage(cpuBefore);
      wall.push(round(measured.recordsPerSec, 4));
      cpu.push(round(measured.read / ((cpuUsed.user + cpuUsed.system) / 1e6), 4));
      results = measured.results;
      read = measured.read;
    }
    rows.push({ query, plan, events: prefix.length, read, eventsPerSec: figure(wall, loads), eventsPerCpuSec: figure(cpu, loads), results });
    console.log(`  ${query.padEnd(4)} ${plan.padEnd(26)} ${figure(wall).median.toLocaleString().padStart(10)} events/s, ${figure(cpu).median.toLocaleString().padStart(10)} per CPU-second (${read.toLocaleString()} read); ${results.toLocaleString()} results`);
  }
  await dynamo?.stop();
  console.log(`\n${table(['query', 'events/s', 'per core (CPU)', 'read', 'results'], rows.map((r) => [r.query, r.eventsPerSec.median, r.eventsPerCpuSec.median, r.read, r.results]))}`);
  const notPlanned = compiled.filter(({ outcome }) => 'error' in outcome).map(({ query }) => query);
  const file = writeResult('nexmark', process.env.BENCH_COMMAND ?? commandOf('nexmark.ts', options), { events: EVENTS, bids, runs: RUNS, runSeconds: RUN_BUDGET_S, quick: options.quick, rows, notPlanned, notMeasured, seconds: Math.round((Date.now() - started) / 1000) });
  spliceIntoReport(nexmarkSection(readResult<NexmarkResult>('nexmark')));
  console.log(`written ${path.relative(process.cwd(), file)} and its section of bench/REPORT.md`);
}

async function sideInputTable(): Promise<Emulator> {
  const dynamo = await startDynamo();
  const ddb = dynamoClient({ endpoint: dynamo.endpoint });
  await loadSideInput(ddb);
  ddb.destroy();
  process.env.SHARDFLOW_ENDPOINT_URL = dynamo.endpoint;
  return dynamo;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
