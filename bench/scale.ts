/**
 * Scale: how DynamoDB writes and dollars grow with the number of keys (10 to 1,000,000) and with
 * events/s, for click-counts.
 *
 * The job's real handlers run on Lambda's cadence (bench/lambda-sim.ts) with the keyed shards' logs in
 * memory used as a counting store: it counts log write units per started KB as DynamoDB bills them, and a
 * stub sink counts result writes (bench/writes.ts shows the two agree on dynalite). A million keys is
 * beyond what dynalite does in reasonable time.
 *
 * Dollars: the counted writes, with the read units, handler time per invocation and the watermark
 * schedule taken from bench/results/cost.json (the nearest rate), priced by bench/cost-model.ts. Run
 * bench/cost.ts first.
 *
 * `node bin/run-ts.js bench/scale.ts [--quick]`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { MemoryCoordination } from '../lib/state/coordination';
import { MemoryLogStore } from '../lib/state/memory/memory-log-store';
import { flinkKpusFor, flinkMonthly, perMillionEvents, shardflowMonthly, type JobUsage, type StreamUsage } from './cost-model';
import { countingSinkClient, simulate, type SimResult } from './lambda-sim';
import { PRICES, SECONDS_PER_MONTH } from './prices';
import { benchOptions, commandOf, loadavg, readResult, RESULTS_DIR, round, table, writeResult } from './run-info';
import { lineChart } from './svg';
import type { Click } from './workload';
import { keyedShardsFor, partitioningFor, shardsFor, timedClicks } from './workload-events';

const options = benchOptions();
const KEYS = [10, 100, 1_000, 10_000, 100_000, 1_000_000];
const KEY_SWEEP_RATES = options.quick ? [1_000] : [1_000, 10_000];
const RATES = [10, 100, 1_000, 10_000];
const RATE_SWEEP_KEYS = 1_000;
const SECONDS: Record<number, number> = options.quick ? { 10: 60, 100: 30, 1000: 20, 10000: 14 } : { 10: 120, 100: 60, 1000: 30, 10000: 16 };
const STEADY_FROM_MS = 10_000;

/** click-counts, its keyed stage sized as bench/cost.ts sizes it (to the bytes its shuffle stream carries). */
const definition = (shards: number, eventsPerSec: number) =>
  job('scale')
    .source(kinesisSource<Click>('scale-clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s', shards }))
    .keyBy((c) => c.userId)
    .window(tumbling('5s'))
    .sum('clicks')
    .parallelism(keyedShardsFor(eventsPerSec))
    .sink(dynamoSink('scale-out'));

/** Writes per 1,000 events and what a second of the steady part used. */
interface Point {
  readonly eventsPerSec: number;
  readonly keys: number;
  readonly shards: number;
  readonly events: number;
  readonly per1000: { stateWriteUnits: number; sinkWrites: number; total: number };
  /** Per second of the steady part; state item writes are billed by their size (see `dollars`). */
  readonly perSec: { invocations: Record<string, number>; shufflePutPayloadUnits: number; shuffleKb: number; sinkWrites: number; stateItemWrites: number; otherWriteUnits: number };
}

async function point(eventsPerSec: number, keys: number): Promise<Point> {
  const shards = shardsFor(eventsPerSec);
  const logs = new MemoryLogStore();
  const sinks = countingSinkClient();
  const events = timedClicks({ count: Math.round(eventsPerSec * SECONDS[eventsPerSec]!), keys, ratePerSec: eventsPerSec, seed: 21, partitionBy: partitioningFor(eventsPerSec, keys) });
  const from = events[0]!.arrivalMs + STEADY_FROM_MS;
  const to = events[events.length - 1]!.arrivalMs;
  const marks: { sim: SimResult; writes: typeof logs.counters; sink: number; nowMs: number }[] = [];
  await simulate(definition(shards, eventsPerSec), events, { logs, coordination: new MemoryCoordination(), ddb: sinks.client }, {
    onStep: (nowMs, counts) => {
      const due = marks.length === 0 ? from : marks.length === 1 ? to : Number.POSITIVE_INFINITY;
      if (nowMs >= due) marks.push({ sim: counts(), writes: { ...logs.counters }, sink: sinks.counts.items, nowMs });
    },
  }, 1000);
  const [a, b] = marks as [(typeof marks)[number], (typeof marks)[number]];
  const n = b.sim.events - a.sim.events;
  const seconds = (b.nowMs - a.nowMs) / 1000;
  const per = (x: number): number => round((x / n) * 1000, 4);
  const items = b.writes.writeUnits - a.writes.writeUnits;
  const sink = b.sink - a.sink;
  const shuffle = planJob(definition(shards, eventsPerSec)).stages[1]!.input.stream;
  const sh = (x: SimResult) => x.streams[shuffle]!;
  return {
    eventsPerSec,
    keys,
    shards,
    events: n,
    per1000: { stateWriteUnits: per(items), sinkWrites: per(sink), total: per(items + sink) },
    perSec: {
      invocations: Object.fromEntries(Object.keys(b.sim.stages).map((id) => [id, (b.sim.stages[id]!.invocations - a.sim.stages[id]!.invocations) / seconds])),
      shufflePutPayloadUnits: (sh(b.sim).putPayloadUnits - sh(a.sim).putPayloadUnits) / seconds,
      shuffleKb: Math.max(sh(b.sim).records - sh(a.sim).records, (sh(b.sim).bytes - sh(a.sim).bytes) / 1024) / seconds,
      sinkWrites: sink / seconds,
      stateItemWrites: items / seconds,
      otherWriteUnits: sink / seconds,
    },
  };
}

