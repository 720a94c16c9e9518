/**
 * End to end on the embedded runtime (`shardflow dev`: kinesis-local, dynalite, the function bundles in
 * worker processes, Lambda's event source mapping), click-counts with live events:
 *
 * 1. sustained events/s with 1, 2 and 4 source shards: a producer puts `events` as fast as it can while
 *    the job runs; the figure is events ÷ time from the first put until both stages have taken
 *    everything in. Each run starts the runtime afresh (fresh streams: kinesis-local slows down as a
 *    shard fills, so runs stay under ~10,000 records per shard);
 * 2. iterator lag over time under a load above the 2-shard sustained rate, then with no load: does it
 *    recover, and how fast;
 * 3. calls per event at a steady rate (the cost model's calibration: every AWS call counted at the edge,
 *    invocations and handler durations), and the calls of an idle job (the watermark function's ticks).
 *
 * `node bin/run-ts.js bench/e2e.ts [--quick]`; BENCH_E2E_EVENTS_PER_SHARD, BENCH_E2E_RUNS,
 * BENCH_E2E_OVERLOAD_SECONDS, BENCH_E2E_CALIBRATION_RATE override sizes.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { DevRuntime } from '../lib/local/dev-runtime';
import { CallCounter, cpuByPart, cpuSince, functionFigures, mappingFigures, Producer, sleep, startEmbedded, waitUntil } from './embedded';
import { benchOptions, commandOf, figure, loadavg, round, sized, table, writeResult, type Figure } from './run-info';

const options = benchOptions();
const EVENTS_PER_SHARD = sized('BENCH_E2E_EVENTS_PER_SHARD', 2_500, 1_500, options);
const RUNS = sized('BENCH_E2E_RUNS', 2, 1, options);
const SHARD_COUNTS = [1, 2, 4];
const OVERLOAD_SECONDS = sized('BENCH_E2E_OVERLOAD_SECONDS', 20, 8, options);
const CALIBRATION_RATE = sized('BENCH_E2E_CALIBRATION_RATE', 100, 100, options);
const CALIBRATION_SECONDS = sized('BENCH_E2E_CALIBRATION_SECONDS', 40, 20, options);
const IDLE_SECONDS = sized('BENCH_E2E_IDLE_SECONDS', 20, 10, options);

const records = (runtime: DevRuntime, stage: number): number => mappingFigures(runtime)[stage]?.records ?? 0;

/** Starts the runtime and takes a few events through it, so cold starts are not in the measurement. */
async function warm(runtime: DevRuntime, producer: Producer, shards: number): Promise<void> {
  await producer.asFastAsPossible(100 * shards, 1);
  await waitUntil('warm-up events through both stages', () => records(runtime, 0) >= producer.put && runtime.idle(), 120_000);
}

async function throughputRun(shards: number, events: number, seed: number): Promise<{ eventsPerSec: number; producerPerSec: number; seconds: number; cpuSecondsPer1000: Record<string, number> }> {
  const { runtime } = await startEmbedded(shards);
  try {
    const producer = new Producer(runtime, seed);
    await warm(runtime, producer, shards);
    const base = records(runtime, 0);
    const cpuBefore = cpuByPart(runtime);
    const started = Date.now();
    let producerDone = 0;
    const producing = producer.asFastAsPossible(events, 2).then(() => (producerDone = Date.now()));
    await waitUntil('all events through both stages', () => producerDone > 0 && records(runtime, 0) >= base + events && runtime.idle(), 600_000, 50);
    await producing;
    const seconds = (Date.now() - started) / 1000;
    const cpu = cpuSince(cpuBefore, cpuByPart(runtime));
    const cpuSecondsPer1000 = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round((v / events) * 1000, 3)]));
    return { eventsPerSec: events / seconds, producerPerSec: events / ((producerDone - started) / 1000), seconds, cpuSecondsPer1000 };
  } finally {
    await runtime.stop();
  }
}

interface LagSample {
  t: number;
  offeredPerSec: number;
  s0AgeMs: number;
  s1AgeMs: number;
}

