/**
 * Per-stage settings (`.settings({...})` after the source or a keyed operator): what each stage runs with,
 * the defaults, and the plan-time errors for what Lambda would refuse, naming the call and the field.
 */
import { dynamoSink, job, kinesisSource, logSink, planJob, tumbling, type JobDefinition, type StageSettings } from 'shardflow';
import { describePlan } from '../../lib/plan/describe';
import { DEFAULT_BATCH, DEFAULT_FUNCTION } from '../../lib/plan/stage-settings';
import { deployment } from '../../infra/cloudformation';
import { stateLimitsFor } from '../../lib/state/shard-states';
import { planErrorOf } from './plan-error-of';

type Click = { userId: string; clicks: number; ts: number };
const clicks = (partitioned = false) => kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, shards: 2, ...(partitioned && { partitionedBy: 'userId' as const }) });

/** source (settings) → keyBy → window (settings) → dynamo sink: two stages. */
const twoStages = (source: StageSettings | undefined, keyed: StageSettings | undefined): JobDefinition => {
  const read = job('tuned').source(clicks());
  const counted = (source ? read.settings(source) : read).keyBy('userId').window(tumbling('5s')).sum('clicks');
  return (keyed ? counted.settings(keyed) : counted).sink(dynamoSink('tuned-counts'));
};

