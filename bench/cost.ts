/**
 * Dollars per million events and per idle month for click-counts at 100, 1,000 and 10,000 events/s (1,000
 * keys) and at 1,000 events/s with 100,000 keys,
 * from counted calls, beside Amazon Managed Service for Apache Flink running the same job.
 *
 * Usage per second is counted, not guessed: the job's real stage and watermark handlers run on
 * Lambda's batching cadence against dynalite (bench/lambda-sim.ts), every DynamoDB request metered
 * (bench/dynamo-meter.ts), every Kinesis record and PUT payload unit counted, over the steady part of a
 * run (after the first windows fired, before the last events). The local runtime cannot sustain
 * 1,000 or 10,000 events/s on this machine, so those rates are not run on it; instead the same counts at
 * the embedded runtime's calibration rate (bench/e2e.ts: calls counted at its edge, real event source
 * mapping, worker processes) check the simulation. The idle month uses the watermark function's ticks
 * on an idle job, counted the same way. Prices: bench/prices.ts; arithmetic: bench/cost-model.ts.
 *
 * Assumptions (stated in the result): source shards sized at 800 events/s each (Kinesis takes 1,000
 * records/s per shard), the keyed stage's parallelism sized to the bytes its shuffle stream carries; Lambda batch
 * 500, batching window 1 s, 512 MB, arm64, the measured handler time per invocation; the watermark
 * function 512 MB for 55 s every minute; 1,000 Zipf users (and 100,000 at 1,000 events/s); records of
 * ~50 bytes; log entries kept 7 days (TTL).
 *
 * `node bin/run-ts.js bench/cost.ts [--quick]`.
 */
import { planJob, type JobDefinition } from 'shardflow';
import { dynamoClient } from '../lib/io/aws-clients';
import { startDynamo } from '../lib/local/emulators';
import { createTable } from '../lib/local/resources';
import { DynamoCoordination } from '../lib/state/dynamodb/dynamo-coordination';
import { DynamoLogStore } from '../lib/state/dynamodb/dynamo-log-store';
import { tableDefinitions } from '../infra/tables';
import { deployedWatermarkSchedule, sleepingWatermarkSchedule, flinkKpusFor, flinkMonthly, kinesisOnDemandMonthly, perMillionEvents, shardflowIdleMonthly, shardflowMonthly, type CostBreakdown, type JobUsage, type StreamUsage } from './cost-model';
import { emptyCounts, addCounts, meterDynamo, type DynamoMeterCounts } from './dynamo-meter';
import { simulate, type SimResult } from './lambda-sim';
import { PRICES, PRICES_CHECKED, PRICES_REGION, SECONDS_PER_MONTH } from './prices';
import { benchOptions, commandOf, loadavg, readResult, round, sized, table, writeResult } from './run-info';
import { clickCountsNamed } from './workload';
import { keyedShardsFor, partitioningFor, SHUFFLE_BYTES_PER_EVENT, shardsFor, timedClicks } from './workload-events';

const options = benchOptions();
/** The issue's points: 100, 1,000 and 10,000 events/s with 1,000 Zipf keys, and 1,000 events/s with 100,000. */
const POINTS: readonly { eventsPerSec: number; keys: number }[] = [
  { eventsPerSec: 100, keys: 1_000 },
  { eventsPerSec: 1_000, keys: 1_000 },
  { eventsPerSec: 10_000, keys: 1_000 },
  { eventsPerSec: 1_000, keys: 100_000 },
];
/** Virtual seconds of events per rate: enough windows in the steady part. */
const SECONDS: Record<number, number> = options.quick ? { 100: 30, 1000: 20, 10000: 16 } : { 100: 50, 1000: 30, 10000: 18 };
const STEADY_FROM_S = sized('BENCH_COST_STEADY_FROM', 10, 10, options);
const LAMBDA_GB = 0.5;
/** Log entries expire 7 days after they are written (lib/state/dynamodb/dynamo-log-store.ts). */
const LOG_RETENTION_S = 7 * 86_400;

let jobs = 0;
/** click-counts under a fresh name, so each run has its own tables. */
const clickCounts = (shards: number, keyedShards: number): JobDefinition => clickCountsNamed(`cost${++jobs}`, shards, keyedShards);

