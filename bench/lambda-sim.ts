/**
 * A job's real stage and watermark handlers (lib/io) run on Lambda's event-source-mapping cadence in
 * virtual time, with Kinesis replaced by an in-memory stream and the keyed shards' logs in any store:
 * dynalite (every request real, metered), or memory as a counting store.
 *
 * Lambda's cadence, as configured by the plan (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html):
 * a shard's records are handed over when `batchSize` are waiting, or when the oldest has waited the
 * batching window; a shard's batches run one after another. Invocations are assumed to keep up (they
 * take no virtual time), so the figures are those of a job that is not lagging. The watermark function
 * ticks every `tickMs`.
 *
 * `lockstep` instead hands the keyed stage every upstream batch's envelopes in a batch of their own:
 * the least pre-aggregation the design can get, a bound on write amplification.
 */
import { ListShardsCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { JobDefinition } from 'shardflow';
import type { KinesisStreamEvent } from '../lib/io/kinesis-event';
import { KinesisWriter } from '../lib/io/kinesis-writer';
import { hashKeyOf } from '../lib/io/shard-map';
import { SinkWriter } from '../lib/io/sinks';
import { createStageHandler, shuffleWritersFor } from '../lib/io/stage-handler';
import { createWatermarkHandler } from '../lib/io/watermark-handler';
import type { Plan } from '../lib/plan/plan';
import { planJob } from '../lib/plan/planner';
import type { WatermarkCoordination } from '../lib/state/coordination';
import type { ShardLogStore } from '../lib/state/shard-log';
import { ShardStates, type ShardStateCounters } from '../lib/state/shard-states';
import { performance } from 'node:perf_hooks';

/** Kinesis bills PUT payload units of 25 KB (https://aws.amazon.com/kinesis/data-streams/pricing/). */
export const PUT_PAYLOAD_UNIT_BYTES = 25 * 1024;

/** One record on its way into a stream. */
export interface SimRecord {
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly explicitHashKey?: string;
  readonly arrivalMs: number;
}

interface StoredRecord extends SimRecord {
  readonly sequenceNumber: string;
}

/** What went through one stream. */
export interface StreamCounts {
  putCalls: number;
  records: number;
  bytes: number;
  /** PUT payload units: each record rounded up to 25 KB. */
  putPayloadUnits: number;
}

/** A stream's shard: its hash range and the records not yet handed to the function. */
class SimShard {
  readonly pending: StoredRecord[] = [];
  constructor(
    readonly shardId: string,
    readonly startingHashKey: bigint,
    readonly endingHashKey: bigint,
  ) {}
}

const HASH_SPACE = 2n ** 128n;
let sequence = 0n;
/** Kinesis sequence numbers are long decimal strings, increasing within a shard. */
const nextSequenceNumber = (): string => `49${String(++sequence).padStart(54, '0')}`;

/** An in-memory Kinesis stream with Kinesis' routing: MD5 of the partition key, or the explicit hash key. */
export class SimStream {
  readonly shards: SimShard[];
  readonly counts: StreamCounts = { putCalls: 0, records: 0, bytes: 0, putPayloadUnits: 0 };

  constructor(
    readonly name: string,
    shardCount: number,
  ) {
    const width = HASH_SPACE / BigInt(shardCount);
    this.shards = Array.from({ length: shardCount }, (_, i) => {
      const start = width * BigInt(i);
      const end = i === shardCount - 1 ? HASH_SPACE - 1n : start + width - 1n;
      return new SimShard(`shardId-${String(i).padStart(12, '0')}`, start, end);
    });
  }

  /** Puts records; returns the shard each landed on (as PutRecords answers). */
  put(records: readonly SimRecord[]): string[] {
    this.counts.putCalls += Math.ceil(records.length / 500);
    return records.map((r) => {
      const hash = r.explicitHashKey !== undefined ? BigInt(r.explicitHashKey) : hashKeyOf(r.partitionKey);
      const shard = this.shards.find((s) => s.startingHashKey <= hash && hash <= s.endingHashKey)!;
      shard.pending.push({ ...r, sequenceNumber: nextSequenceNumber() });
      this.counts.records += 1;
      this.counts.bytes += r.data.length;
      this.counts.putPayloadUnits += Math.max(1, Math.ceil((r.data.length + Buffer.byteLength(r.partitionKey)) / PUT_PAYLOAD_UNIT_BYTES));
      return shard.shardId;
    });
  }
}

/** The part of the Kinesis client the stage handlers use (ListShards, PutRecords), on simulated streams. */
function simKinesisClient(streams: ReadonlyMap<string, SimStream>, now: () => number): KinesisClient {
  const stream = (name: string | undefined): SimStream => {
    const s = name && streams.get(name);
    if (!s) throw new Error(`simulated Kinesis has no stream '${name}'`);
    return s;
  };
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof ListShardsCommand) {
      return {
        Shards: stream(command.input.StreamName).shards.map((s) => ({
          ShardId: s.shardId,
          HashKeyRange: { StartingHashKey: s.startingHashKey.toString(), EndingHashKey: s.endingHashKey.toString() },
          SequenceNumberRange: { StartingSequenceNumber: '0' },
        })),
      };
    }
    if (command instanceof PutRecordsCommand) {
      const entries = command.input.Records ?? [];
      const landed = stream(command.input.StreamName).put(
        entries.map((e) => ({ partitionKey: e.PartitionKey!, data: Buffer.from(e.Data!), ...(e.ExplicitHashKey !== undefined && { explicitHashKey: e.ExplicitHashKey }), arrivalMs: now() })),
      );
      return { FailedRecordCount: 0, Records: landed.map((ShardId) => ({ SequenceNumber: '1', ShardId })) };
    }
    throw new Error(`simulated Kinesis does not implement ${(command as object).constructor.name}`);
  };
  return { send } as unknown as KinesisClient;
}