/** How a plan error names a `.settings(...)` call written in this file. */
const settingsCall = expect.stringMatching(/^tests\/unit\/stage-settings\.test\.ts:\d+ \.settings\(/);

test('without settings every stage runs with the defaults: 512 MB, 60 s, batch 500 in a 1 s window, 1,000 retries, a day of record age, bisect on', () => {
  const plan = planJob(twoStages(undefined, undefined));
  for (const stage of plan.stages) {
    expect(stage.batch).toEqual({ batchSize: 500, maxBatchingWindowMs: 1000, parallelizationFactor: 1, maxRetryAttempts: 1000, maxRecordAgeSeconds: 86_400, bisectOnError: true });
    expect(stage.function).toEqual({ memoryMb: 512, timeoutSeconds: 60 });
  }
});

test('settings after the source apply to the source stage, after a keyed operator to its stage; unset fields keep their defaults', () => {
  const plan = planJob(
    twoStages(
      { memoryMb: 256, batchSize: 100, batchingWindow: 0, reservedConcurrency: 3 },
      { memoryMb: 2048, timeout: '2m', batchSize: 10_000, batchingWindow: '300s', retries: -1, maxRecordAge: '1h', bisectOnError: false },
    ),
  );
  const [source, keyed] = plan.stages;
  expect(source!.function).toEqual({ memoryMb: 256, timeoutSeconds: 60, reservedConcurrency: 3 });
  expect(source!.batch).toEqual({ ...DEFAULT_BATCH, batchSize: 100, maxBatchingWindowMs: 0 });
  expect(keyed!.function).toEqual({ memoryMb: 2048, timeoutSeconds: 120 });
  expect(keyed!.batch).toEqual({ batchSize: 10_000, maxBatchingWindowMs: 300_000, parallelizationFactor: 1, maxRetryAttempts: -1, maxRecordAgeSeconds: 3600, bisectOnError: false });
  const never = planJob(twoStages(undefined, { maxRecordAge: -1 }));
  expect(never.stages[1]!.batch.maxRecordAgeSeconds).toBe(-1);
});

test("a stage reading a partitioned source takes its settings from after .source(...) or after its keyed operator, not both", () => {
  const keyedOnly = planJob(job('p').source(clicks(true)).keyBy('userId').window(tumbling('5s')).count().settings({ memoryMb: 1024 }).sink(logSink()));
  expect(keyedOnly.stages).toHaveLength(1);
  expect(keyedOnly.stages[0]!.function.memoryMb).toBe(1024);
  const sourceOnly = planJob(job('p').source(clicks(true)).settings({ memoryMb: 768 }).keyBy('userId').window(tumbling('5s')).count().sink(logSink()));
  expect(sourceOnly.stages[0]!.function.memoryMb).toBe(768);
  const both = planErrorOf(job('p').source(clicks(true)).settings({ memoryMb: 768 }).keyBy('userId').window(tumbling('5s')).count().settings({ memoryMb: 1024 }).sink(logSink()));
  expect(both.problem).toMatch(/has \.settings\(\.\.\.\) twice/);
});

test.each<[StageSettings, string, RegExp]>([
  [{ memoryMb: 127 }, 'memoryMb is 127', /128 to 10240 MB/],
  [{ memoryMb: 10_241 }, 'memoryMb is 10241', /128 to 10240 MB/],
  [{ memoryMb: 512.5 }, 'memoryMb is 512.5', /128 to 10240 MB/],
  [{ timeout: '16m' }, 'timeout 16m is out of range', /1s to 15m/],
  [{ timeout: '1500ms' }, 'timeout 1500ms is not whole seconds', /whole seconds/],
  [{ timeout: 0 }, 'timeout 0ms is out of range', /1s to 15m/],
  [{ timeout: 'soon' as never }, 'timeout "soon" is not a duration', /'2m'/],
  [{ batchSize: 0 }, 'batchSize is 0', /1 to 10000/],
  [{ batchSize: 10_001 }, 'batchSize is 10001', /1 to 10000/],
  [{ batchingWindow: '301s' }, 'batchingWindow 301s is out of range', /0ms to 5m/],
  [{ batchingWindow: '500ms' }, 'batchingWindow 500ms is not whole seconds', /whole seconds/],
  [{ retries: -2 }, 'retries is -2', /-1 to retry until the records expire/],
  [{ retries: 10_001 }, 'retries is 10001', /0 to 10000/],
  [{ maxRecordAge: '59s' }, 'maxRecordAge 59s is out of range', /1m to 7d/],
  [{ maxRecordAge: '8d' }, 'maxRecordAge 8d is out of range', /1m to 7d/],
  [{ bisectOnError: 'yes' as never }, 'bisectOnError is "yes"', /true or false/],
  [{ parallelizationFactor: 11 }, 'parallelizationFactor is 11', /1 to 10/],
  [{ reservedConcurrency: 0 }, 'reservedConcurrency is 0', /at least 1/],
  [{ memory: 1024 } as never, "'memory' is not a stage setting", /memoryMb, timeout/],
])('%j is refused at plan time, naming the call and the field', (settings, problem, hint) => {
  const error = planErrorOf(twoStages(undefined, settings));
  expect([error.operator, error.problem]).toEqual([settingsCall, problem]);
  expect(error.hint).toMatch(hint);
});

test('parallelizationFactor above 1 on a keyed stage after a shuffle (key groups), and on a source stage that neither keys nor shuffles', () => {
  const keyed = planJob(twoStages(undefined, { parallelizationFactor: 3 }));
  expect(keyed.stages[1]!.batch.parallelizationFactor).toBe(3);
  expect(describePlan(keyed)).toContain('parallelization 3 (3 key groups per shard, each its own log), retries');
  const stateless = planJob(job('straight').source(clicks()).settings({ parallelizationFactor: 10 }).map((c) => c).sink(dynamoSink('straight-out')));
  expect(stateless.stages[0]!.batch.parallelizationFactor).toBe(10);
});

test('keyGroups: a keyed stage after a shuffle keeps K groups per shard whatever its parallelizationFactor up to K; the default is its parallelizationFactor; elsewhere, or below P, it is refused', () => {
  const at = (settings: StageSettings) => planJob(twoStages(undefined, settings)).stages[1]!;
  expect([at({}).keyGroups, at({ parallelizationFactor: 3 }).keyGroups, at({ keyGroups: 4 }).keyGroups, at({ keyGroups: 4, parallelizationFactor: 2 }).keyGroups]).toEqual([1, 3, 4, 4]);
  expect(at({ keyGroups: 4, parallelizationFactor: 2 }).batch.parallelizationFactor).toBe(2);
  expect(describePlan(planJob(twoStages(undefined, { keyGroups: 4, parallelizationFactor: 2 })))).toContain('parallelization 2 (4 key groups per shard, each its own log), retries');
  expect(planJob(twoStages({ memoryMb: 256 }, undefined)).stages[0]!.keyGroups).toBe(1);

  const below = planErrorOf(twoStages(undefined, { keyGroups: 2, parallelizationFactor: 3 }));
  expect([below.operator, below.problem]).toEqual([settingsCall, 'parallelizationFactor is 3, above keyGroups 2']);
  expect(below.hint).toMatch(/raise keyGroups to 3 .* or keep parallelizationFactor at most 2/);
  for (const bad of [0, 11, 2.5, '4']) expect(planErrorOf(twoStages(undefined, { keyGroups: bad as number })).problem).toBe(`keyGroups is ${JSON.stringify(bad)}`);
  expect(planErrorOf(twoStages({ keyGroups: 2 }, undefined)).problem).toBe('keyGroups is 2, but the stage keeps no keyed state');
  expect(planErrorOf(job('p').source(clicks(true)).keyBy('userId').window(tumbling('5s')).sum('clicks').settings({ keyGroups: 2 }).sink(logSink())).problem).toMatch(/^keyGroups is 2, but the stage keeps its state on a source stream/);
  expect(planErrorOf(job('a').source(clicks()).windowAll(tumbling('5s')).sum('clicks').settings({ keyGroups: 2 }).sink(logSink())).problem).toBe('keyGroups is 2, but a windowAll has one key');
});

test('parallelizationFactor above 1 is refused where lanes would split a key or a sender: keyed or shuffling on a source stream, and windowAll', () => {
  const shuffling = planErrorOf(twoStages({ parallelizationFactor: 2 }, undefined));
  expect(shuffling.problem).toMatch(/^parallelizationFactor is 2, but the stage shuffles from a source stream/);
  const keyedOnSource = planErrorOf(job('p').source(clicks(true)).keyBy('userId').window(tumbling('5s')).sum('clicks').settings({ parallelizationFactor: 2 }).sink(logSink()));
  expect(keyedOnSource.problem).toMatch(/^parallelizationFactor is 2, but the stage keeps keyed state on a source stream/);
  expect(keyedOnSource.hint).toMatch(/after a shuffle takes parallelizationFactor 2 to 10/);
  const all = planErrorOf(job('a').source(clicks()).windowAll(tumbling('5s')).sum('clicks').settings({ parallelizationFactor: 4 }).sink(logSink()));
  expect(all.problem).toMatch(/^parallelizationFactor is 4, but a windowAll has one key/);
});

test('.settings(...) after a stateless operator is refused: it names no stage', () => {
  const error = planErrorOf(job('m').source(clicks()).map((c) => c).settings({ memoryMb: 1024 }).keyBy('userId').window(tumbling('5s')).count().sink(logSink()));
  expect([error.operator, error.problem]).toEqual([settingsCall, '.settings(...) follows map']);
  expect(error.hint).toMatch(/right after \.source\(\.\.\.\) or after its keyed operator/);
});

test("shardflow plan shows every stage's settings, and a keyed shard's state limit follows the stage's memory", () => {
  const text = describePlan(planJob(twoStages({ reservedConcurrency: 3 }, { memoryMb: 1024, timeout: '2m', maxRecordAge: -1, retries: -1, bisectOnError: false })));
  expect(text).toContain('  batches:   size 500, window 1s, parallelization 1, retries 1000, bisect on, max record age 1d\n  function:  memory 512 MB, timeout 1m, reserved concurrency 3\n');
  expect(text).toContain(`  batches:   size 500, window 1s, parallelization 1, retries until expiry, bisect off, max record age none\n  function:  memory 1024 MB, timeout 2m, reserved concurrency none (a shard's state up to ${Math.round(stateLimitsFor(1024).maxShardBytes / 1_048_576)} MiB)`);
  expect(DEFAULT_FUNCTION).toEqual({ memoryMb: 512, timeoutSeconds: 60 });
});

test("the deployment gives each function its memory, timeout and reservation, and the shard-state alarm its stage's limit", () => {
  const plan = planJob(twoStages({ memoryMb: 256, reservedConcurrency: 2 }, { memoryMb: 2048, timeout: '5m', batchSize: 50, batchingWindow: '3s', retries: 7, maxRecordAge: '2h', bisectOnError: false, parallelizationFactor: 4 }));
  const { functions, resources } = deployment(plan, { service: 'shardflow-tuned', stage: 'prod', bundleDir: '.build/tuned', nameSuffix: '-prod' }) as { functions: Record<string, any>; resources: { Resources: Record<string, any> } };
  expect(functions.s0).toMatchObject({ memorySize: 256, timeout: 60, reservedConcurrency: 2 });
  expect(functions.s1).toMatchObject({ memorySize: 2048, timeout: 300 });
  expect(functions.s1.reservedConcurrency).toBeUndefined();
  expect(functions.s1.events[0].stream).toMatchObject({ batchSize: 50, batchWindow: 3, parallelizationFactor: 4, maximumRetryAttempts: 7, maximumRecordAgeInSeconds: 7200, bisectBatchOnFunctionError: false });
  expect(resources.Resources.ShardStateAlarmS1.Properties.Threshold).toBe(Math.round(stateLimitsFor(2048).maxShardBytes * 0.7));
});