/** Counts at one moment of a simulated run. */
interface Snapshot {
  readonly nowMs: number;
  readonly sim: SimResult;
  readonly meter: DynamoMeterCounts;
  readonly updateItems: number;
}

const diffMeter = (a: DynamoMeterCounts, b: DynamoMeterCounts): DynamoMeterCounts => {
  const d = emptyCounts();
  for (const [op, n] of Object.entries(b.requests)) d.requests[op] = n - (a.requests[op] ?? 0);
  d.itemWrites = b.itemWrites - a.itemWrites;
  d.conditionFailures = b.conditionFailures - a.conditionFailures;
  d.wru = b.wru - a.wru;
  d.rru = b.rru - a.rru;
  d.maxItemBytes = b.maxItemBytes;
  return d;
};

interface Scenario {
  readonly eventsPerSec: number;
  readonly keys: number;
  readonly keyedShards: number;
  /** What the shuffle stream carried per event and per shard (a shard takes 1 MB/s). */
  readonly shuffleBytesPerEvent: number;
  readonly shuffleKbPerShardPerSec: number;
  readonly shards: number;
  readonly partitionBy: string;
  readonly steadySeconds: number;
  readonly events: number;
  readonly usage: JobUsage;
  readonly perThousandEvents: Record<string, number>;
  readonly handlerMsPerInvocation: Record<string, number>;
  readonly idleTick: { ticks: number; wruPerTick: number; rruPerTick: number; requestsPerTick: Record<string, number>; tickMs: number };
  readonly sinkWruPerSec: number;
}

