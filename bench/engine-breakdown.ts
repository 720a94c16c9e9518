/**
 * Where the engine's time goes, beside `bench/engine.ts`:
 * - the store's share: the same jobs and events with the shard logs in dynalite (real requests over
 *   loopback) instead of memory; dynalite runs in its own process, on the other core;
 * - the phases of click-counts in memory: the source stage (JSON decode, event time, keyBy), the keyed
 *   stage (state in memory, firing in-band, the delta packed), and appending the entry;
 * - a floor: JSON.parse plus a hash-map sum per (user, window) on the same events, what any
 *   JavaScript engine decoding JSON records pays before doing anything else.
 *
 * `node bin/run-ts.js bench/engine-breakdown.ts [--quick]`; BENCH_STORE_EVENTS, BENCH_STORE_RUNS,
 * BENCH_PHASE_EVENTS override sizes.
 */
import { planJob } from 'shardflow';
import { dynamoClient } from '../lib/io/aws-clients';
import { startDynamo } from '../lib/local/emulators';
import { StageExecutor, type ShuffleInput } from '../lib/runtime/stage-executor';
import { DynamoLogStore } from '../lib/state/dynamodb/dynamo-log-store';
import { MemoryLogStore } from '../lib/state/memory/memory-log-store';
import { ShardStates } from '../lib/state/shard-states';
import { stateTableDefinition } from '../infra/tables';
import { recreateTables } from './fresh-tables';
import { meterDynamo } from './dynamo-meter';
import { jobs, runOnce } from './engine';
import { benchOptions, commandOf, figure, loadavg, round, secondsSince, sized, table, writeResult, type Figure } from './run-info';
import { clicks } from './workload';

const options = benchOptions();
const STORE_EVENTS = sized('BENCH_STORE_EVENTS', 2_500, 1_500, options);
const RUNS = sized('BENCH_STORE_RUNS', 3, 1, options);
const PHASE_EVENTS = sized('BENCH_PHASE_EVENTS', 300_000, 100_000, options);
const BATCH = 500;
/** Source batches per keyed batch, as bench/engine.ts (BENCH_ENVELOPES there). */
const ENVELOPES = Number(process.env.BENCH_ENVELOPES ?? 20);

/** The same click data as bench/engine.ts (1,000 Zipf users, 10,000 events/s of event time). */
const data = (count: number): string[] => clicks({ count, users: 1000, ratePerSec: 10_000, disorderMs: 1500, seed: 42 }).map((c) => JSON.stringify(c));

async function storeShare(endpoint: string): Promise<Record<string, unknown>[]> {
  const events = data(STORE_EVENTS);
  const rows: Record<string, unknown>[] = [];
  for (const [name, definition] of Object.entries(jobs)) {
    const plan = planJob(definition);
    const admin = dynamoClient({ endpoint });
    const memory: number[] = [];
    const store: number[] = [];
    const loads: [number, number, number][] = [];
    let requestsPer1000 = 0;
    await runOnce(definition, events); // warm up the JIT
    for (let run = 0; run < RUNS; run++) {
      loads.push(loadavg());
      memory.push((await runOnce(definition, events)).eventsPerSec);
      await recreateTables(admin, [stateTableDefinition(plan)]);
      const ddb = dynamoClient({ endpoint });
      const meter = meterDynamo(ddb);
      store.push((await runOnce(definition, events, new ShardStates(new DynamoLogStore(ddb, plan.stateTable)))).eventsPerSec);
      requestsPer1000 = round((Object.values(meter.requests).reduce((a, b) => a + b, 0) / events.length) * 1000, 4);
      ddb.destroy();
    }
    admin.destroy();
    const m = figure(memory, loads);
    const s = figure(store, loads);
    // Per event: time with the store minus time in memory, over time with the store.
    const share = round(1 - s.median / m.median, 3);
    rows.push({ job: name, events: events.length, memory: roundFigure(m), dynalite: roundFigure(s), storeShare: share, dynamoRequestsPer1000: requestsPer1000 });
    console.log(`  ${name.padEnd(34)} memory ${Math.round(m.median).toLocaleString().padStart(9)}  dynalite ${Math.round(s.median).toLocaleString().padStart(7)} events/s  → the store's share ${(share * 100).toFixed(1)} %  (${requestsPer1000} requests per 1,000 events)`);
  }
  return rows;
}

const roundFigure = (f: Figure): Figure => ({ ...f, median: Math.round(f.median), min: Math.round(f.min), max: Math.round(f.max), runs: f.runs.map(Math.round) });

