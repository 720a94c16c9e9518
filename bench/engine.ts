/**
 * Engine throughput on one core, in process, with the in-memory shard log: the stage executor running
 * whole batches as the stage functions would (JSON decode, keyBy, shuffle, the keyed shard's state in
 * memory, window firing in-band, the batch's delta packed and appended), without the network.
 * `npm run bench:engine`.
 */
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dynamoSink, job, kinesisSource, session, sliding, tumbling, type JobDefinition } from 'shardflow';
import { planJob } from '../lib/plan/planner';
import type { ShardStates } from '../lib/state/shard-states';
import { BATCH, ENVELOPES_PER_KEYED_BATCH, runPipeline } from './pipeline-run';
import { clicks, summary, type Click } from './workload';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const USERS = 1000;

const source = () => kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s' });
export const jobs: Record<string, JobDefinition> = {
  'click-counts (tumbling 5s, sum)': job('click-counts').source(source()).keyBy((c) => c.userId).window(tumbling('5s')).sum('clicks').sink(dynamoSink('out')),
  'sliding 5s/1s, sum': job('sliding').source(source()).keyBy((c) => c.userId).window(sliding('5s', '1s')).sum('clicks').sink(dynamoSink('out')),
  'session 30s, count': job('sessions').source(source()).keyBy((c) => c.userId).window(session('30s')).count().sink(dynamoSink('out')),
};

/**
 * Runs all events through the job's stages in batches (bench/pipeline-run.ts: source batches of 500, keyed
 * batches of 20 envelopes); returns events per second and results emitted.
 */
export async function runOnce(definition: JobDefinition, data: string[], states?: ShardStates): Promise<{ eventsPerSec: number; results: number }> {
  const stream = planJob(definition).stages.find((s) => s.input.kind === 'source')!.input.stream;
  const run = await runPipeline(definition, data.map((d) => ({ stream, data: d })), states);
  return { eventsPerSec: run.recordsPerSec, results: run.results };
}

async function main(): Promise<void> {
  const data = clicks({ count: EVENTS, users: USERS, ratePerSec: 10_000, disorderMs: 1500, seed: 42 }).map((c) => JSON.stringify(c));
  const machine = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version };
  const rows: Record<string, unknown>[] = [];
  console.log(`engine: ${EVENTS.toLocaleString()} events, ${USERS} Zipf users, source batches of ${BATCH}, keyed batches of ${ENVELOPES_PER_KEYED_BATCH} envelopes, ${RUNS} runs each — ${machine.cpu}, node ${machine.node}`);
  for (const [name, definition] of Object.entries(jobs)) {
    await runOnce(definition, data.slice(0, 50_000)); // warm up the JIT
    const samples: number[] = [];
    const loadavg: number[][] = [];
    let results = 0;
    for (let r = 0; r < RUNS; r++) {
      loadavg.push(os.loadavg().map((l) => Math.round(l * 100) / 100));
      const run = await runOnce(definition, data);
      samples.push(run.eventsPerSec);
      results = run.results;
    }
    const s = summary(samples);
    rows.push({ job: name, median: Math.round(s.median), min: Math.round(s.min), max: Math.round(s.max), results, runs: samples.map(Math.round), loadavg });
    console.log(`  ${name.padEnd(34)} ${Math.round(s.median).toLocaleString().padStart(11)} events/s  (min ${Math.round(s.min).toLocaleString()}, max ${Math.round(s.max).toLocaleString()}; ${results.toLocaleString()} results)`);
  }
  const out = path.join(__dirname, 'results', 'engine.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ benchmark: 'engine', command: process.env.BENCH_COMMAND ?? 'npm run bench:engine', date: new Date().toISOString(), machine, events: EVENTS, runs: RUNS, batch: BATCH, envelopesPerKeyedBatch: ENVELOPES_PER_KEYED_BATCH, users: USERS, loadavg: os.loadavg(), rows }, null, 2) + '\n');
  console.log(`written ${path.relative(process.cwd(), out)}`);
}

// Run when executed (`node bin/run-ts.js bench/engine.ts`), not when imported for its jobs and runOnce.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