/** Runs one rate on the simulated cadence against dynalite and turns the steady part into usage per second. */
async function scenario(endpoint: string, eventsPerSec: number, keys: number): Promise<Scenario> {
  const shards = shardsFor(eventsPerSec);
  const keyedShards = keyedShardsFor(eventsPerSec);
  const definition = clickCounts(shards, keyedShards);
  const plan = planJob(definition);
  const admin = dynamoClient({ endpoint });
  await Promise.all(tableDefinitions(plan).map((t) => createTable(admin, t)));
  admin.destroy();
  const ddb = dynamoClient({ endpoint });
  const meter = meterDynamo(ddb);
  const partitionBy = partitioningFor(eventsPerSec, keys);
  const events = timedClicks({ count: eventsPerSec * SECONDS[eventsPerSec]!, keys, ratePerSec: eventsPerSec, seed: 11, partitionBy });
  const first = events[0]!.arrivalMs;
  const last = events[events.length - 1]!.arrivalMs;
  const snaps: Snapshot[] = [];
  const drainMs = 20_000;
  // Steady part: from STEADY_FROM_S after the start to the last event. Idle: the last 5 s of the drain
  // (inputs idle after 10 s, nothing left due).
  const marks = [first + STEADY_FROM_S * 1000, last, last + drainMs - 5100, last + drainMs - 100];
  const snap = (nowMs: number, counts: () => SimResult): void => {
    if (snaps.length < marks.length && nowMs >= marks[snaps.length]!) snaps.push({ nowMs, sim: counts(), meter: addCounts(emptyCounts(), meter), updateItems: meter.requests.UpdateItem ?? 0 });
  };
  const logs = new DynamoLogStore(ddb, plan.stateTable);
  const logWriteUnitsAt: number[] = [];
  await simulate(definition, events, { logs, coordination: new DynamoCoordination(ddb, plan.stateTable), ddb }, { onStep: (nowMs, counts) => {
    const before = snaps.length;
    snap(nowMs, counts);
    if (snaps.length > before) logWriteUnitsAt.push(logs.counters.writeUnits);
  } }, drainMs);
  ddb.destroy();
  const [a, b, c, d] = snaps as [Snapshot, Snapshot, Snapshot, Snapshot];
  const seconds = (b.nowMs - a.nowMs) / 1000;
  const steadyEvents = b.sim.events - a.sim.events;
  const m = diffMeter(a.meter, b.meter);
  const stageDiff = (id: string, field: 'invocations' | 'records' | 'handlerMs'): number => (b.sim.stages[id]?.[field] ?? 0) - (a.sim.stages[id]?.[field] ?? 0);
  const sinkWrites = b.sim.sinkWrites - a.sim.sinkWrites;
  const logWriteUnits = (logWriteUnitsAt[1] ?? 0) - (logWriteUnitsAt[0] ?? 0);
  const streams: StreamUsage[] = plan.streams
    .filter((s) => s.role !== 'sink')
    .map((s) => {
      const x = b.sim.streams[s.name]!;
      const y = a.sim.streams[s.name]!;
      const recordsPerSec = (x.records - y.records) / seconds;
      const bytesPerSec = (x.bytes - y.bytes) / seconds;
      return {
        name: s.name,
        role: s.role === 'source' ? 'source' : 'shuffle',
        shards: s.shards,
        putPayloadUnitsPerSec: (x.putPayloadUnits - y.putPayloadUnits) / seconds,
        billedKbPerSec: Math.max(recordsPerSec, bytesPerSec / 1024),
      };
    });
  const stageIds = plan.stages.map((s) => s.id);
  const invocations = stageIds.reduce((n, id) => n + stageDiff(id, 'invocations'), 0);
  const handlerMs = stageIds.reduce((n, id) => n + stageDiff(id, 'handlerMs'), 0);
  // Stored state: log entries live until TTL removes them, 7 days after they are written.
  const logBytesPerSec = ((logWriteUnitsAt[1] ?? 0) - (logWriteUnitsAt[0] ?? 0)) * 1024 / seconds;
  const usage: JobUsage = {
    eventsPerSec,
    streams,
    lambdaInvocationsPerSec: invocations / seconds,
    lambdaGbSecondsPerSec: (handlerMs / 1000 / seconds) * LAMBDA_GB,
    wruPerSec: m.wru / seconds,
    rruPerSec: m.rru / seconds,
    storageGb: (logBytesPerSec * LOG_RETENTION_S) / 1e9,
  };
  const idle = diffMeter(c.meter, d.meter);
  const ticks = d.sim.watermark.ticks - c.sim.watermark.ticks;
  const per1000 = (n: number): number => round((n / steadyEvents) * 1000, 4);
  const shuffle = streams.find((st) => st.role === 'shuffle');
  const shuffleBytesPerSec = shuffle ? ((b.sim.streams[shuffle.name]!.bytes - a.sim.streams[shuffle.name]!.bytes) / seconds) : 0;
  if (shuffle && shuffleBytesPerSec / shuffle.shards > 1_000_000) console.warn(`  the shuffle stream carried ${Math.round(shuffleBytesPerSec / shuffle.shards / 1024)} KB/s per shard, over Kinesis' 1 MB/s: raise SHUFFLE_BYTES_PER_EVENT`);
  return {
    eventsPerSec,
    keys,
    keyedShards,
    shuffleBytesPerEvent: round(shuffleBytesPerSec / eventsPerSec, 4),
    shuffleKbPerShardPerSec: round(shuffleBytesPerSec / 1024 / (shuffle?.shards ?? 1), 4),
    shards,
    partitionBy,
    steadySeconds: round(seconds, 4),
    events: steadyEvents,
    usage,
    perThousandEvents: {
      ...Object.fromEntries(Object.entries(m.requests).map(([op, n]) => [`dynamodb:${op}`, per1000(n)])),
      wru: per1000(m.wru),
      logWru: per1000(logWriteUnits),
      rru: per1000(m.rru),
      conditionFailures: per1000(m.conditionFailures),
      sinkWrites: per1000(sinkWrites),
      ...Object.fromEntries(stageIds.map((id) => [`${id}:invocations`, per1000(stageDiff(id, 'invocations'))])),
      ...Object.fromEntries(streams.map((s) => [`${s.role}:putPayloadUnits`, per1000(s.putPayloadUnitsPerSec * seconds)])),
    },
    handlerMsPerInvocation: Object.fromEntries(stageIds.map((id) => [id, round(stageDiff(id, 'handlerMs') / Math.max(1, stageDiff(id, 'invocations')), 4)])),
    idleTick: {
      ticks,
      wruPerTick: round(idle.wru / ticks, 4),
      rruPerTick: round(idle.rru / ticks, 4),
      requestsPerTick: Object.fromEntries(Object.entries(idle.requests).filter(([, n]) => n > 0).map(([op, n]) => [op, round(n / ticks, 4)])),
      tickMs: round((d.sim.watermark.handlerMs - c.sim.watermark.handlerMs) / ticks, 4),
    },
    sinkWruPerSec: sinkWrites / seconds,
  };
}

