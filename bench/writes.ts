/**
 * Write amplification: DynamoDB write requests per 1,000 events for click-counts, shardflow side by side
 * with the naive design (bench/naive-counter.ts: one conditional UpdateItem per record) on the same
 * events, for 10, 1,000 and 100,000 Zipf-distributed keys and batch sizes 100 and 500.
 *
 * Both run against dynalite, every request real and counted at the client (bench/dynamo-meter.ts).
 * shardflow runs its real stage and watermark handlers on Lambda's batching cadence
 * (bench/lambda-sim.ts), batching window 1 s as deployed. Beside it, on the in-memory backend used as
 * a counting store: the same cadence (a cross-check of the store-free model bench/scale.ts uses), and
 * `lockstep` (the keyed stage gets each upstream batch on its own: the least pre-aggregation possible,
 * a bound).
 *
 * `node bin/run-ts.js bench/writes.ts [--quick]`; BENCH_WRITES_EVENTS, BENCH_WRITES_RUNS override sizes.
 */
import { planJob, type JobDefinition } from 'shardflow';
import { dynamoClient } from '../lib/io/aws-clients';
import { startDynamo } from '../lib/local/emulators';
import { createTable } from '../lib/local/resources';
import { MemoryCoordination } from '../lib/state/coordination';
import { DynamoCoordination } from '../lib/state/dynamodb/dynamo-coordination';
import { DynamoLogStore } from '../lib/state/dynamodb/dynamo-log-store';
import { MemoryLogStore } from '../lib/state/memory/memory-log-store';
import { tableDefinitions } from '../infra/tables';
import { meterDynamo, type DynamoMeterCounts } from './dynamo-meter';
import { countingSinkClient, SimStream, simulate, type SimResult, type TimedEvent } from './lambda-sim';
import { createNaiveTable, naiveClickCounter } from './naive-counter';
import { benchOptions, commandOf, figure, loadavg, round, sized, table, writeResult, type Figure } from './run-info';
import { clickCountsNamed, type Click } from './workload';
import { partitioningFor, shardsFor, timedClicks } from './workload-events';

const options = benchOptions();
const EVENTS = sized('BENCH_WRITES_EVENTS', 10_000, 3_000, options);
/** The long run on the counting store: a minute of events, so the partial first and last windows weigh little. */
const LONG_EVENTS = sized('BENCH_WRITES_LONG_EVENTS', 60_000, 15_000, options);
const RUNS = sized('BENCH_WRITES_RUNS', 2, 1, options);
const KEYS = [10, 1_000, 100_000];
const BATCHES = [100, 500];
/** Events per second of the workload (the middle cost scenario), and the shards a deployment would give it. */
const RATE = 1_000;
const SHARDS = shardsFor(RATE);
/**
 * Every window of a run is counted through its whole life (updates, firing, result): a record 60 s past
 * the last event on each source shard moves the watermark past all of them (bench/lambda-sim.ts).
 */
const FLUSH_MS = 60_000;

let jobs = 0;
/** click-counts under a fresh name, so each run has its own tables. */
const clickCounts = (shards: number): JobDefinition => clickCountsNamed(`wa${++jobs}`, shards);

/** What one design wrote for one run. */
interface WriteRun {
  readonly writesPer1000: number;
  readonly wruPer1000: number;
  readonly rruPer1000: number;
  readonly detail: Record<string, number>;
}

async function shardflowOnDynalite(endpoint: string, events: readonly TimedEvent[], batchSize: number, lockstep: boolean): Promise<WriteRun> {
  const definition = clickCounts(SHARDS);
  const plan = planJob(definition);
  const admin = dynamoClient({ endpoint });
  await Promise.all(tableDefinitions(plan).map((t) => createTable(admin, t)));
  const ddb = dynamoClient({ endpoint });
  const meter = meterDynamo(ddb);
  const logs = new DynamoLogStore(ddb, plan.stateTable);
  const sim = await simulate(definition, events, { logs, coordination: new DynamoCoordination(ddb, plan.stateTable), ddb }, { batchSize, lockstep, flushAtEnd: FLUSH_MS });
  admin.destroy();
  ddb.destroy();
  const per = (n: number): number => round((n / events.length) * 1000, 4);
  return {
    writesPer1000: per(meter.itemWrites),
    wruPer1000: per(meter.wru),
    rruPer1000: per(meter.rru),
    detail: {
      logAppends: per(logs.counters.appends),
      logWriteUnits: per(logs.counters.writeUnits),
      lostSlots: per(logs.counters.refused),
      sinkWrites: per(sim.sinkWrites),
      keyedInvocations: per(sim.stages.s1?.invocations ?? 0),
    },
  };
}

/** The same cadence with the logs in memory: log write units (per started KB) and sink items, counted. */
async function shardflowCounted(events: readonly TimedEvent[], batchSize: number, lockstep: boolean): Promise<{ writesPer1000: number; sim: SimResult }> {
  const logs = new MemoryLogStore();
  const sinks = countingSinkClient();
  const sim = await simulate(clickCounts(SHARDS), events, { logs, coordination: new MemoryCoordination(), ddb: sinks.client }, { batchSize, lockstep, flushAtEnd: FLUSH_MS });
  const writes = logs.counters.writeUnits + sinks.counts.items;
  return { writesPer1000: round((writes / events.length) * 1000, 4), sim };
}