/** How the simulated event source mappings and watermark schedule behave. */
export interface SimSettings {
  /** Records per invocation at most (Lambda's BatchSize). Default: the plan's. */
  readonly batchSize?: number;
  /** Lambda's MaximumBatchingWindowInSeconds, in ms. Default: the plan's. */
  readonly batchingWindowMs?: number;
  /** A batching window for one stage only (e.g. `{ s1: 5000 }`), over `batchingWindowMs`. */
  readonly batchingWindowMsByStage?: Readonly<Record<string, number>>;
  /** The watermark function's tick. Default 1000 ms. */
  readonly tickMs?: number;
  /** Virtual-time step of the simulation. Default 50 ms. */
  readonly stepMs?: number;
  /** One keyed batch per upstream batch (a bound), instead of Lambda's cadence. */
  readonly lockstep?: boolean;
  /** Called after every step with the virtual time and the counts so far (to measure a steady part of a run). */
  readonly onStep?: (nowMs: number, counts: () => SimResult) => void | Promise<void>;
  /**
   * After the last event, put one record on every source shard whose event time is `flushAtEnd` ms later
   * (for key `__flush`): the watermark then passes every window of the run, so each one fires and its
   * whole life — updates, firing, result — is in the counts. The records' own few writes are too.
   */
  readonly flushAtEnd?: number;
  /**
   * Warm containers per stage, each batch going to one of them at random (seeded): Lambda sends a shard's
   * next batch to any warm container, so a container's cached shard state may be behind the log. Default:
   * one container per (stage, shard), every cache always current.
   */
  readonly containerPool?: { readonly size: number; readonly seed: number };
}

/** Per stage: invocations, records handed over, and the handlers' wall time. */
export interface StageCounts {
  invocations: number;
  records: number;
  handlerMs: number;
}

/** What a simulated run did. */
export interface SimResult {
  readonly events: number;
  /** Virtual seconds from the first event to the last tick. */
  readonly virtualSeconds: number;
  readonly stages: Record<string, StageCounts>;
  readonly watermark: { ticks: number; handlerMs: number };
  /** Per stream (source, shuffle). */
  readonly streams: Record<string, StreamCounts>;
  /** Outputs written to sinks (DynamoDB sink items), as counted by the sink writer. */
  readonly sinkWrites: number;
  /** Keyed shard states of every container, summed: cache hits, catch-ups, loads and what they read. */
  readonly stateCache: ShardStateCounters;
}

/** An event to put on the source stream at a moment of (virtual) time. */
export interface TimedEvent {
  readonly arrivalMs: number;
  readonly partitionKey: string;
  readonly data: string;
}

/**
 * Runs `events` through the job's handlers: puts each on the source stream at its arrival time, hands
 * shards' records to the stage functions on Lambda's cadence, ticks the watermark function, and drains
 * at the end (ticks continue until a watermark would close every window: `drainMs` after the last event).
 */