type E2eCalibration = {
  calibration?: {
    ratePerSec: number;
    steady?: { events: number; producerPutRecordsCalls: number; calls: Record<string, { count: number }>; stages: { stage: string; invocations: number; meanDurationMs: number }[]; sinkItemsWritten: number };
    idle?: { ticks: number; calls: Record<string, { count: number }>; watermarkTickMeanMs: number };
  };
};

/** The simulation beside the embedded runtime at the calibration rate: calls per 1,000 events. */
function validation(sim: Scenario | undefined, e2e: E2eCalibration | undefined): Record<string, unknown>[] | undefined {
  const steady = e2e?.calibration?.steady;
  if (!sim || !steady || steady.events <= 0) return undefined;
  const per1000 = (n: number): number => round((n / steady.events) * 1000, 3);
  const e2eCalls = (op: string): number => steady.calls[op]?.count ?? 0;
  const rows: [string, number, number | undefined][] = [
    ['s0 invocations', per1000(steady.stages[0]?.invocations ?? 0), sim.perThousandEvents['s0:invocations']],
    ['s1 invocations', per1000(steady.stages[1]?.invocations ?? 0), sim.perThousandEvents['s1:invocations']],
    ['DynamoDB UpdateItem', per1000(e2eCalls('dynamodb:UpdateItem')), sim.perThousandEvents['dynamodb:UpdateItem']],
    ['DynamoDB PutItem', per1000(e2eCalls('dynamodb:PutItem')), sim.perThousandEvents['dynamodb:PutItem']],
    ['DynamoDB GetItem', per1000(e2eCalls('dynamodb:GetItem')), sim.perThousandEvents['dynamodb:GetItem']],
    ['DynamoDB Query', per1000(e2eCalls('dynamodb:Query')), sim.perThousandEvents['dynamodb:Query']],
    ['DynamoDB BatchWriteItem calls', per1000(e2eCalls('dynamodb:BatchWriteItem')), sim.perThousandEvents['dynamodb:BatchWriteItem']],
    ['results written', per1000(steady.sinkItemsWritten), sim.perThousandEvents.sinkWrites],
  ];
  return rows.map(([what, embedded, simulated]) => ({ what, embedded, simulated: simulated ?? 0 }));
}

/** Levers priced on the same usage (for the engine's owners; nothing here changes the engine). */
function whatIf(s: Scenario, schedule: ReturnType<typeof deployedWatermarkSchedule>): Record<string, { monthly: number; perMillionEvents: number }> {
  const windowsPerSec = s.sinkWruPerSec;
  const priced = (usage: JobUsage, sched = schedule) => {
    const monthly = shardflowMonthly(usage, sched).total;
    return { monthly: round(monthly, 4), perMillionEvents: round(perMillionEvents(monthly, s.eventsPerSec), 4) };
  };
  const less = (wru: number): JobUsage => ({ ...s.usage, wruPerSec: Math.max(0, s.usage.wruPerSec - wru) });
  const small = { ...schedule, gbSecondsPerMonth: schedule.gbSecondsPerMonth / 4 };
  return {
    asMeasured: priced(s.usage),
    resultsOnly: priced(less(Math.max(0, s.usage.wruPerSec - windowsPerSec))),
    watermarkFunctionAt128Mb: priced(s.usage, small),
  };
}