/** click-counts in memory, timing each phase of what runOnce does. */
async function phases(): Promise<Record<string, unknown>> {
  const definition = jobs['click-counts (tumbling 5s, sum)']!;
  const events = data(PHASE_EVENTS);
  const runPhases = async (): Promise<Record<string, number>> => {
    const plan = planJob(definition);
    const states = new ShardStates(new MemoryLogStore());
    const [s0, s1] = plan.stages.map((s) => new StageExecutor(plan, s, states));
    const ns = { records: 0n, sourceStage: 0n, keyedStage: 0n, commit: 0n };
    let seq = 1n;
    let t = process.hrtime.bigint();
    const lap = (phase: keyof typeof ns): void => {
      const now = process.hrtime.bigint();
      ns[phase] += now - t;
      t = now;
    };
    const started = t;
    // As bench/engine.ts: the keyed stage takes ENVELOPES source batches' envelopes and markers per batch.
    let pending: ShuffleInput[] = [];
    const keyed = async (): Promise<void> => {
      const p1 = await s1!.run({ kind: 'shuffled', shardId: 's1-0', inputs: pending });
      lap('keyedStage');
      await p1.commit();
      lap('commit');
      pending = [];
    };
    for (let i = 0, batches = 0; i < events.length; i += BATCH) {
      const records = events.slice(i, i + BATCH).map((d) => ({ shardId: 'shard-0', sequenceNumber: String(seq++), data: d }));
      lap('records');
      const { result } = await s0!.run({ kind: 'source', shardId: 'shard-0', records });
      lap('sourceStage');
      pending.push({ kind: 'envelope', sequenceNumber: String(seq++), from: 'shard-0', arrivalMs: 0, elements: result.shuffles[0]!.elements }, { kind: 'marker', sequenceNumber: String(seq++), from: 'shard-0', arrivalMs: 0, ...result.marker! });
      if (++batches % ENVELOPES === 0) await keyed();
    }
    if (pending.length > 0) await keyed();
    const total = Number(process.hrtime.bigint() - started);
    return { eventsPerSec: Math.round(events.length / (total / 1e9)), ...Object.fromEntries(Object.entries(ns).map(([k, v]) => [`${k}Share`, round(Number(v) / total, 3)])) };
  };
  // Warm both up, then alternate floor and engine rounds, so each pair sees the same machine load.
  floorRun(events);
  await runPhases();
  const runs: Record<string, number>[] = [];
  const parseOnly: number[] = [];
  const parseAndSum: number[] = [];
  const loads: [number, number, number][] = [];
  for (let r = 0; r < RUNS; r++) {
    loads.push(loadavg());
    const f = floorRun(events);
    const run = await runPhases();
    parseOnly.push(f.parseOnly);
    parseAndSum.push(f.parseAndSum);
    runs.push({ ...run, floorEventsPerSec: Math.round(f.parseAndSum), engineOverFloor: round(run.eventsPerSec! / f.parseAndSum, 3) });
  }
  runs.sort((a, b) => a.eventsPerSec! - b.eventsPerSec!);
  const median = runs[Math.floor((runs.length - 1) / 2)]!;
  const floor = { parseOnly: roundFigure(figure(parseOnly, loads)), parseAndSum: roundFigure(figure(parseAndSum, loads)) };
  console.log(`  click-counts phases (median run, ${median.eventsPerSec!.toLocaleString()} events/s): ${Object.entries(median).filter(([k]) => k.endsWith('Share')).map(([k, v]) => `${k.replace('Share', '')} ${(v * 100).toFixed(0)} %`).join(', ')}`);
  console.log(`  floor, paired with each run: JSON.parse alone ${floor.parseOnly.median.toLocaleString()} events/s; JSON.parse + Map sum per (user, window) ${floor.parseAndSum.median.toLocaleString()} events/s; the engine at ${Math.round(median.engineOverFloor! * 100)} % of it`);
  return { events: events.length, median, runs, floor };
}

/**
 * One round of the floor: JSON.parse alone, then JSON.parse and a Map sum per (user, 5 s window) — the
 * least work per event for click-counts in JavaScript — on the same events, in events/s.
 */
function floorRun(events: readonly string[]): { parseOnly: number; parseAndSum: number } {
  let sink = 0;
  let t = process.hrtime.bigint();
  for (const d of events) sink += (JSON.parse(d) as { clicks: number }).clicks;
  const parseOnly = events.length / secondsSince(t);
  t = process.hrtime.bigint();
  const sums = new Map<string, number>();
  for (const d of events) {
    const c = JSON.parse(d) as { userId: string; clicks: number; ts: number };
    const k = `${c.userId}|${c.ts - (c.ts % 5000)}`;
    sums.set(k, (sums.get(k) ?? 0) + c.clicks);
  }
  const parseAndSum = events.length / secondsSince(t);
  if (sink + sums.size < 0) console.log(sink);
  return { parseOnly, parseAndSum };
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`engine breakdown: ${RUNS} run(s); store share on ${STORE_EVENTS.toLocaleString()} events, phases and floor on ${PHASE_EVENTS.toLocaleString()}`);
  const phaseFigures = await phases();
  const dynamo = await startDynamo();
  let store: Record<string, unknown>[];
  try {
    store = await storeShare(dynamo.endpoint);
  } finally {
    await dynamo.stop();
  }
  console.log(`\n${table(['job', 'memory events/s', 'dynalite events/s', "store's share"], store.map((r) => [String(r.job), (r.memory as Figure).median, (r.dynalite as Figure).median, `${((r.storeShare as number) * 100).toFixed(1)} %`]))}`);
  const file = writeResult('engine-breakdown', commandOf('engine-breakdown.ts', options), {
    note: 'store share = 1 − (dynalite events/s ÷ memory events/s) on the same events; dynalite is a separate process (it can use the second core).',
    batch: BATCH,
    runs: RUNS,
    store,
    phases: phaseFigures,
    floor: (phaseFigures as { floor: unknown }).floor,
    seconds: Math.round((Date.now() - started) / 1000),
  });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
