/**
 * Dollars from counted usage: what a month of a job costs on AWS at the prices of bench/prices.ts.
 * Usage comes from counted calls (bench/cost.ts); this file only multiplies, so every figure in the
 * report can be traced to a count and a price.
 */
import { FLINK_STORAGE_GB_PER_KPU, HOURS_PER_MONTH, PRICES, SECONDS_PER_MONTH } from './prices';

/** A Kinesis stream of the job, provisioned. */
export interface StreamUsage {
  readonly name: string;
  readonly role: 'source' | 'shuffle';
  readonly shards: number;
  readonly putPayloadUnitsPerSec: number;
  /** Bytes written per second, rounded up to 1 KB per record (what on-demand mode bills). */
  readonly billedKbPerSec: number;
}

/** What a running job uses per second, from counted calls. */
export interface JobUsage {
  readonly eventsPerSec: number;
  readonly streams: readonly StreamUsage[];
  /** Stage functions: invocations, and GB-seconds (memory × measured duration). */
  readonly lambdaInvocationsPerSec: number;
  readonly lambdaGbSecondsPerSec: number;
  /** All DynamoDB request units of the stage functions and the watermark function's ticks. */
  readonly wruPerSec: number;
  readonly rruPerSec: number;
  /** Table storage held (state items kept until TTL, results), GB. */
  readonly storageGb: number;
}

/** The watermark function on its schedule (infra/cloudformation.ts): one invocation a minute, ticking inside it. */
export interface WatermarkSchedule {
  readonly invocationsPerMonth: number;
  /** Memory × billed duration of all invocations in a month. */
  readonly gbSecondsPerMonth: number;
  readonly ticksPerMonth: number;
  /** Request units of one tick of an idle job (nothing due), counted. */
  readonly idleWruPerTick: number;
  readonly idleRruPerTick: number;
}

/**
 * The deployed watermark function while events flow (infra/cloudformation.ts), 512 MB: one invocation
 * ticks every second for 55 s, then starts its successor (the hand-over, assumed 1 s as in
 * bench/latency.ts), so loops follow each other around the clock. EventBridge's once-a-minute invocations
 * find the lease held and return after one request (billed as long as an idle tick, an upper bound).
 */
export function deployedWatermarkSchedule(idle: { wruPerTick: number; rruPerTick: number; tickMs: number }): WatermarkSchedule {
  const loopSeconds = 55;
  const loops = Math.floor(SECONDS_PER_MONTH / (loopSeconds + 1));
  const scheduled = Math.floor(SECONDS_PER_MONTH / 60);
  // The loop sleeps 1 s after each tick: ticks per invocation = 55 s ÷ (1 s + the tick's own time).
  const ticksPerInvocation = Math.floor((loopSeconds * 1000) / (1000 + idle.tickMs)) + 1;
  return {
    invocationsPerMonth: loops + scheduled,
    gbSecondsPerMonth: (loops * loopSeconds + scheduled * (Math.max(1, idle.tickMs) / 1000)) * 0.5,
    ticksPerMonth: loops * ticksPerInvocation,
    idleWruPerTick: idle.wruPerTick,
    idleRruPerTick: idle.rruPerTick,
  };
}

/**
 * The same schedule on an idle job: every input idle, each scheduled invocation ticks once, says it
 * sleeps and returns (`stopWhenIdle`), billed for that one tick. `idle` is counted with the sleep's own
 * requests (the flag write, the second look at the inputs) included.
 */
export function sleepingWatermarkSchedule(idle: { wruPerTick: number; rruPerTick: number; tickMs: number }): WatermarkSchedule {
  const invocationsPerMonth = (SECONDS_PER_MONTH / 60) | 0;
  return {
    invocationsPerMonth,
    // Lambda bills by the millisecond, at least one.
    gbSecondsPerMonth: invocationsPerMonth * (Math.max(1, idle.tickMs) / 1000) * 0.5,
    ticksPerMonth: invocationsPerMonth,
    idleWruPerTick: idle.wruPerTick,
    idleRruPerTick: idle.rruPerTick,
  };
}

/** A month's bill by line. */
export interface CostBreakdown {
  readonly kinesisShardHours: number;
  readonly kinesisPutPayloadUnits: number;
  readonly lambdaRequests: number;
  readonly lambdaCompute: number;
  readonly watermarkFunction: number;
  readonly dynamoWrites: number;
  readonly dynamoReads: number;
  readonly dynamoStorage: number;
  readonly total: number;
}

const perMillion = (n: number, price: number): number => (n / 1e6) * price;
const sum = (parts: Omit<CostBreakdown, 'total'>): CostBreakdown => ({ ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0) });

const shardHours = (streams: readonly { shards: number }[]): number => streams.reduce((n, s) => n + s.shards, 0) * HOURS_PER_MONTH * PRICES.kinesisShardHour.usd;

/** Storage over the free 25 GB. */
const storageCost = (gb: number): number => Math.max(0, gb - 25) * PRICES.dynamoStorageGbMonth.usd;