/** Load above the sustained rate for a while, then none: iterator age of both stages every half second. */
async function overload(shards: number, ratePerSec: number): Promise<{ samples: LagSample[]; loadSeconds: number; achievedPerSec: number; recoverySeconds: number | null; peakLagMs: number }> {
  const { runtime } = await startEmbedded(shards);
  try {
    const producer = new Producer(runtime, 99);
    await warm(runtime, producer, shards);
    const samples: LagSample[] = [];
    const started = Date.now();
    let lastPut = producer.put;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sleep(500);
        const m = mappingFigures(runtime);
        samples.push({ t: round((Date.now() - started) / 1000, 3), offeredPerSec: (producer.put - lastPut) * 2, s0AgeMs: m[0]!.iteratorAgeMs, s1AgeMs: m[1]!.iteratorAgeMs });
        lastPut = producer.put;
      }
    })();
    const put0 = producer.put;
    await producer.atRate(ratePerSec, OVERLOAD_SECONDS * 1000);
    const loadSeconds = (Date.now() - started) / 1000;
    const achievedPerSec = (producer.put - put0) / loadSeconds;
    // Recovered: both stages caught up (iterator age under 2 s: a batching window and a tick).
    let recoverySeconds: number | null = null;
    try {
      const waited = await waitUntil('lag back under 2 s', () => {
        const m = mappingFigures(runtime);
        return runtime.idle() || (m[0]!.iteratorAgeMs < 2000 && m[1]!.iteratorAgeMs < 2000);
      }, Math.max(60_000, OVERLOAD_SECONDS * 4000), 250);
      recoverySeconds = round(waited / 1000, 3);
    } catch {
      recoverySeconds = null;
    }
    await sleep(5000);
    sampling = false;
    await sampler;
    const peakLagMs = Math.max(...samples.map((s) => Math.max(s.s0AgeMs, s.s1AgeMs)));
    return { samples, loadSeconds: round(loadSeconds, 3), achievedPerSec: round(achievedPerSec, 4), recoverySeconds, peakLagMs };
  } finally {
    await runtime.stop();
  }
}

/** Calls per event at a steady rate, counted between two snapshots in the middle of the run, then while idle. */
async function calibration(ratePerSec: number): Promise<Record<string, unknown>> {
  const counter = new CallCounter();
  const { runtime } = await startEmbedded(1, counter);
  try {
    const producer = new Producer(runtime, 7);
    await warm(runtime, producer, 1);
    const sinkTable = runtime.plan.sinks.find((s) => s.kind === 'dynamodb');
    const sinkItems = async (): Promise<number> => {
      if (sinkTable?.kind !== 'dynamodb') return 0;
      let n = 0;
      let start: Record<string, never> | undefined;
      do {
        const page = await runtime.ddb.send(new ScanCommand({ TableName: sinkTable.table, Select: 'COUNT', ...(start && { ExclusiveStartKey: start }) }));
        n += page.Count ?? 0;
        start = page.LastEvaluatedKey as typeof start;
      } while (start);
      return n;
    };
    const steadyFrom = Math.min(10, CALIBRATION_SECONDS / 4) * 1000;
    const steadyTo = CALIBRATION_SECONDS * 1000 - 5000;
    let snap: { calls: ReturnType<CallCounter['snapshot']>; put: number; putCalls: number; maps: ReturnType<typeof mappingFigures>; fns: ReturnType<typeof functionFigures>; sink: number; at: number } | undefined;
    let delta: Record<string, unknown> | undefined;
    const started = Date.now();
    const snapshots = (async () => {
      await sleep(steadyFrom);
      snap = { calls: counter.snapshot(), put: producer.put, putCalls: producer.calls, maps: mappingFigures(runtime), fns: functionFigures(runtime), sink: await sinkItems(), at: Date.now() };
      await sleep(steadyTo - steadyFrom);
      const events = producer.put - snap.put;
      const maps = mappingFigures(runtime);
      const fns = functionFigures(runtime);
      const sink = await sinkItems();
      const stageFns = runtime.plan.stages.map((s, i) => ({
        stage: s.id,
        invocations: maps[i]!.invocations - snap!.maps[i]!.invocations,
        records: maps[i]!.records - snap!.maps[i]!.records,
        meanDurationMs: round(mean(fns[i]!.durationsMs.slice(-Math.min(100, fns[i]!.invocations - snap!.fns[i]!.invocations))), 4),
      }));
      const wm = fns[fns.length - 1]!;
      delta = {
        events,
        producerPutRecordsCalls: producer.calls - snap.putCalls,
        seconds: round((Date.now() - snap.at) / 1000, 4),
        calls: withoutOwnCalls(counter.since(snap.calls), wm.invocations - snap.fns[fns.length - 1]!.invocations, runtime),
        stages: stageFns,
        watermark: { ticks: wm.invocations - snap.fns[fns.length - 1]!.invocations, meanDurationMs: round(mean(wm.durationsMs.slice(-50)), 4) },
        sinkItemsWritten: sink - snap.sink,
      };
    })();
    await producer.atRate(ratePerSec, CALIBRATION_SECONDS * 1000);
    await snapshots;
    const producedPerSec = round(producer.put / ((Date.now() - started) / 1000), 4);
    // Idle: the inputs go idle after the job's idleAfter (10 s); then only the watermark function runs.
    await waitUntil('stages caught up', () => runtime.idle(), 120_000);
    await sleep(12_000);
    const idleSnap = counter.snapshot();
    const idleFns = functionFigures(runtime);
    const idleStarted = Date.now();
    await sleep(IDLE_SECONDS * 1000);
    const fns = functionFigures(runtime);
    const ticks = fns[fns.length - 1]!.invocations - idleFns[idleFns.length - 1]!.invocations;
    const idle = {
      seconds: round((Date.now() - idleStarted) / 1000, 4),
      ticks,
      calls: withoutOwnCalls(counter.since(idleSnap), ticks, runtime),
      stageInvocations: fns.slice(0, -1).reduce((n, f, i) => n + f.invocations - idleFns[i]!.invocations, 0),
      watermarkTickMeanMs: round(mean(fns[fns.length - 1]!.durationsMs.slice(-Math.max(1, ticks))), 4),
    };
    return { ratePerSec, producedPerSec, shards: 1, steady: delta, idle };
  } finally {
    await runtime.stop();
  }
}

