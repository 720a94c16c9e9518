/**
 * Catch-up: what a keyed batch reads before it runs, when Lambda sends a shard's next batch to any warm
 * container, and how long a cold container takes to load a shard's state.
 *
 * 1. A container pool. click-counts with 1, 4 and 16 keyed shards runs on Lambda's cadence
 *    (bench/lambda-sim.ts) with as many warm containers per stage as shards (Lambda's concurrency with
 *    ParallelizationFactor 1), each batch going to one of them at random: a container's cached state of a
 *    shard is then often behind the log, and the batch first reads the entries after it. Logs in dynalite,
 *    every request metered. Figures, after a 30 s warm-up: the share of batches whose cache was current,
 *    caught up or loaded cold, log entries and KB read per keyed batch, and read units per keyed batch
 *    (its catch-up query, plus the watermark function's log-head query per shard and tick: about one a batch).
 * 2. Cold load. One shard's state of 1, 10 and 100 MB (as JSON; window state of many keys) is written to
 *    the log in dynalite as a snapshot; a new container's first batch loads it: the time of that load,
 *    its items and bytes as stored.
 *
 * `node bin/run-ts.js bench/catch-up.ts [--quick]`.
 */
import { planJob } from 'shardflow';
import { dynamoClient } from '../lib/io/aws-clients';
import { startDynamo } from '../lib/local/emulators';
import { createTable } from '../lib/local/resources';
import { DynamoCoordination } from '../lib/state/dynamodb/dynamo-coordination';
import { DynamoLogStore } from '../lib/state/dynamodb/dynamo-log-store';
import { ShardStates, type ShardStateCounters } from '../lib/state/shard-states';
import { stateTableDefinition, tableDefinitions } from '../infra/tables';
import { meterDynamo } from './dynamo-meter';
import { simulate } from './lambda-sim';
import { benchOptions, commandOf, figure, loadavg, round, table, writeResult, type Figure } from './run-info';
import { clickCountsNamed } from './workload';
import { timedClicks } from './workload-events';

const options = benchOptions();
const SHARDS = [1, 4, 16];
const EVENTS_PER_SHARD_PER_SEC = 250;
const SECONDS = options.quick ? 20 : 90;
/** Counted from here on: by then most containers have met most shards once (a cache holds every shard it met). */
const WARM_UP_S = options.quick ? 10 : 30;
const SIZES_MB = options.quick ? [1, 10] : [1, 10, 100];
const LOAD_RUNS = options.quick ? 1 : 3;

interface PoolRow {
  readonly shards: number;
  readonly containers: number;
  readonly eventsPerSec: number;
  readonly keyedBatches: number;
  /** Shares of keyed batches. */
  readonly hitRate: number;
  readonly caughtUpRate: number;
  readonly loadRate: number;
  readonly entriesReadPerBatch: number;
  readonly kbReadPerBatch: number;
  readonly readUnitsPerBatch: number;
  readonly lostSlots: number;
}

async function pool(endpoint: string, shards: number): Promise<PoolRow> {
  const definition = clickCountsNamed(`catchup${shards}`, shards);
  const plan = planJob(definition);
  const admin = dynamoClient({ endpoint });
  await Promise.all(tableDefinitions(plan).map((t) => createTable(admin, t)));
  admin.destroy();
  const ddb = dynamoClient({ endpoint });
  const logsClient = dynamoClient({ endpoint });
  // Only the logs' requests are metered (the keyed stage's, and the watermark function's head reads); the sinks' and the lease's go through `ddb`.
  const meter = meterDynamo(logsClient);
  const eventsPerSec = EVENTS_PER_SHARD_PER_SEC * shards;
  const events = timedClicks({ count: eventsPerSec * SECONDS, keys: 1000, ratePerSec: eventsPerSec, seed: 5, partitionBy: 'random' });
  // The steady part: from WARM_UP_S in (every container has met every shard by then) to the end.
  let warm: { cache: ShardStateCounters; rru: number } | undefined;
  const result = await simulate(
    definition,
    events,
    { logs: new DynamoLogStore(logsClient, plan.stateTable), coordination: new DynamoCoordination(ddb, plan.stateTable), ddb },
    {
      containerPool: { size: shards, seed: 42 + shards },
      onStep: (nowMs, counts) => {
        if (!warm && nowMs >= events[0]!.arrivalMs + WARM_UP_S * 1000) warm = { cache: { ...counts().stateCache }, rru: meter.rru };
      },
    },
    12_000,
  );
  ddb.destroy();
  logsClient.destroy();
  const c = Object.fromEntries(Object.entries(result.stateCache).map(([k, v]) => [k, v - warm!.cache[k as keyof ShardStateCounters]])) as unknown as ShardStateCounters;
  const batches = c.hits + c.caughtUp + c.loads;
  return {
    shards,
    containers: shards,
    eventsPerSec,
    keyedBatches: batches,
    hitRate: round(c.hits / batches, 3),
    caughtUpRate: round(c.caughtUp / batches, 3),
    loadRate: round(c.loads / batches, 3),
    entriesReadPerBatch: round(c.entriesRead / batches, 3),
    kbReadPerBatch: round(c.bytesRead / 1024 / batches, 3),
    readUnitsPerBatch: round((meter.rru - warm!.rru) / batches, 3),
    lostSlots: c.lostSlots,
  };
}