type CostResult = {
  schedule: Parameters<typeof shardflowMonthly>[1];
  rows: { eventsPerSec: number; perThousandEvents: Record<string, number>; handlerMsPerInvocation: Record<string, number> }[];
  naive: { eventsPerSec: number; handlerMsPerRecord: number | null }[];
};

/** Dollars for a point, with reads and handler time per invocation from the nearest measured rate. */
function dollars(p: Point, cost: CostResult): { shardflow: number; perMillion: number; flink: number; flinkPerMillion: number; naive: number; naivePerMillion: number } {
  const nearest = [...cost.rows].sort((x, y) => Math.abs(Math.log(x.eventsPerSec / p.eventsPerSec)) - Math.abs(Math.log(y.eventsPerSec / p.eventsPerSec)))[0]!;
  // Reads follow keyed batches (each reads the log after its slot) and the watermark function's ticks:
  // read units per keyed invocation at the nearest measured rate.
  const nearestKeyedInvocations = nearest.perThousandEvents['s1:invocations'] ?? 0;
  const rruPerKeyedInvocation = nearestKeyedInvocations > 0 ? (nearest.perThousandEvents.rru ?? 0) / nearestKeyedInvocations : 0;
  const gbSecondsPerSec = Object.entries(p.perSec.invocations).reduce((n, [id, inv]) => n + (inv * (nearest.handlerMsPerInvocation[id] ?? 0)) / 1000, 0) * 0.5;
  const source: StreamUsage = { name: 'source', role: 'source', shards: p.shards, putPayloadUnitsPerSec: p.eventsPerSec, billedKbPerSec: p.eventsPerSec };
  const usage: JobUsage = {
    eventsPerSec: p.eventsPerSec,
    streams: [source, { name: 'shuffle', role: 'shuffle', shards: keyedShardsFor(p.eventsPerSec), putPayloadUnitsPerSec: p.perSec.shufflePutPayloadUnits, billedKbPerSec: p.perSec.shuffleKb }],
    lambdaInvocationsPerSec: Object.values(p.perSec.invocations).reduce((a, b) => a + b, 0),
    lambdaGbSecondsPerSec: gbSecondsPerSec,
    // Log entries billed per started KB (counted by the store), and one write per result.
    wruPerSec: p.perSec.stateItemWrites + p.perSec.otherWriteUnits,
    rruPerSec: (p.perSec.invocations.s1 ?? 0) * rruPerKeyedInvocation,
    // Log entries live 7 days (TTL); a write unit is at most 1 KB stored.
    storageGb: (p.perSec.stateItemWrites * 1024 * 7 * 86_400) / 1e9,
  };
  const shardflow = shardflowMonthly(usage, cost.schedule).total;
  const flink = flinkMonthly({ kpus: flinkKpusFor(p.eventsPerSec), source, sinkWruPerSec: p.perSec.sinkWrites }).total;
  const naiveMs = cost.naive.find((x) => x.handlerMsPerRecord !== null)?.handlerMsPerRecord ?? 2;
  const naive =
    p.shards * 730 * PRICES.kinesisShardHour.usd +
    (p.eventsPerSec * SECONDS_PER_MONTH * (PRICES.kinesisPutPayloadUnitsPerMillion.usd + PRICES.dynamoWriteRequestUnitsPerMillion.usd)) / 1e6 +
    ((p.perSec.invocations.s0 ?? 0) * SECONDS_PER_MONTH * PRICES.lambdaRequestsPerMillion.usd) / 1e6 +
    p.eventsPerSec * SECONDS_PER_MONTH * (naiveMs / 1000) * 0.5 * PRICES.lambdaArmGbSecond.usd;
  return {
    shardflow: round(shardflow, 4),
    perMillion: round(perMillionEvents(shardflow, p.eventsPerSec), 4),
    flink: round(flink, 4),
    flinkPerMillion: round(perMillionEvents(flink, p.eventsPerSec), 4),
    naive: round(naive, 4),
    naivePerMillion: round(perMillionEvents(naive, p.eventsPerSec), 4),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadavg();
  const cost = readResult<CostResult>('cost');
  if (!cost) throw new Error('bench/results/cost.json is missing: run bench/cost.ts first (npm run bench does)');
  console.log(`scale: keys ${KEYS.join(', ')} at ${KEY_SWEEP_RATES.join(' and ')} events/s; rates ${RATES.join(', ')} at ${RATE_SWEEP_KEYS} keys (in-memory counting store)`);
  const byKeys: (Point & { cost: ReturnType<typeof dollars> })[] = [];
  for (const rate of KEY_SWEEP_RATES) {
    for (const keys of KEYS) {
      const p = await point(rate, keys);
      byKeys.push({ ...p, cost: dollars(p, cost) });
      console.log(`  ${rate} events/s, ${keys.toLocaleString()} keys: ${p.per1000.total} writes per 1,000 events (state log ${p.per1000.stateWriteUnits}, results ${p.per1000.sinkWrites}); $${byKeys[byKeys.length - 1]!.cost.perMillion} per million events`);
    }
  }
  const byRate: (Point & { cost: ReturnType<typeof dollars> })[] = [];
  for (const rate of RATES) {
    const p = await point(rate, RATE_SWEEP_KEYS);
    byRate.push({ ...p, cost: dollars(p, cost) });
    const c = byRate[byRate.length - 1]!.cost;
    console.log(`  ${rate} events/s, ${RATE_SWEEP_KEYS} keys: ${p.per1000.total} writes per 1,000 events; $${c.shardflow}/month (Managed Flink $${c.flink}, naive $${c.naive})`);
  }

  const charts = {
    writesByKeys: lineChart({
      title: 'DynamoDB writes per 1,000 events vs keys (click-counts)',
      series: [
        ...KEY_SWEEP_RATES.map((rate) => ({ name: `shardflow, ${rate.toLocaleString()} ev/s`, points: byKeys.filter((p) => p.eventsPerSec === rate).map((p) => [p.keys, p.per1000.total] as const) })),
        { name: 'naive (1 per record)', points: KEYS.map((k) => [k, 1000] as const), dashed: true },
      ],
      xLabel: 'distinct keys (Zipf)',
      yLabel: 'write requests per 1,000 events',
      logX: true,
    }),
    costByRate: lineChart({
      title: 'Dollars per month vs events/s (click-counts, 1,000 keys)',
      series: [
        { name: 'shardflow', points: byRate.map((p) => [p.eventsPerSec, p.cost.shardflow] as const) },
        { name: 'Managed Flink', points: byRate.map((p) => [p.eventsPerSec, p.cost.flink] as const) },
        { name: 'naive Lambda + DynamoDB', points: byRate.map((p) => [p.eventsPerSec, p.cost.naive] as const), dashed: true },
      ],
      xLabel: 'events per second (sustained)',
      yLabel: 'USD per month',
      logX: true,
      logY: true,
    }),
    costByKeys: lineChart({
      title: 'Dollars per million events vs keys',
      series: KEY_SWEEP_RATES.map((rate) => ({ name: `shardflow, ${rate.toLocaleString()} ev/s`, points: byKeys.filter((p) => p.eventsPerSec === rate).map((p) => [p.keys, p.cost.perMillion] as const) })),
      xLabel: 'distinct keys (Zipf)',
      yLabel: 'USD per million events',
      logX: true,
    }),
  };
  for (const [name, svg] of Object.entries(charts)) fs.writeFileSync(path.join(RESULTS_DIR, `scale-${name}.svg`), `${svg}\n`);
  console.log(`\n${table(['events/s', 'keys', 'writes/1,000 ev', 'USD/month', 'USD/M events', 'Flink USD/month', 'naive USD/month'], [...byKeys, ...byRate].map((p) => [p.eventsPerSec, p.keys, p.per1000.total, p.cost.shardflow, p.cost.perMillion, p.cost.flink, p.cost.naive]))}`);
  const file = writeResult('scale', commandOf('scale.ts', options), {
    source: 'in-memory counting store (MemoryLogStore write units + a counting sink) on the simulated Lambda cadence; dollars with reads and handler time from bench/results/cost.json',
    loadavgAtStart: load,
    byKeys,
    byRate,
    charts: Object.keys(charts).map((n) => `results/scale-${n}.svg`),
    seconds: Math.round((Date.now() - started) / 1000),
  });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