/** The state-log issue's cost targets, each with its figure. */
function targetsOf(rows: readonly { eventsPerSec: number; keys: number; writeUnitsPerWindow: number; shardflow: { monthly: { total: number }; idleMonthly: { total: number } }; flink: { monthly: Record<string, number> } }[]): { target: string; figure: string; met: boolean }[] {
  const at = (eventsPerSec: number, keys: number) => rows.find((r) => r.eventsPerSec === eventsPerSec && r.keys === keys);
  const ratio = (r: (typeof rows)[number]): number => round(r.shardflow.monthly.total / r.flink.monthly.total!, 3);
  const out = rows.map((r) => ({
    target: `Sustained bill ≤ Managed Flink's at ${r.eventsPerSec.toLocaleString('en-US')} events/s, ${r.keys.toLocaleString('en-US')} keys`,
    figure: `$${round(r.shardflow.monthly.total, 4)} vs $${round(r.flink.monthly.total!, 4)} a month (${ratio(r)}×)`,
    met: r.shardflow.monthly.total <= r.flink.monthly.total!,
  }));
  const k1 = at(1000, 1000);
  if (k1) out.push({ target: 'Stretch: ≤ 0.5× Managed Flink at 1,000 events/s', figure: `${ratio(k1)}×`, met: ratio(k1) <= 0.5 });
  if (k1) out.push({ target: 'DynamoDB write units per (key, window) ≤ 1.3, result included, at 1,000 events/s, 1,000 keys', figure: String(k1.writeUnitsPerWindow), met: k1.writeUnitsPerWindow <= 1.3 });
  const k10 = at(10_000, 1000);
  if (k10) out.push({ target: 'DynamoDB write units per (key, window) ≤ 1.1 at 10,000 events/s', figure: String(k10.writeUnitsPerWindow), met: k10.writeUnitsPerWindow <= 1.1 });
  if (rows[0]) out.push({ target: 'Idle month ≤ $22', figure: `$${round(rows[0].shardflow.idleMonthly.total, 4)}`, met: rows[0].shardflow.idleMonthly.total <= 22 });
  return out;
}

