/**
 * How fast the watermark function fires due windows, on dynalite: the cause of the latency figure.
 *
 * A window end makes every (key, window) item of that window due at once, and each firing takes three
 * requests in sequence: read the item, write its result to the sink (a conditional PutItem: never over a newer firing),
 * record the firing under the item's version. Three paths on the same due windows:
 * - one window at a time (StageExecutor.fireDue with concurrency 1: how it shipped first);
 * - as shipped now: fireDue with FIRE_CONCURRENCY keys side by side;
 * - a further step, sized here only: the same backend calls in flight with result writes grouped 25 to
 *   a BatchWriteItem (each item's result still lands before its firing is recorded).
 *
 * `node bin/run-ts.js bench/firing.ts [--quick]`; BENCH_FIRING_WINDOWS, BENCH_FIRING_RUNS.
 */
import { BatchWriteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { dynamoClient } from '../lib/io/aws-clients';
import { SinkWriter } from '../lib/io/sinks';
import { startDynamo } from '../lib/local/emulators';
import type { Plan } from '../lib/plan/plan';
import { forEachConcurrently } from '../lib/runtime/concurrently';
import { logicFor } from '../lib/runtime/logic';
import type { KeyedElement } from '../lib/runtime/records';
import { FIRE_CONCURRENCY, StageExecutor } from '../lib/runtime/stage-executor';
import { DynamoBackend } from '../lib/state/dynamodb/dynamo-backend';
import { tableDefinitions } from '../infra/tables';
import { meterDynamo } from './dynamo-meter';
import { recreateTables } from './fresh-tables';
import { benchOptions, commandOf, figure, loadavg, round, sized, table, writeResult, type Figure } from './run-info';
import type { Click } from './workload';

const options = benchOptions();
const WINDOWS = sized('BENCH_FIRING_WINDOWS', 400, 100, options);
const RUNS = sized('BENCH_FIRING_RUNS', 3, 1, options);
const IN_FLIGHT = FIRE_CONCURRENCY;
const T0 = 1_700_000_000_000;

const definition = job('firing')
  .source(kinesisSource<Click>('firing-clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s' }))
  .keyBy((c) => c.userId)
  .window(tumbling('5s'))
  .sum('clicks')
  .sink(dynamoSink('firing-out'));

/** Fresh tables with `windows` due window items of stage s1 (one per key, window [T0, T0 + 5 s)). */
async function prepare(endpoint: string, plan: Plan, windows: number): Promise<void> {
  const admin = dynamoClient({ endpoint });
  await recreateTables(admin, tableDefinitions(plan));
  const stage = plan.stages.find((s) => s.keyed)!;
  const executor = new StageExecutor(plan, stage, new DynamoBackend(admin, plan.stateTable));
  const elements: KeyedElement[] = Array.from({ length: windows }, (_, i) => ({
    key: `user-${i}`,
    origin: { shardId: 'shardId-000000000000', sequenceNumber: String(1000 + i), subIndex: 0 },
    timestampMs: T0 + 100,
    value: { userId: `user-${i}`, clicks: 1, ts: T0 + 100 },
  }));
  const result = await executor.runBatch({ kind: 'shuffled', shardId: 'shardId-000000000000', nowMs: T0, elements, heard: [{ upstreamShard: 'shardId-000000000000', watermarkMs: T0 }] });
  await executor.commit(result);
  admin.destroy();
}

/** StageExecutor.fireDue with the watermark handler's emit (dead letters, then sink writes), `concurrency` keys at a time. */
async function viaFireDue(ddb: DynamoDBClient, plan: Plan, concurrency: number): Promise<number> {
  const stage = plan.stages.find((s) => s.keyed)!;
  const sinks = new SinkWriter(plan, ddb, undefined as never, () => {});
  const executor = new StageExecutor(plan, stage, new DynamoBackend(ddb, plan.stateTable));
  const { fired } = await executor.fireDue(
    T0 + 10_000,
    async (f) => {
      await sinks.deadLetters(f.deadLetters);
      await sinks.write(f.outputs);
    },
    500,
    concurrency,
  );
  return fired;
}