/** A month of shardflow running `usage` continuously. */
export function shardflowMonthly(usage: JobUsage, schedule: WatermarkSchedule): CostBreakdown {
  const s = SECONDS_PER_MONTH;
  return sum({
    kinesisShardHours: shardHours(usage.streams),
    kinesisPutPayloadUnits: perMillion(usage.streams.reduce((n, st) => n + st.putPayloadUnitsPerSec, 0) * s, PRICES.kinesisPutPayloadUnitsPerMillion.usd),
    lambdaRequests: perMillion(usage.lambdaInvocationsPerSec * s, PRICES.lambdaRequestsPerMillion.usd),
    lambdaCompute: usage.lambdaGbSecondsPerSec * s * PRICES.lambdaArmGbSecond.usd,
    watermarkFunction: perMillion(schedule.invocationsPerMonth, PRICES.lambdaRequestsPerMillion.usd) + schedule.gbSecondsPerMonth * PRICES.lambdaArmGbSecond.usd,
    dynamoWrites: perMillion(usage.wruPerSec * s, PRICES.dynamoWriteRequestUnitsPerMillion.usd),
    dynamoReads: perMillion(usage.rruPerSec * s, PRICES.dynamoReadRequestUnitsPerMillion.usd),
    dynamoStorage: storageCost(usage.storageGb),
  });
}

/** A month of the same deployment with no events: shards, the watermark schedule and its idle ticks. */
export function shardflowIdleMonthly(streams: readonly { shards: number }[], schedule: WatermarkSchedule): CostBreakdown {
  return sum({
    kinesisShardHours: shardHours(streams),
    kinesisPutPayloadUnits: 0,
    lambdaRequests: 0,
    lambdaCompute: 0,
    watermarkFunction: perMillion(schedule.invocationsPerMonth, PRICES.lambdaRequestsPerMillion.usd) + schedule.gbSecondsPerMonth * PRICES.lambdaArmGbSecond.usd,
    dynamoWrites: perMillion(schedule.ticksPerMonth * schedule.idleWruPerTick, PRICES.dynamoWriteRequestUnitsPerMillion.usd),
    dynamoReads: perMillion(schedule.ticksPerMonth * schedule.idleRruPerTick, PRICES.dynamoReadRequestUnitsPerMillion.usd),
    dynamoStorage: 0,
  });
}

/** The same streams in on-demand mode (prices unconfirmed: an alternative row only). */
export function kinesisOnDemandMonthly(streams: readonly StreamUsage[]): number {
  const s = SECONDS_PER_MONTH;
  const gbIn = streams.reduce((n, st) => n + st.billedKbPerSec, 0) * s / 2 ** 20;
  return streams.length * HOURS_PER_MONTH * PRICES.kinesisOnDemandStreamHour.usd + gbIn * (PRICES.kinesisOnDemandIngestPerGb.usd + PRICES.kinesisOnDemandRetrievalPerGb.usd);
}

/** Managed Service for Apache Flink running the same job: KPUs + the orchestration KPU, storage, the same source stream and the same result writes. */
export interface FlinkCost {
  readonly kpus: number;
  readonly kpuHours: number;
  readonly runningStorage: number;
  readonly sourceStream: number;
  readonly sinkWrites: number;
  readonly total: number;
}

export function flinkMonthly(opts: { kpus: number; source: StreamUsage | undefined; sinkWruPerSec: number }): FlinkCost {
  const kpuHours = (opts.kpus + 1) * HOURS_PER_MONTH * PRICES.flinkKpuHour.usd;
  const runningStorage = opts.kpus * FLINK_STORAGE_GB_PER_KPU * PRICES.flinkRunningStorageGbMonth.usd;
  const sourceStream = opts.source
    ? shardHours([opts.source]) + perMillion(opts.source.putPayloadUnitsPerSec * SECONDS_PER_MONTH, PRICES.kinesisPutPayloadUnitsPerMillion.usd)
    : 0;
  const sinkWrites = perMillion(opts.sinkWruPerSec * SECONDS_PER_MONTH, PRICES.dynamoWriteRequestUnitsPerMillion.usd);
  return { kpus: opts.kpus, kpuHours, runningStorage, sourceStream, sinkWrites, total: kpuHours + runningStorage + sourceStream + sinkWrites };
}

/**
 * KPUs for click-counts at a rate: one KPU (1 vCPU) runs a keyed tumbling-window sum of JSON records
 * far beyond 10,000 events/s; past that, one KPU per 20,000 events/s (an assumption, stated).
 */
export const flinkKpusFor = (eventsPerSec: number): number => Math.max(1, Math.ceil(eventsPerSec / 20_000));

/** Dollars per million events of a month at a constant rate. */
export const perMillionEvents = (monthly: number, eventsPerSec: number): number => monthly / ((eventsPerSec * SECONDS_PER_MONTH) / 1e6);