interface LoadRow {
  readonly mb: number;
  readonly keys: number;
  readonly storedBytes: number;
  readonly items: number;
  readonly loadMs: Figure;
}

/** Window state as the window operator keeps it: per key, a few open windows with their accumulators. */
function windowStateOf(i: number): unknown {
  return { w: [[1_700_000_000_000 + (i % 7) * 5000, 1_700_000_005_000 + (i % 7) * 5000, { sum: i * 3, count: (i % 97) + 1 }], [1_700_000_005_000, 1_700_000_010_000, { sum: i, count: 1 }]], seen: `user-${i}-${(i * 2654435761) % 1e9}` };
}

async function coldLoad(endpoint: string, mb: number): Promise<LoadRow> {
  const table = `catchup-load-${mb}`;
  const admin = dynamoClient({ endpoint });
  await createTable(admin, { ...stateTableDefinition(planJob(clickCountsNamed('catchupload', 1))), TableName: table });
  admin.destroy();
  const ddb = dynamoClient({ endpoint });
  const meter = meterDynamo(ddb);
  const store = new DynamoLogStore(ddb, table);
  const log = { stageId: 's1', shardId: 'shardId-000000000000' };
  const limits = { maxShardBytes: 2 * mb * 1_048_576, maxCachedBytes: 4 * mb * 1_048_576 };
  // One writer fills the shard and appends it as its first entry: a snapshot (it outweighs the threshold).
  const writer = new ShardStates(store, limits);
  const state = await writer.current(log);
  let jsonBytes = 0;
  let keys = 0;
  while (jsonBytes < mb * 1_000_000) {
    const key = `user-${keys}`;
    const value = windowStateOf(keys++);
    state.put(key, value);
    jsonBytes += key.length + JSON.stringify(value).length;
  }
  state.setWatermark(1_700_000_000_000);
  const entry = writer.prepare(log, state)!;
  if (entry.kind !== 'snapshot') throw new Error('expected the first entry to be a snapshot');
  await writer.commit(log, state, entry);
  const items = meter.itemWrites;
  const storedBytes = entry.body.byteLength;
  const samples: number[] = [];
  for (let run = 0; run < LOAD_RUNS; run++) {
    const reader = new ShardStates(store, limits);
    const started = performance.now();
    const loaded = await reader.current(log);
    samples.push(performance.now() - started);
    if (loaded.keyCount !== state.keyCount) throw new Error(`loaded ${loaded.keyCount} keys of ${state.keyCount}`);
  }
  ddb.destroy();
  return { mb, keys: state.keyCount, storedBytes, items, loadMs: figure(samples.map((s) => round(s, 4))) };
}

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadavg();
  console.log(`catch-up: click-counts with ${SHARDS.join(', ')} keyed shards and as many warm containers, each batch to any of them; cold loads of ${SIZES_MB.join(', ')} MB`);
  const dynamo = await startDynamo();
  const poolRows: PoolRow[] = [];
  const loadRows: LoadRow[] = [];
  try {
    for (const shards of SHARDS) {
      const row = await pool(dynamo.endpoint, shards);
      poolRows.push(row);
      console.log(`  ${shards} shard(s), ${row.eventsPerSec} events/s: cache current ${round(row.hitRate * 100, 3)} %, caught up ${round(row.caughtUpRate * 100, 3)} %, loaded ${round(row.loadRate * 100, 3)} %; per keyed batch ${row.entriesReadPerBatch} entries, ${row.kbReadPerBatch} KB, ${row.readUnitsPerBatch} read units`);
    }
    for (const mb of SIZES_MB) {
      const row = await coldLoad(dynamo.endpoint, mb);
      loadRows.push(row);
      console.log(`  cold load of ${mb} MB (${row.keys.toLocaleString()} keys; ${round(row.storedBytes / 1_048_576, 3)} MiB stored in ${row.items} items): ${row.loadMs.median} ms (${row.loadMs.min}–${row.loadMs.max})`);
    }
  } finally {
    await dynamo.stop();
  }
  console.log(`\n${table(['shards', 'containers', 'events/s', 'keyed batches', 'cache current', 'caught up', 'loaded', 'entries read / batch', 'KB read / batch', 'read units / batch'], poolRows.map((r) => [r.shards, r.containers, r.eventsPerSec, r.keyedBatches, r.hitRate, r.caughtUpRate, r.loadRate, r.entriesReadPerBatch, r.kbReadPerBatch, r.readUnitsPerBatch]))}`);
  const file = writeResult('catch-up', commandOf('catch-up.ts', options), { loadavgAtStart: load, eventsPerShardPerSec: EVENTS_PER_SHARD_PER_SEC, seconds: SECONDS, warmUpSeconds: WARM_UP_S, pool: poolRows, coldLoad: loadRows, elapsedSeconds: Math.round((Date.now() - started) / 1000) });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