/** Distinct (key, 5 s window) pairs per 1,000 events: each needs at least one state write and one result write. */
function windowsPer1000(events: readonly TimedEvent[]): number {
  const windows = new Set<string>();
  for (const e of events) {
    const c = JSON.parse(e.data) as Click;
    windows.add(`${c.userId}/${c.ts - (c.ts % 5000)}`);
  }
  return round((windows.size / events.length) * 1000, 4);
}

/**
 * What it would take to meet the target at 1,000 keys: the same in-memory count with a longer batching
 * window for the keyed stage, and at a higher event rate (more events per key and window).
 */
async function explore(): Promise<Record<string, unknown>[]> {
  const variants = [
    { variant: 'as deployed: batch 500, batching window 1 s, 1,000 events/s', rate: RATE, settings: {} },
    { variant: 'keyed stage batching window 5 s (= the window size), 1,000 events/s', rate: RATE, settings: { batchingWindowMsByStage: { s1: 5000 } } },
    { variant: 'as deployed, at 10,000 events/s', rate: 10_000, settings: {} },
  ];
  const out: Record<string, unknown>[] = [];
  for (const v of variants) {
    const events = timedClicks({ count: Math.max(EVENTS, v.rate * (options.quick ? 5 : 20)), keys: 1000, ratePerSec: v.rate, seed: 7, partitionBy: partitioningFor(v.rate, 1000) });
    const logs = new MemoryLogStore();
    const sinks = countingSinkClient();
    const shards = shardsFor(v.rate);
    await simulate(clickCounts(shards), events, { logs, coordination: new MemoryCoordination(), ddb: sinks.client }, { batchSize: 500, flushAtEnd: FLUSH_MS, ...v.settings });
    const per = (n: number): number => round((n / events.length) * 1000, 4);
    const total = per(logs.counters.writeUnits + sinks.counts.items);
    out.push({
      variant: v.variant,
      events: events.length,
      shards,
      writesPer1000: total,
      ratioToNaive: round(total / 1000, 3),
      logWriteUnits: per(logs.counters.writeUnits),
      logAppends: per(logs.counters.appends),
      sinkWrites: per(sinks.counts.items),
      windowsPer1000: windowsPer1000(events),
    });
  }
  return out;
}

/** The naive design on the same events: the source stream's shards read in batches of `batchSize`, in order. */
async function naiveOnDynalite(endpoint: string, events: readonly TimedEvent[], batchSize: number): Promise<WriteRun> {
  const tableName = `naive${++jobs}`;
  const ddb = dynamoClient({ endpoint });
  await createNaiveTable(ddb, tableName);
  const meter: DynamoMeterCounts = meterDynamo(ddb);
  const handler = naiveClickCounter(ddb, tableName);
  const stream = new SimStream(tableName, SHARDS);
  stream.put(events.map((e) => ({ partitionKey: e.partitionKey, data: Buffer.from(e.data), arrivalMs: e.arrivalMs })));
  let invocations = 0;
  const started = Date.now();
  for (const shard of stream.shards) {
    for (let i = 0; i < shard.pending.length; i += batchSize) {
      const records = shard.pending.slice(i, i + batchSize);
      invocations += 1;
      await handler({
        Records: records.map((r) => ({ eventID: `${shard.shardId}:${r.sequenceNumber}`, kinesis: { data: r.data.toString('base64'), sequenceNumber: r.sequenceNumber, partitionKey: r.partitionKey } })),
      });
    }
  }
  ddb.destroy();
  const per = (n: number): number => round((n / events.length) * 1000, 4);
  const handlerMs = Date.now() - started;
  return {
    writesPer1000: per(meter.itemWrites),
    wruPer1000: per(meter.wru),
    rruPer1000: per(meter.rru),
    detail: { conditionFailures: per(meter.conditionFailures), invocations: per(invocations), handlerMsPerInvocation: round(handlerMs / invocations, 4), handlerMsPerRecord: round(handlerMs / events.length, 4) },
  };
}

interface Row {
  keys: number;
  batch: number;
  shardflow: Figure;
  shardflowWru: Figure;
  shardflowRru: Figure;
  lockstep: Figure;
  counted: Figure;
  /** The same cadence on the counting store over a minute of events: the steady state. */
  steady: Figure;
  naive: Figure;
  naiveWru: Figure;
  ratio: number;
  /** The steady state (a minute on the counting store) over naive. */
  steadyRatio: number;
  detail: Record<string, number>;
}