const roundBreakdown = (c: CostBreakdown): CostBreakdown => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, round(v, 4)])) as unknown as CostBreakdown;

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadavg();
  console.log(`cost: click-counts at ${POINTS.map((p) => `${p.eventsPerSec} events/s × ${p.keys} keys`).join(', ')} (Zipf); prices ${PRICES_REGION}, checked ${PRICES_CHECKED}`);
  const dynamo = await startDynamo();
  const scenarios: Scenario[] = [];
  try {
    for (const { eventsPerSec: rate, keys } of POINTS) {
      const s = await scenario(dynamo.endpoint, rate, keys);
      scenarios.push(s);
      console.log(`  ${rate} events/s, ${keys.toLocaleString()} keys, on ${s.shards} shard(s): ${s.events.toLocaleString()} steady events; per 1,000 events: ${s.perThousandEvents.wru} WRU (state log ${s.perThousandEvents.logWru}, results ${s.perThousandEvents.sinkWrites}), ${s.perThousandEvents.rru} RRU, ${round((s.usage.lambdaInvocationsPerSec / rate) * 1000, 3)} invocations; handler ms ${JSON.stringify(s.handlerMsPerInvocation)}`);
    }
  } finally {
    await dynamo.stop();
  }

  const e2e = readResult<E2eCalibration>('e2e');
  const idleSim = scenarios[0]!.idleTick;
  const idleE2e = e2e?.calibration?.idle;
  // The idle tick's request units come from the metered simulation; the embedded runtime's count of
  // requests per tick (at its edge) checks it.
  const idleTick = { wruPerTick: idleSim.wruPerTick, rruPerTick: idleSim.rruPerTick, tickMs: idleE2e?.watermarkTickMeanMs ?? idleSim.tickMs };
  // Busy: the function loops its 55 s; idle: it ticks once a minute and sleeps.
  const schedule = deployedWatermarkSchedule(idleTick);
  const sleeping = sleepingWatermarkSchedule(idleTick);
  const rows = scenarios.map((s) => {
    const busy = shardflowMonthly(s.usage, schedule);
    const idle = shardflowIdleMonthly(s.usage.streams, sleeping);
    const source = s.usage.streams.find((st) => st.role === 'source');
    const flink = flinkMonthly({ kpus: flinkKpusFor(s.eventsPerSec), source, sinkWruPerSec: s.sinkWruPerSec });
    const flinkIdle = flinkMonthly({ kpus: 1, source: source && { ...source, putPayloadUnitsPerSec: 0 }, sinkWruPerSec: 0 });
    const sourceShardHours = (source?.shards ?? 0) * 730 * PRICES.kinesisShardHour.usd;
    const eventsPerMonth = s.eventsPerSec * SECONDS_PER_MONTH;
    return {
      eventsPerSec: s.eventsPerSec,
      keys: s.keys,
      shards: s.shards,
      keyedShards: s.keyedShards,
      shuffleBytesPerEvent: s.shuffleBytesPerEvent,
      shuffleKbPerShardPerSec: s.shuffleKbPerShardPerSec,
      partitionBy: s.partitionBy,
      // Every DynamoDB write unit of the job (log entries, coordination, results) per (key, window) result.
      writeUnitsPerWindow: round(s.perThousandEvents.wru! / s.perThousandEvents.sinkWrites!, 4),
      eventsPerMonth,
      shardflow: {
        monthly: roundBreakdown(busy),
        perMillionEvents: round(perMillionEvents(busy.total, s.eventsPerSec), 4),
        marginalPerMillionEvents: round(perMillionEvents(busy.total - idle.total, s.eventsPerSec), 4),
        idleMonthly: roundBreakdown(idle),
        kinesisOnDemandInsteadMonthly: round(kinesisOnDemandMonthly(s.usage.streams), 4),
      },
      flink: {
        monthly: Object.fromEntries(Object.entries(flink).map(([k, v]) => [k, round(v, 4)])),
        perMillionEvents: round(perMillionEvents(flink.total, s.eventsPerSec), 4),
        idleMonthly: round(flinkIdle.total, 4),
      },
      idleRatio: {
        withSourceStream: round(flinkIdle.total / idle.total, 3),
        jobOnly: round((flinkIdle.total - sourceShardHours) / (idle.total - sourceShardHours), 3),
      },
      whatIf: whatIf(s, schedule),
      usage: s.usage,
      perThousandEvents: s.perThousandEvents,
      handlerMsPerInvocation: s.handlerMsPerInvocation,
    };
  });
  const writes = readResult<{ rows?: { keys: number; batch: number; detail: Record<string, number> }[] }>('writes');
  const naiveMsPerRecord = writes?.rows?.find((r) => r.keys === 1000 && r.batch === 500)?.detail.naive_handlerMsPerRecord;
  const naive = rows.map((r) => {
    // The tutorial design: the same source stream, one invocation per source batch, one WRU per record.
    const s0PerSec = (r.usage.lambdaInvocationsPerSec * (r.perThousandEvents['s0:invocations'] ?? 0)) / ((r.perThousandEvents['s0:invocations'] ?? 0) + (r.perThousandEvents['s1:invocations'] ?? 0) || 1);
    const source = r.usage.streams.find((s) => s.role === 'source')!;
    const monthly =
      source.shards * 730 * PRICES.kinesisShardHour.usd +
      (source.putPayloadUnitsPerSec * SECONDS_PER_MONTH * PRICES.kinesisPutPayloadUnitsPerMillion.usd) / 1e6 +
      (s0PerSec * SECONDS_PER_MONTH * PRICES.lambdaRequestsPerMillion.usd) / 1e6 +
      r.eventsPerSec * SECONDS_PER_MONTH * ((naiveMsPerRecord ?? 2) / 1000) * LAMBDA_GB * PRICES.lambdaArmGbSecond.usd +
      (r.eventsPerSec * SECONDS_PER_MONTH * PRICES.dynamoWriteRequestUnitsPerMillion.usd) / 1e6;
    return { eventsPerSec: r.eventsPerSec, keys: r.keys, monthly: round(monthly, 4), perMillionEvents: round(perMillionEvents(monthly, r.eventsPerSec), 4), handlerMsPerRecord: naiveMsPerRecord ?? null };
  });

  console.log(
    `\n${table(
      ['events/s', 'keys', 'shards', 'WRU per window', 'shardflow $/month', '$/M events', 'of which DynamoDB', 'idle $/month', 'Managed Flink $/month', 'Flink $/M events', 'naive $/M events'],
      rows.map((r, i) => [
        r.eventsPerSec,
        r.keys,
        r.shards,
        r.writeUnitsPerWindow,
        round(r.shardflow.monthly.total, 4),
        round(r.shardflow.perMillionEvents, 3),
        `${Math.round(((r.shardflow.monthly.dynamoWrites + r.shardflow.monthly.dynamoReads) / r.shardflow.monthly.total) * 100)} %`,
        round(r.shardflow.idleMonthly.total, 4),
        round(r.flink.monthly.total as number, 4),
        round(r.flink.perMillionEvents, 3),
        round(naive[i]!.perMillionEvents, 3),
      ]),
    )}`,
  );
  const idleRow = rows[0]!;
  // What the idle month would be with the source declared partitionedBy the key (one stage: no shuffle
  // stream), and what it was while the watermark function looped whether idle or not.
  const streams0 = scenarios[0]!.usage.streams;
  const sourceOnly = streams0.filter((st) => st.role === 'source');
  const idleWhatIf = {
    asMeasured: round(shardflowIdleMonthly(streams0, sleeping).total, 4),
    sourcePartitionedByKeyNoShuffleStream: round(shardflowIdleMonthly(sourceOnly, sleeping).total, 4),
    // Had the watermark function kept looping while idle: 55 s loops around the clock.
    watermarkAlwaysLooping: round(shardflowIdleMonthly(streams0, schedule).total, 4),
    managedFlink: idleRow.flink.idleMonthly,
  };
  console.log(`\nidle month (${idleRow.shards} source shard + shuffle): shardflow $${round(idleRow.shardflow.idleMonthly.total, 4)} vs Managed Flink $${idleRow.flink.idleMonthly} → ${idleRow.idleRatio.withSourceStream}× counting the source stream both need, ${idleRow.idleRatio.jobOnly}× for the job's own resources`);
  const file = writeResult('cost', commandOf('cost.ts', options), {
    prices: { checked: PRICES_CHECKED, region: PRICES_REGION, table: PRICES },
    assumptions: {
      keys: POINTS.map((p) => p.keys),
      sourceShards: 'ceil(events/s ÷ 800): Kinesis takes 1,000 records/s per shard',
      keyedShards: `the keyed stage's .parallelism (its shuffle stream's shards) sized to the bytes it carries, as a user would: ceil(events/s × ${SHUFFLE_BYTES_PER_EVENT} B ÷ 800 KB/s) — envelopes pack many events per record, so a shard's 1 MB/s decides, not its 1,000 records/s; each row records the bytes per event and per shard measured`,
      lambda: 'stage functions: batch 500, batching window 1 s (the plan), 512 MB arm64, billed for the handler time measured per invocation (real handlers, dynalite over loopback, this machine)',
      watermark: '512 MB. While events flow: 55 s loops of a tick a second, each starting its successor (1 s hand-over assumed), plus EventBridge\'s once-a-minute invocations that find the lease held. Idle: one invocation a minute that ticks once, says it sleeps and returns (billed for that tick); a stage function wakes it when data comes back',
      partitioning: 'producers partition by user unless the busiest Zipf user would exceed 800 records/s on one shard (then at random: at 10,000 events/s)',
      dynamo: 'request units metered from each request and response (log entries billed per started KB, results, the watermark function\'s lease and log-head reads); log entries kept 7 days (TTL); results-table storage (the user\'s data) not included',
      steady: `counts between ${STEADY_FROM_S} s after the first event and the last event`,
      flink: '1 KPU up to 20,000 events/s (then one per 20,000), plus the orchestration KPU, 50 GB running storage per KPU; the same source stream and the same DynamoDB result writes as shardflow',
      naive: 'the same source stream; one invocation per source batch; one WRU per record; handler time per record measured in bench/writes.ts',
    },
    loadavgAtStart: load,
    schedule,
    idleTick: { simulated: idleSim, embedded: idleE2e ? { ticks: idleE2e.ticks, requestsPerTick: Object.fromEntries(Object.entries(idleE2e.calls).filter(([k]) => k.startsWith('dynamodb:')).map(([k, v]) => [k, round(v.count / Math.max(1, idleE2e.ticks), 3)])) } : null },
    validation: validation(scenarios[0], e2e),
    idleWhatIf,
    rows,
    naive,
    target: { rule: 'idle cost per month below Managed Flink by ≥ 5×', withSourceStream: idleRow.idleRatio.withSourceStream, jobOnly: idleRow.idleRatio.jobOnly, met: idleRow.idleRatio.withSourceStream >= 5 },
    targets: targetsOf(rows),
    seconds: Math.round((Date.now() - started) / 1000),
  });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