/** The same backend calls, IN_FLIGHT items at a time, results grouped 25 to a BatchWriteItem (each item's result still lands before its firing is recorded). */
async function concurrent(ddb: DynamoDBClient, plan: Plan): Promise<number> {
  const stage = plan.stages.find((s) => s.keyed)!;
  const logic = logicFor(stage.keyed!);
  const backend = new DynamoBackend(ddb, plan.stateTable);
  const sink = plan.sinks.find((s) => s.kind === 'dynamodb');
  if (sink?.kind !== 'dynamodb') throw new Error('no DynamoDB sink');
  let batch: { items: Record<string, unknown>[]; done: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  const flush = async (b: NonNullable<typeof batch>): Promise<void> => {
    try {
      if (b.items.length) await ddb.send(new BatchWriteItemCommand({ RequestItems: { [sink.table]: b.items.map((item) => ({ PutRequest: { Item: marshall(item, { removeUndefinedValues: true }) } })) } }));
      b.resolve();
    } catch (e) {
      b.reject(e);
    }
  };
  const deliver = (items: Record<string, unknown>[]): Promise<void> => {
    if (!batch) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      const b = { items: [] as Record<string, unknown>[], done, resolve, reject };
      batch = b;
      setImmediate(() => {
        if (batch === b) batch = undefined;
        void flush(b);
      });
    }
    const b = batch;
    b.items.push(...items);
    if (b.items.length >= 25) {
      batch = undefined;
      void flush(b);
    }
    return b.done;
  };
  let fired = 0;
  for (;;) {
    const due = await backend.dueItems(stage.id, T0 + 10_000, 500);
    await forEachConcurrently(due, IN_FLIGHT, async (ref) => {
      await backend.fire(ref, logic, T0 + 10_000, (outcome) => deliver(outcome.outputs.map((o) => ({ ...o.record, id: o.id }))));
      fired += 1;
    });
    if (due.length < 500) break;
  }
  return fired;
}

async function main(): Promise<void> {
  const started = Date.now();
  const plan = planJob(definition);
  const dynamo = await startDynamo();
  const rows: { path: string; windowsPerSec: Figure; requestsPerWindow: number }[] = [];
  try {
    console.log(`firing: ${WINDOWS} due windows on dynalite, ${RUNS} run(s) per path`);
    for (const [name, fire] of [
      ['one window at a time, 3 sequential requests each', (ddb: DynamoDBClient, p: Plan) => viaFireDue(ddb, p, 1)],
      [`shipped: ${IN_FLIGHT} keys in flight`, (ddb: DynamoDBClient, p: Plan) => viaFireDue(ddb, p, IN_FLIGHT)],
      [`${IN_FLIGHT} windows in flight, results 25 to a BatchWriteItem`, concurrent],
    ] as const) {
      const rates: number[] = [];
      const loads: [number, number, number][] = [];
      let requestsPerWindow = 0;
      for (let r = 0; r < RUNS; r++) {
        await prepare(dynamo.endpoint, plan, WINDOWS);
        loads.push(loadavg());
        const ddb = dynamoClient({ endpoint: dynamo.endpoint });
        const meter = meterDynamo(ddb);
        const t = process.hrtime.bigint();
        const fired = await fire(ddb, plan);
        const seconds = Number(process.hrtime.bigint() - t) / 1e9;
        ddb.destroy();
        if (fired !== WINDOWS) throw new Error(`${name}: fired ${fired} of ${WINDOWS} windows`);
        rates.push(round(fired / seconds, 4));
        requestsPerWindow = round(Object.values(meter.requests).reduce((a, b) => a + b, 0) / fired, 3);
      }
      const f = figure(rates, loads);
      rows.push({ path: name, windowsPerSec: f, requestsPerWindow });
      console.log(`  ${name}: ${f.median} windows/s (${f.min}–${f.max}); ${requestsPerWindow} requests per window`);
    }
  } finally {
    await dynamo.stop();
  }
  console.log(`\n${table(['path', 'windows fired per second', 'requests per window'], rows.map((r) => [r.path, r.windowsPerSec.median, r.requestsPerWindow]))}`);
  const file = writeResult('firing', commandOf('firing.ts', options), { windows: WINDOWS, runs: RUNS, inFlight: IN_FLIGHT, rows, speedup: round(rows[1]!.windowsPerSec.median / rows[0]!.windowsPerSec.median, 3), batchedSpeedup: round(rows[2]!.windowsPerSec.median / rows[0]!.windowsPerSec.median, 3), seconds: Math.round((Date.now() - started) / 1000) });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