const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * The edge also sees the runtime's own calls, which AWS would not: the status line's GetItem of each
 * keyed stage's watermark after every tick, and the benchmark's Scans. They are taken out.
 */
function withoutOwnCalls(calls: Record<string, { count: number; bytes: number }>, ticks: number, runtime: DevRuntime): Record<string, { count: number; bytes: number }> {
  const out = { ...calls };
  delete out['dynamodb:Scan'];
  const own = ticks * runtime.plan.stages.filter((s) => s.keyed).length;
  const get = out['dynamodb:GetItem'];
  if (get) out['dynamodb:GetItem'] = { count: Math.max(0, get.count - own), bytes: get.bytes };
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`e2e: embedded runtime, ${EVENTS_PER_SHARD.toLocaleString()} events per shard, ${RUNS} run(s) per shard count`);
  const throughput: { shards: number; events: number; eventsPerSec: Figure; producerPerSec: Figure; cpuSecondsPer1000: Record<string, number> }[] = [];
  for (const shards of SHARD_COUNTS) {
    const events = EVENTS_PER_SHARD * shards;
    const runs: Awaited<ReturnType<typeof throughputRun>>[] = [];
    const loads: [number, number, number][] = [];
    for (let run = 0; run < RUNS; run++) {
      loads.push(loadavg());
      runs.push(await throughputRun(shards, events, 100 + run));
    }
    const row = { shards, events, eventsPerSec: figure(runs.map((r) => round(r.eventsPerSec, 4)), loads), producerPerSec: figure(runs.map((r) => round(r.producerPerSec, 4)), loads), cpuSecondsPer1000: runs[0]!.cpuSecondsPer1000 };
    throughput.push(row);
    console.log(`  ${shards} shard(s): ${Math.round(row.eventsPerSec.median).toLocaleString()} events/s end to end (min ${Math.round(row.eventsPerSec.min)}, max ${Math.round(row.eventsPerSec.max)}; producer ${Math.round(row.producerPerSec.median)} events/s); CPU s per 1,000 events: ${JSON.stringify(row.cpuSecondsPer1000)}`);
  }
  const two = throughput.find((t) => t.shards === 2)!;
  const overloadRate = Math.max(50, Math.round(two.eventsPerSec.median * 2.5));
  console.log(`  overload: ${overloadRate} events/s (2.5 × the 2-shard rate) for ${OVERLOAD_SECONDS} s on 2 shards, then none`);
  const lag = await overload(2, overloadRate);
  console.log(`    achieved ${Math.round(lag.achievedPerSec)} events/s; peak iterator age ${(lag.peakLagMs / 1000).toFixed(1)} s; ${lag.recoverySeconds === null ? 'did NOT recover' : `recovered ${lag.recoverySeconds} s after the load stopped`}`);
  console.log(`  calibration: ${CALIBRATION_RATE} events/s for ${CALIBRATION_SECONDS} s on 1 shard, then ${IDLE_SECONDS} s idle`);
  const calibrated = await calibration(CALIBRATION_RATE);
  console.log(`    steady: ${JSON.stringify((calibrated.steady as { calls: unknown }).calls)}`);
  console.log(`    idle: ${JSON.stringify((calibrated.idle as { calls: unknown }).calls)}`);
  console.log(`\n${table(['shards', 'events', 'events/s (median)', 'min', 'max', 'producer events/s'], throughput.map((t) => [t.shards, t.events, Math.round(t.eventsPerSec.median), Math.round(t.eventsPerSec.min), Math.round(t.eventsPerSec.max), Math.round(t.producerPerSec.median)]))}`);
  const file = writeResult('e2e', commandOf('e2e.ts', options), {
    note: 'kinesis-local slows down as one shard fills (>10k records): each run starts fresh emulators and stays under that per shard.',
    runs: RUNS,
    throughput,
    overload: { shards: 2, offeredPerSec: overloadRate, ...lag },
    calibration: calibrated,
    seconds: Math.round((Date.now() - started) / 1000),
  });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