async function main(): Promise<void> {
  const started = Date.now();
  const dynamo = await startDynamo();
  const rows: Row[] = [];
  const naiveRuns = new Map<string, WriteRun & { batch: number }>();
  try {
    console.log(`writes: ${EVENTS.toLocaleString()} click events at ${RATE} events/s on ${SHARDS} shards, ${RUNS} run(s) per cell (seeds differ), dynalite`);
    for (const keys of KEYS) {
      for (const batch of BATCHES) {
        const runs: { sf: WriteRun; lock: { writesPer1000: number }; counted: number; steady: number; naive: WriteRun & { batch: number } }[] = [];
        const loads: [number, number, number][] = [];
        for (let run = 0; run < RUNS; run++) {
          loads.push(loadavg());
          const events = timedClicks({ count: EVENTS, keys, ratePerSec: RATE, seed: 1000 + run });
          const sf = await shardflowOnDynalite(dynamo.endpoint, events, batch, false);
          // The bound and the cross-check run on the in-memory counting store (it matches dynalite's
          // counts within a few per 1,000: see the "in-memory count" column), to keep the run short.
          const lock = await shardflowCounted(events, batch, true);
          const counted = (await shardflowCounted(events, batch, false)).writesPer1000;
          const steady = (await shardflowCounted(timedClicks({ count: LONG_EVENTS, keys, ratePerSec: RATE, seed: 1000 + run }), batch, false)).writesPer1000;
          // The naive design writes once per record at any batch size: run it once per key count and
          // seed (at the first batch size) unless BENCH_WRITES_NAIVE_EACH=1 asks for every cell.
          const naiveKey = `${keys}/${run}`;
          let naive = naiveRuns.get(naiveKey);
          if (!naive || process.env.BENCH_WRITES_NAIVE_EACH === '1') naiveRuns.set(naiveKey, (naive = { ...(await naiveOnDynalite(dynamo.endpoint, events, batch)), batch }));
          runs.push({ sf, lock, counted, steady, naive });
        }
        const f = (pick: (r: (typeof runs)[number]) => number): Figure => figure(runs.map(pick), loads);
        const row: Row = {
          keys,
          batch,
          shardflow: f((r) => r.sf.writesPer1000),
          shardflowWru: f((r) => r.sf.wruPer1000),
          shardflowRru: f((r) => r.sf.rruPer1000),
          lockstep: f((r) => r.lock.writesPer1000),
          counted: f((r) => r.counted),
          steady: f((r) => r.steady),
          naive: f((r) => r.naive.writesPer1000),
          naiveWru: f((r) => r.naive.wruPer1000),
          ratio: 0,
          steadyRatio: 0,
          detail: { ...runs[0]!.sf.detail, naiveMeasuredAtBatch: runs[0]!.naive.batch, ...Object.fromEntries(Object.entries(runs[0]!.naive.detail).map(([k, v]) => [`naive_${k}`, v])) },
        };
        row.ratio = round(row.shardflow.median / row.naive.median, 3);
        row.steadyRatio = round(row.steady.median / row.naive.median, 3);
        rows.push(row);
        console.log(
          `  ${String(keys).padStart(7)} keys, batch ${String(batch).padStart(3)}: shardflow ${row.shardflow.median} (lockstep ${row.lockstep.median}, counted in memory ${row.counted.median}, steady state ${row.steady.median})  naive ${row.naive.median}  writes/1,000 events  → ${row.ratio}× naive`,
        );
      }
    }
  } finally {
    await dynamo.stop();
  }
  console.log(
    `\n${table(
      ['keys', 'batch', 'shardflow', 'lockstep bound', 'in-memory count', 'steady state', 'naive', 'ratio', 'steady ratio'],
      rows.map((r) => [r.keys, r.batch, r.shardflow.median, r.lockstep.median, r.counted.median, r.steady.median, r.naive.median, `${r.ratio}×`, `${r.steadyRatio}×`]),
    )}`,
  );
  const target = rows.find((r) => r.keys === 1000 && r.batch === 500)!;
  const whatItTakes = await explore();
  for (const v of whatItTakes) console.log(`  ${String(v.variant).padEnd(72)} ${v.writesPer1000} writes/1,000 events (${v.ratioToNaive}× naive; ${v.windowsPer1000} (key, window) pairs per 1,000 events)`);
  const file = writeResult('writes', commandOf('writes.ts', options), {
    source:
      'shardflow and naive: dynalite (real requests, counted at the DynamoDB client), every window of the run counted through its whole life (a flush record moves the watermark past all of them); in-memory count = the same run on the in-memory backend as a counting store; steady state = the counting store over a minute of events (the partial first and last windows weigh little); lockstep bound = the counting store, the keyed stage getting each upstream batch alone',
    events: EVENTS,
    longEvents: LONG_EVENTS,
    runs: RUNS,
    ratePerSec: RATE,
    shards: SHARDS,
    rows,
    whatItTakes,
    windowsPer1000AtTarget: windowsPer1000(timedClicks({ count: EVENTS, keys: 1000, ratePerSec: RATE, seed: 1000 })),
    target: { rule: 'writes per 1,000 events ≤ 1/5 of the naive design at 1,000 keys, batch 500', ratio: target.ratio, steadyRatio: target.steadyRatio, met: target.ratio <= 0.2 && target.steadyRatio <= 0.2 },
    seconds: Math.round((Date.now() - started) / 1000),
  });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
