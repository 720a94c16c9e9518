/**
 * Faults the chaos runs found, each pinned down in memory with the harness's crash injection: the
 * first attempt of a batch computes its state and dies before delivering anything (`crash: 'after-state'`),
 * then Lambda delivers the batch again.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dynamoSink, job, kinesisSource, session, tumbling } from 'shardflow';
import { harness } from 'shardflow/testing';
import { stateTableDefinition } from '../../infra/tables';
import { dynamoClient } from '../../lib/io/aws-clients';
import { DevRuntime } from '../../lib/local/dev-runtime';
import { childBootstrap, startDynamo, type Emulator } from '../../lib/local/emulators';
import { freePort } from '../../lib/local/free-port';
import { createTable } from '../../lib/local/resources';
import { planJob } from '../../lib/plan/planner';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { DynamoLogStore } from '../../lib/state/dynamodb/dynamo-log-store';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import { NO_WATERMARK } from '../../lib/time/watermark';
import { descendants, ROOT } from './processes';

type Click = { userId: string; clicks: number; ts: number };
type SourceRecord = { shardId: string; sequenceNumber: string; data: string };

const recordsOf = (shardId: string, first: bigint, data: readonly unknown[]): SourceRecord[] =>
  data.map((d, i) => ({ shardId, sequenceNumber: String(first + BigInt(i)), data: typeof d === 'string' ? d : JSON.stringify(d) }));

const source = () => kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '1s' });

describe('a record the window function refuses is dead-lettered even when the batch is replayed after a crash', () => {
  // Found by `npm run chaos` (tumbling seeds 1005, 1008, 1011): the first attempt moved the item's marks past
  // the refused record, so the retry saw it as already applied and its dead letter was never written.
  const jobs = {
    'sum (refuses a non-numeric field)': job('dl-sum').source(source()).keyBy((c) => c.userId).window(tumbling('1s')).sum('clicks').sink(dynamoSink('sums')),
    'aggregate (throws)': job('dl-agg')
      .source(source())
      .keyBy((c) => c.userId)
      .window(session('500ms'))
      .aggregate<{ n: number }, { n: number }>({
        create: () => ({ n: 0 }),
        add: (a, c) => {
          if (typeof c.clicks !== 'number') throw new Error('clicks is not a number');
          return { n: a.n + c.clicks };
        },
        merge: (a, b) => ({ n: a.n + b.n }),
        result: (a) => a,
      })
      .sink(dynamoSink('sessions')),
  };

  test.each(Object.entries(jobs))('%s', async (_name, definition) => {
    const batch = recordsOf('shard-0', 1n, [
      { userId: 'a', clicks: 1, ts: 100 },
      { userId: 'a', clicks: 'two', ts: 200 },
      { userId: 'a', clicks: 3, ts: 300 },
    ]);
    const clean = harness(definition);
    await clean.replay(batch);
    await clean.finish();

    const h = harness(definition);
    await h.replay(batch, { crash: 'after-state' });
    expect(h.deadLetters()).toEqual([]);
    await h.replay(batch);
    await h.replay(batch.slice(0, 2)); // and a bisected retry of a delivered batch changes nothing
    await h.finish();
    expect(h.deadLetters().map((d) => [d.shardId, d.sequenceNumber])).toContainEqual(['shard-0', '2']);
    expect(new Set(h.deadLetters().map((d) => `${d.shardId}/${d.sequenceNumber}/${d.operator}`))).toEqual(new Set(clean.deadLetters().map((d) => `${d.shardId}/${d.sequenceNumber}/${d.operator}`)));
    expect(h.table()).toEqual(clean.table());
  });
});

test('an element a session refuses as late goes to the late output even when the batch is replayed after a crash', async () => {
  // Sessions decide lateness inside the item (after merging), so the decision must survive a replay too.
  const definition = job('late-session').source(source()).keyBy((c) => c.userId).window(session('500ms')).lateOutput(dynamoSink('late')).count().sink(dynamoSink('sessions'));
  const h = harness(definition);
  await h.replay(recordsOf('shard-0', 1n, [{ userId: 'a', clicks: 1, ts: 10_000 }]));
  await h.watermark(9_000);
  const batch = recordsOf('shard-0', 2n, [
    { userId: 'a', clicks: 1, ts: 100 }, // its session [100, 600) ended before the watermark: late
    { userId: 'a', clicks: 1, ts: 10_100 },
  ]);
  await h.replay(batch, { crash: 'after-state' });
  expect(h.late()).toEqual([]);
  await h.replay(batch);
  expect(h.late()).toEqual([{ userId: 'a', clicks: 1, ts: 100 }]);
  expect(h.results('late')).toEqual([{ userId: 'a', clicks: 1, ts: 100 }]);
  await h.finish();
  expect(h.results()).toEqual([{ key: 'a', windowStart: 10_000, windowEnd: 10_600, count: 2 }]);
});

test("with two sources, a record refused in a source stage is dead-lettered under its stream's name, apart from the other stream's", async () => {
  // Found building the join kind of `npm run chaos` (two source streams): a source stage's dead letters named the
  // bare shard (`shardId-000000000000`), which both streams have, so neither said which stream it came from, and
  // the two streams' records at one position made one dead-letter id: one overwrote the other.
  const j = job('dl-two-sources');
  const checked = (c: Click): Click => {
    if (typeof c.clicks !== 'number') throw new TypeError('clicks is not a number');
    return c;
  };
  const clicks = j.source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts })).map(checked);
  const views = j.source(kinesisSource<Click>('views', { eventTime: (c) => c.ts })).map(checked);
  clicks.union(views).sink(dynamoSink('all'));
  const h = harness(j);
  // The same shard and position on each stream: unreadable JSON, then a value the map refuses.
  await h.sendRaw(['{"userId":', JSON.stringify({ userId: 'a', clicks: 'two', ts: 1 })], 'shardId-000000000000', 'clicks');
  await h.sendRaw(['{"userId":', JSON.stringify({ userId: 'b', clicks: 'two', ts: 1 })], 'shardId-000000000000', 'views');
  const letters = h.deadLetters().map((d) => ({ id: d.id, shardId: d.shardId }));
  expect(letters.map((d) => d.shardId).sort()).toEqual(['clicks:shardId-000000000000', 'clicks:shardId-000000000000', 'views:shardId-000000000000', 'views:shardId-000000000000']);
  expect(new Set(letters.map((d) => d.id)).size).toBe(4);
});

describe('on DynamoDB (dynalite)', () => {
  let dynamo: Emulator;
  let ddb: ReturnType<typeof dynamoClient>;
  beforeAll(async () => {
    dynamo = await startDynamo();
    ddb = dynamoClient({ endpoint: dynamo.endpoint });
  }, 60_000);
  afterAll(async () => {
    ddb?.destroy();
    await dynamo?.stop();
  });

  test("a downstream batch holding a retried upstream batch's envelopes twice counts each record once", async () => {
    // Found by `npm run chaos` (tumbling seeds 1006, 1009: windows counted two and three times). An upstream
    // batch that dies after sending its envelopes is sent again; within the batching window the downstream
    // shard can get both copies in one batch. (The per-item design's blind ADD summed both; the shard's marks
    // must drop the second, on a cold container too.)
    const plan = planJob(job('dup-envelopes').source(source()).keyBy((c) => c.userId).window(tumbling('1s')).sum('clicks').sink(dynamoSink('dup-out')));
    await createTable(ddb, stateTableDefinition(plan));
    const logs = new DynamoLogStore(ddb, plan.stateTable);
    const up = 'shardId-000000000000';
    const element = (seq: number, clicks: number, ts: number) => ({ origin: { shardId: up, sequenceNumber: String(seq), subIndex: 0 }, timestampMs: ts, value: { userId: 'a', clicks, ts }, key: 'a' });
    const first = [element(1, 1, 100), element(2, 2, 200), element(3, 4, 300)];
    const retried = first.slice(0, 2); // the retry's first half (bisect), sent again
    const run = async (inputs: ShuffleInput[]) => {
      // Each batch on a fresh container: the state comes from the log.
      const prepared = await new StageExecutor(plan, plan.stages[1]!, new ShardStates(logs)).run({ kind: 'shuffled', shardId: 'shardId-000000000001', inputs });
      expect(await prepared.commit()).toBe('appended');
      return prepared.result;
    };
    await run([{ kind: 'envelope', sequenceNumber: '1', from: up, arrivalMs: 1, elements: first }, { kind: 'envelope', sequenceNumber: '2', from: up, arrivalMs: 2, elements: retried }]);
    await run([{ kind: 'envelope', sequenceNumber: '3', from: up, arrivalMs: 3, elements: retried }, { kind: 'envelope', sequenceNumber: '4', from: up, arrivalMs: 3, elements: [element(4, 8, 400)] }]);
    const fired = await run([{ kind: 'marker', sequenceNumber: '5', from: up, arrivalMs: 4, watermarkMs: 5_000 }]);
    expect(fired.outputs.map((o) => o.output.record)).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 15 }]);
  });
});

describe('the watermark waits for every shard that exists, not for a number of inputs', () => {
  // Found by `npm run chaos` (session seed 3006): the source stream was split before one of its shards had
  // delivered a batch (its first batches kept failing). The keyed stage waited "until as many inputs as the
  // plan has shards have reported" — and the split's children filled that count. The watermark moved on
  // without the silent shard, and its on-time records came in late.
  const plan = planJob(job('split-early').source(source()).keyBy((c) => c.userId).window(tumbling('1s')).count().sink(dynamoSink('split-early-out')));
  const shard = (n: number): string => `shardId-${String(n).padStart(12, '0')}`;
  const element = (from: number, seq: number, ts: number) => ({ origin: { shardId: shard(from), sequenceNumber: String(seq), subIndex: 0 }, timestampMs: ts, value: { userId: 'a', clicks: 1, ts }, key: 'a' });

  test('a shard a tick names that has not reported holds the watermark until it reports or goes idle, on every keyed shard', async () => {
    const states = new ShardStates(new MemoryLogStore());
    const keyed = new StageExecutor(plan, plan.stages[1]!, states);
    const run = async (down: string, inputs: ShuffleInput[]) => {
      const prepared = await keyed.run({ kind: 'shuffled', shardId: down, inputs });
      await prepared.commit();
      return prepared.result;
    };
    // Shard 1 was split into 2 and 3, whose records reached both downstream shards; shard 0 has not reported.
    for (const down of ['d0', 'd1']) {
      await run(down, [{ kind: 'tick', sequenceNumber: '6', arrivalMs: 1_000, upstream: [0, 1, 2, 3].map(shard) }]);
      for (const up of [1, 2, 3]) await run(down, [{ kind: 'envelope', sequenceNumber: '7', from: shard(up), arrivalMs: 1_500, elements: [element(up, 10 + up, 20_000)] }, { kind: 'marker', sequenceNumber: '8', from: shard(up), arrivalMs: 1_500, watermarkMs: 18_999 }]);
      expect((await states.current({ stageId: 's1', shardId: down })).watermarkMs).toBe(NO_WATERMARK);
    }
    // Shard 0 reports on d0: its on-time record is not late.
    const result = await run('d0', [{ kind: 'envelope', sequenceNumber: '9', from: shard(0), arrivalMs: 3_000, elements: [element(0, 5, 18_500)] }, { kind: 'marker', sequenceNumber: '10', from: shard(0), arrivalMs: 3_000, watermarkMs: 17_999 }]);
    expect(result.late).toEqual([]);
    expect(result.watermarkMs).toBe(17_999);
    // d1 has not heard from shard 0: it holds until a tick finds shard 0 silent for idleAfter since it was named,
    // and the next says its source shard holds nothing d1 has not heard of.
    expect((await run('d1', [{ kind: 'tick', sequenceNumber: '11', arrivalMs: 1_000 + plan.eventTime.idleAfterMs - 1, upstream: [0, 1, 2, 3].map(shard) }])).watermarkMs).toBe(NO_WATERMARK);
    expect((await run('d1', [{ kind: 'tick', sequenceNumber: '12', arrivalMs: 1_000 + plan.eventTime.idleAfterMs, upstream: [0, 1, 2, 3].map(shard) }])).watermarkMs).toBe(NO_WATERMARK);
    expect((await run('d1', [{ kind: 'tick', sequenceNumber: '13', arrivalMs: 2_000 + plan.eventTime.idleAfterMs, upstream: [0, 1, 2, 3].map(shard), caughtUp: { [shard(0)]: '' } }])).watermarkMs).toBe(18_999);
  });
});

describe('the embedded runtime restarted on its --data', () => {
  // Found by `npm run chaos` (sliding seed 2002, a graceful restart): kinesis-mock's periodic save was cut
  // short by its shutdown save, leaving a truncated data file; the next start could not load it, and the
  // DynamoDB emulator that had started meanwhile was left running, holding the data directory's lock.
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-regress-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("a save of the Kinesis emulator's data file cut short leaves the previous file whole", () => {
    const dataFile = path.join(dir, 'kinesis-data.json');
    fs.writeFileSync(dataFile, '{"saved":1}');
    // An emulator stand-in that saves twice as kinesis-mock does (a write stream over the data file): the
    // first save dies half-way, the second completes.
    const emulator = path.join(dir, 'emulator.js');
    fs.writeFileSync(
      emulator,
      `const fs = require('node:fs');
       const cut = fs.createWriteStream(${JSON.stringify(dataFile)}, { flags: 'w' });
       cut.write('{"saved":', () => {
         cut.destroy();
         cut.once('close', () => {
           console.log('after cut:', fs.readFileSync(${JSON.stringify(dataFile)}, 'utf8'));
           const whole = fs.createWriteStream(${JSON.stringify(dataFile)}, { flags: 'w' });
           whole.end('{"saved":2}', () => {
             console.log('after save:', fs.readFileSync(${JSON.stringify(dataFile)}, 'utf8'));
             process.exit(0);
           });
         });
       });`,
    );
    const out = execFileSync(process.execPath, ['-e', childBootstrap(), emulator], {
      env: { ...process.env, SHARDFLOW_PARENT_PID: String(process.pid), PERSIST_PATH: dir, PERSIST_FILE_NAME: 'kinesis-data.json' },
      encoding: 'utf8',
    });
    expect(out.trim().split('\n')).toEqual(['after cut: {"saved":1}', 'after save: {"saved":2}']);
    expect(fs.readdirSync(dir).sort()).toEqual(['emulator.js', 'kinesis-data.json']);
  });

  test('a start that fails leaves no emulator running', async () => {
    const data = path.join(dir, 'data');
    fs.mkdirSync(path.join(data, 'kinesis'), { recursive: true });
    fs.writeFileSync(path.join(data, 'kinesis', 'kinesis-data.json'), '{"streams": {"truncated');
    const before = new Set(descendants(process.pid).map((p) => p.pid));
    await expect(DevRuntime.start({ jobFile: path.join(ROOT, 'examples/click-counts.ts'), port: await freePort(), dataDir: data })).rejects.toThrow(/kinesis emulator/);
    const left = descendants(process.pid).filter((p) => !before.has(p.pid) && /dynalite|kinesis-local/.test(p.cmdline));
    expect(left).toEqual([]);
  }, 60_000);
});