export async function simulate(
  definition: JobDefinition,
  events: readonly TimedEvent[],
  deps: {
    /** Where the keyed shards' logs live; each function container (`s1/shardId-000000000000`) caches its states. */
    logs: ShardLogStore;
    coordination: WatermarkCoordination;
    ddb: DynamoDBClient;
  },
  settings: SimSettings = {},
  drainMs = 15_000,
): Promise<SimResult> {
  const plan: Plan = planJob(definition);
  let now = events[0]?.arrivalMs ?? 0;
  const clock = (): number => now;
  const streams = new Map(plan.streams.filter((s) => s.role !== 'sink').map((s) => [s.name, new SimStream(s.name, s.shards)]));
  const kinesis = simKinesisClient(streams, clock);
  const sinks = new SinkWriter(plan, deps.ddb, kinesis, () => {});
  const handlers = new Map<string, (event: KinesisStreamEvent) => Promise<unknown>>();
  const allStates: ShardStates[] = [];
  const keyedStates = (states: ShardStates): ShardStates => {
    allStates.push(states);
    return states;
  };
  let poolSeed = settings.containerPool?.seed ?? 0;
  const anyContainer = (): number => {
    // mulberry32: a seeded uniform choice, so runs are repeatable.
    poolSeed = (poolSeed + 0x6d2b79f5) | 0;
    let t = Math.imul(poolSeed ^ (poolSeed >>> 15), 1 | poolSeed);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * settings.containerPool!.size);
  };
  const handlerFor = (i: number, shardId: string): ((event: KinesisStreamEvent) => Promise<unknown>) => {
    const stage = plan.stages[i]!;
    const container = settings.containerPool ? `${stage.id}/container-${anyContainer()}` : `${stage.id}/${shardId}`;
    let handler = handlers.get(container);
    if (!handler) {
      handler = createStageHandler({
        plan,
        stageId: stage.id,
        ...(stage.keyed && { states: keyedStates(new ShardStates(deps.logs, { clock })) }),
        coordination: deps.coordination,
        sinks,
        clock,
        shuffleWriters: shuffleWritersFor(stage, (stream) => new KinesisWriter(kinesis, stream)),
      });
      handlers.set(container, handler);
    }
    return handler;
  };
  // As deployed: ticks on every keyed shard; a tick that finds every keyed shard idle says the function
  // sleeps (its requests are counted).
  const tickWriters = new Map<string, KinesisWriter>();
  const tick = createWatermarkHandler({
    plan,
    logs: deps.logs,
    coordination: deps.coordination,
    writerFor: (stream) => tickWriters.get(stream) ?? tickWriters.set(stream, new KinesisWriter(kinesis, stream)).get(stream)!,
    listShards: async (stream) => streams.get(stream)?.shards.map((s) => s.shardId) ?? [],
    // A shard's records not yet handed to its function are the ones after what its stage last read.
    sourceBacklog: async (stream, shardId) => (streams.get(stream)?.shards.find((s) => s.shardId === shardId)?.pending.length ?? 0) > 0,
    clock,
    stopWhenIdle: true,
  });
  const stageCounts: Record<string, StageCounts> = Object.fromEntries(plan.stages.map((s) => [s.id, { invocations: 0, records: 0, handlerMs: 0 }]));
  const watermark = { ticks: 0, handlerMs: 0 };

  const stepMs = settings.stepMs ?? 50;
  const tickMs = settings.tickMs ?? 1000;
  const windowOf = (i: number): number => settings.batchingWindowMsByStage?.[plan.stages[i]!.id] ?? settings.batchingWindowMs ?? plan.stages[i]!.batch.maxBatchingWindowMs;
  const sizeOf = (i: number): number => settings.batchSize ?? plan.stages[i]!.batch.batchSize;
  const source = streams.get(plan.stages[0]!.input.stream)!;

  const invoke = async (i: number, shard: SimShard, count: number): Promise<void> => {
    const records = shard.pending.splice(0, count);
    const stage = plan.stages[i]!;
    const event: KinesisStreamEvent = {
      Records: records.map((r) => ({
        eventID: `${shard.shardId}:${r.sequenceNumber}`,
        eventSourceARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${stage.input.stream}`,
        kinesis: { data: r.data.toString('base64'), sequenceNumber: r.sequenceNumber, partitionKey: r.partitionKey, approximateArrivalTimestamp: r.arrivalMs / 1000 },
      })),
    };
    const started = performance.now();
    await handlerFor(i, shard.shardId)(event);
    const c = stageCounts[stage.id]!;
    c.handlerMs += performance.now() - started;
    c.invocations += 1;
    c.records += records.length;
  };

  /** Lambda's rule for one shard: full batches at once, a partial one when its oldest record has waited the window. */
  const pollShard = async (i: number, shard: SimShard, force: boolean): Promise<boolean> => {
    let ran = false;
    while (shard.pending.length >= sizeOf(i)) {
      await invoke(i, shard, sizeOf(i));
      ran = true;
    }
    const oldest = shard.pending[0];
    if (oldest && (force || now - oldest.arrivalMs >= windowOf(i))) {
      await invoke(i, shard, shard.pending.length);
      ran = true;
    }
    return ran;
  };

  const downstream = async (i: number, force: boolean): Promise<void> => {
    for (let j = i; j < plan.stages.length; j++) {
      for (const shard of streams.get(plan.stages[j]!.input.stream)!.shards) await pollShard(j, shard, force);
    }
  };

  let next = 0;
  let flushed = false;
  let nextTick = now + tickMs;
  const lastArrival = events[events.length - 1]?.arrivalMs ?? now;
  const end = lastArrival + drainMs;
  const started = now;
  while (now <= end) {
    const arriving: SimRecord[] = [];
    while (next < events.length && events[next]!.arrivalMs <= now) {
      const e = events[next++]!;
      arriving.push({ partitionKey: e.partitionKey, data: Buffer.from(e.data), arrivalMs: e.arrivalMs });
    }
    if (settings.flushAtEnd !== undefined && !flushed && next >= events.length && now >= lastArrival + windowOf(0)) {
      flushed = true;
      const ts = lastArrival + settings.flushAtEnd;
      for (const shard of source.shards) {
        arriving.push({ partitionKey: '__flush', explicitHashKey: shard.startingHashKey.toString(), data: Buffer.from(JSON.stringify({ userId: '__flush', clicks: 0, ts })), arrivalMs: now });
      }
    }
    if (arriving.length > 0) source.put(arriving);
    if (settings.lockstep) {
      // Each source batch, then at once the keyed stage on whatever that batch sent.
      for (const shard of source.shards) {
        while (shard.pending.length > 0 && (shard.pending.length >= sizeOf(0) || now - shard.pending[0]!.arrivalMs >= windowOf(0) || next >= events.length)) {
          await invoke(0, shard, Math.min(sizeOf(0), shard.pending.length));
          await downstream(1, true);
        }
      }
    } else {
      await downstream(0, next >= events.length && now >= lastArrival + windowOf(0));
    }
    if (now >= nextTick) {
      const t = performance.now();
      await tick();
      watermark.handlerMs += performance.now() - t;
      watermark.ticks += 1;
      nextTick += tickMs;
    }
    await settings.onStep?.(now, counts);
    now += stepMs;
  }
  return counts();

  function counts(): SimResult {
    return {
      events: next,
      virtualSeconds: (now - started) / 1000,
      stages: Object.fromEntries(Object.entries(stageCounts).map(([id, c]) => [id, { ...c }])),
      watermark: { ...watermark },
      streams: Object.fromEntries([...streams].map(([name, s]) => [name, { ...s.counts }])),
      sinkWrites: sinks.counters.dynamoWrites,
      stateCache: allStates.reduce((sum, st) => {
        for (const k of Object.keys(sum) as (keyof ShardStateCounters)[]) sum[k] += st.counters[k];
        return sum;
      }, { hits: 0, caughtUp: 0, loads: 0, entriesRead: 0, bytesRead: 0, appends: 0, snapshots: 0, bytesAppended: 0, lostSlots: 0 }),
    };
  }
}

/**
 * A DynamoDB client for sinks when state is in memory: it counts the items written — window results go
 * one conditional PutItem each (so an older firing cannot overwrite a newer one), other records and dead
 * letters by BatchWriteItem — and stores nothing.
 */
export function countingSinkClient(): { client: DynamoDBClient; counts: { requests: number; items: number } } {
  const counts = { requests: 0, items: 0 };
  const send = async (command: { input?: { RequestItems?: Record<string, unknown[]>; Item?: unknown } }): Promise<unknown> => {
    counts.requests += 1;
    if (command.input?.Item) counts.items += 1;
    for (const requests of Object.values(command.input?.RequestItems ?? {})) counts.items += requests.length;
    return { UnprocessedItems: {} };
  };
  return { client: { send } as unknown as DynamoDBClient, counts };
}
