/**
 * The stream mode: `job(name, { streamMode })` for every stream the job creates, `.settings({ streamMode })`
 * for one stage's input stream. On-demand streams start at 4 shards and Kinesis scales them, so a shard
 * count the job declares for one is refused, naming it and what to write; `shardflow plan` and the
 * CloudFormation template say which streams are which.
 */
import { dynamoSink, job, kinesisSink, kinesisSource, logSink, planJob, tumbling, type JobOptions, type StageSettings } from 'shardflow';
import { deployment } from '../../infra/cloudformation';
import { describePlan } from '../../lib/plan/describe';
import { compareLayouts, stateLayout } from '../../lib/plan/state-layout';
import { withNameSuffix } from '../../lib/plan/naming';
import type { Plan } from '../../lib/plan/plan';
import { planErrorOf } from './plan-error-of';
import { compileSql } from '../../lib/sql/compile';

type Click = { userId: string; clicks: number; ts: number };
type Json = Record<string, any>;

/** source → keyBy → window → DynamoDB, each stage's settings and the source's shards as given. */
const counts = (options: JobOptions | undefined, source: { shards?: number; settings?: StageSettings } = {}, keyed: { parallelism?: number; settings?: StageSettings } = {}) => {
  const read = job('clicks', options).source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, ...(source.shards !== undefined && { shards: source.shards }) }));
  let counted = (source.settings ? read.settings(source.settings) : read).keyBy('userId').window(tumbling('5s')).sum('clicks');
  if (keyed.parallelism !== undefined) counted = counted.parallelism(keyed.parallelism);
  return (keyed.settings ? counted.settings(keyed.settings) : counted).sink(dynamoSink('click-counts'));
};

/** Each stream's name, shards and mode. */
const streams = (plan: Plan): [string, number, 'on-demand' | 'provisioned'][] => plan.streams.map((s) => [s.name, s.shards, s.onDemand ? 'on-demand' : 'provisioned']);

test('without a stream mode every stream is provisioned with the shards the job declares, as before', () => {
  const plan = planJob(counts(undefined, { shards: 2 }, { parallelism: 3 }));
  expect(plan.streams).toEqual([
    { name: 'clicks', shards: 2, role: 'source' },
    { name: 'clicks-s1', shards: 3, role: 'shuffle' },
  ]);
  expect(planJob(counts({ streamMode: 'provisioned' }, { shards: 2 })).streams).toEqual(plan.streams.map((s) => ({ ...s, shards: 2 })));
});

test("the job's on-demand mode puts every stream it creates in on-demand mode, 4 shards at first: source, shuffle, Kinesis sink", () => {
  const j = job('sessions', { streamMode: 'on-demand' });
  const perUser = j.source(kinesisSource<Click>('sessions-in', { eventTime: (c) => c.ts })).keyBy('userId').window(tumbling('5s')).sum('clicks');
  perUser.sink(kinesisSink('sessions-out'));
  // A windowAll's stream has one key, so one shard: it stays provisioned.
  perUser.windowAll(tumbling('10s')).count().sink(logSink());
  const plan = planJob(j);
  expect(streams(plan)).toEqual([
    ['sessions-in', 4, 'on-demand'],
    ['sessions-s1', 4, 'on-demand'],
    ['sessions-s2', 1, 'provisioned'],
    ['sessions-out', 4, 'on-demand'],
  ]);
  expect(plan.stages.map((s) => [s.id, s.input.shards, s.input.onDemand === true])).toEqual([
    ['s0', 4, true],
    ['s1', 4, true],
    ['s2', 1, false],
  ]);
});

test("a stage's .settings({ streamMode }) goes over the job's for its input stream, and a provisioned stage keeps its count", () => {
  const provisionedKeyed = planJob(counts({ streamMode: 'on-demand' }, {}, { parallelism: 3, settings: { streamMode: 'provisioned' } }));
  expect(streams(provisionedKeyed)).toEqual([
    ['clicks', 4, 'on-demand'],
    ['clicks-s1', 3, 'provisioned'],
  ]);
  const onDemandSource = planJob(counts(undefined, { settings: { streamMode: 'on-demand' } }));
  // The keyed stage's default parallelism is the source's shards: an on-demand source's first 4.
  expect(streams(onDemandSource)).toEqual([
    ['clicks', 4, 'on-demand'],
    ['clicks-s1', 4, 'provisioned'],
  ]);
  const provisionedSource = planJob(counts({ streamMode: 'on-demand' }, { shards: 2, settings: { streamMode: 'provisioned', memoryMb: 256 } }));
  expect(streams(provisionedSource)).toEqual([
    ['clicks', 2, 'provisioned'],
    ['clicks-s1', 4, 'on-demand'],
  ]);
  expect(provisionedSource.stages[0]!.function.memoryMb).toBe(256);
});

test("a keyed stage reading a partitionedBy source sets the source stream's mode with its own settings", () => {
  const plan = planJob(
    job('p')
      .source(kinesisSource<Click>('p-clicks', { eventTime: (c) => c.ts, partitionedBy: 'userId' }))
      .keyBy('userId')
      .window(tumbling('5s'))
      .count()
      .settings({ streamMode: 'on-demand' })
      .sink(logSink()),
  );
  expect(streams(plan)).toEqual([['p-clicks', 4, 'on-demand']]);
});

test('a stream the job only reads keeps its own mode: the job option passes it by, a stage setting for it is refused', () => {
  const existing = (settings?: StageSettings) => {
    const read = job('orders', { streamMode: 'on-demand' }).source(kinesisSource<Click>('arn:aws:kinesis:eu-west-1:123456789012:stream/orders', { eventTime: (c) => c.ts }));
    return (settings ? read.settings(settings) : read).keyBy('userId').window(tumbling('5s')).count().sink(logSink());
  };
  expect(streams(planJob(existing()))).toEqual([
    ['orders', 1, 'provisioned'],
    ['orders-s1', 4, 'on-demand'],
  ]);
  const error = planErrorOf(existing({ streamMode: 'on-demand' }));
  expect(error.operator).toMatch(/^tests\/unit\/stream-mode\.test\.ts:\d+ \.settings\(/);
  expect(error.problem).toBe("streamMode is 'on-demand', but the stage reads a stream that exists without the job");
  expect(error.hint).toBe("drop streamMode: the stream's mode is set where the stream is owned");
});

test("a windowAll's stream may not be on-demand: it has one key, so one shard", () => {
  const error = planErrorOf(job('all').source(kinesisSource<Click>('all-in', { eventTime: (c) => c.ts })).windowAll(tumbling('5s')).count().settings({ streamMode: 'on-demand' }).sink(logSink()));
  expect(error.problem).toBe("streamMode is 'on-demand', but a windowAll has one key, so one shard");
  expect(error.hint).toMatch(/^drop streamMode/);
});

test("an on-demand stream's shards are Kinesis' to set: a source's shards or a stage's .parallelism(n) for it is refused, saying what to write", () => {
  const shards = planErrorOf(counts({ streamMode: 'on-demand' }, { shards: 8 }));
  expect(shards.operator).toMatch(/^tests\/unit\/stream-mode\.test\.ts:\d+ \.source\(kinesisSource/);
  expect(shards.problem).toBe("shards is 8, but the stream 'clicks' is on-demand (the job's streamMode)");
  expect(shards.hint).toBe(
    "drop shards: an on-demand stream starts at 4 shards and Kinesis scales it by itself — or keep the count and make the stream provisioned: .settings({ streamMode: 'provisioned' }) after .source(...)",
  );
  const parallelism = planErrorOf(counts(undefined, {}, { parallelism: 6, settings: { streamMode: 'on-demand' } }));
  expect(parallelism.operator).toMatch(/^tests\/unit\/stream-mode\.test\.ts:\d+ \.parallelism\(/);
  expect(parallelism.problem).toBe("parallelism is 6, but the stage's stream 'clicks-s1' is on-demand (the stage's .settings({ streamMode }))");
  expect(parallelism.hint).toMatch(/^drop \.parallelism\(6\): an on-demand stream starts at 4 shards .* after the keyed operator$/);
});

test.each<[string, () => ReturnType<typeof counts>, string, string, RegExp]>([
  ['a job option', () => counts({ streamMode: 'ondemand' as never }), "job 'clicks'", 'streamMode is "ondemand"', /'provisioned' .* or 'on-demand'/],
  ['an unknown job option', () => counts({ mode: 'on-demand' } as never), "job 'clicks'", "'mode' is not a job option", /use streamMode/],
  ['job options that are not an object', () => counts('on-demand' as never), "job 'clicks'", 'the job options are not an object', /job\('name', \{ streamMode: 'on-demand' \}\)/],
  ['a stage setting', () => counts(undefined, {}, { settings: { streamMode: 'ON_DEMAND' as never } }), 'settings', 'streamMode is "ON_DEMAND"', /'provisioned' .* or 'on-demand'/],
])('a bad stream mode in %s is refused at plan time, naming where', (_, definition, where, problem, hint) => {
  const error = planErrorOf(definition());
  expect(error.operator).toMatch(where === 'settings' ? /^tests\/unit\/stream-mode\.test\.ts:\d+ \.settings\(/ : new RegExp(`^${where}$`));
  expect(error.problem).toBe(problem);
  expect(error.hint).toMatch(hint);
});

test('shardflow plan says which streams are on-demand, and where they start', () => {
  const text = describePlan(planJob(counts({ streamMode: 'on-demand' }, {}, { parallelism: 2, settings: { streamMode: 'provisioned' } })));
  expect(text).toContain('stage s0  ← source stream clicks (on-demand: 4 shards at first, then as Kinesis scales it)\n');
  expect(text).toContain('stage s1  ← shuffle stream clicks-s1 (2 shards)\n');
  expect(text).toContain('streams:\n  clicks                           source   on-demand: 4 shards at first, then as Kinesis scales it\n  clicks-s1                        shuffle  2 shards\n');
});

test('the deployment creates an on-demand stream with StreamModeDetails ON_DEMAND and no ShardCount; its keyed stage\'s state alarm asks for memory, not shards', () => {
  const plan = withNameSuffix(planJob(counts(undefined, { shards: 2 }, { settings: { streamMode: 'on-demand' } })), '-prod');
  const { resources } = deployment(plan, { service: 'shardflow-clicks', stage: 'prod', bundleDir: '.build/clicks', nameSuffix: '-prod' }) as { resources: { Resources: Json } };
  const r = resources.Resources;
  expect(r.StreamClicksProd.Properties).toEqual({
    Name: 'clicks-prod',
    ShardCount: 2,
    StreamModeDetails: { StreamMode: 'PROVISIONED' },
    RetentionPeriodHours: 24,
    StreamEncryption: { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': ['ShardflowKey', 'Arn'] } },
  });
  expect(r.StreamClicksS1Prod.Properties).toEqual({
    Name: 'clicks-s1-prod',
    StreamModeDetails: { StreamMode: 'ON_DEMAND' },
    RetentionPeriodHours: 24,
    StreamEncryption: { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': ['ShardflowKey', 'Arn'] } },
  });
  expect(r.ShardStateAlarmS1.Properties.AlarmDescription).toMatch(/give the stage more memory before batches fail \(its stream is on-demand: Kinesis adds shards for the write rate, not for state/);
  const provisioned = deployment(withNameSuffix(planJob(counts(undefined)), '-prod'), { service: 'shardflow-clicks', stage: 'prod', bundleDir: '.build/clicks', nameSuffix: '-prod' }) as { resources: { Resources: Json } };
  expect(provisioned.resources.Resources.ShardStateAlarmS1.Properties.AlarmDescription).toMatch(/give the stage more shards or memory before batches fail$/);
});

test("an upgrade's plan says what switching a keyed stage's stream mode does to its shards", () => {
  const provisioned = stateLayout(planJob(counts(undefined, {}, { parallelism: 2 })));
  const onDemand = stateLayout(planJob(counts({ streamMode: 'on-demand' })));
  expect(onDemand.operators[0]).toMatchObject({ shards: 4, onDemand: true });
  expect(compareLayouts(provisioned, onDemand)[0]!.detail).toMatch(/ \(its stream becomes on-demand: the deployment switches its mode, and Kinesis scales it from the shards it has\)$/);
  expect(compareLayouts(onDemand, provisioned)[0]!.detail).toMatch(/ \(its stream becomes provisioned: the deployment switches its mode and sets 2 shards, and state follows its keys\)$/);
  expect(compareLayouts(onDemand, onDemand)[0]!.detail).toBe("window#2 tumbling(5s).sum(clicks)");
});

describe("SQL: SET 'shardflow.stream-mode'", () => {
  const script = (set: string, shards = '') => `
    ${set}
    CREATE TABLE clicks (user_id STRING, clicks INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
      WITH ('connector' = 'kinesis'${shards});
    CREATE TABLE click_counts (user_id STRING, total INT) WITH ('connector' = 'dynamodb');
    INSERT INTO click_counts SELECT user_id, SUM(clicks) AS total FROM clicks GROUP BY TUMBLE(ts, INTERVAL '5' SECOND), user_id;`;

  test("'on-demand' makes every stream the job creates on-demand; 'provisioned' and no SET keep the tables' shards", () => {
    expect(streams(planJob(compileSql(script("SET 'shardflow.stream-mode' = 'on-demand';"))))).toEqual([
      ['clicks', 4, 'on-demand'],
      ['click-counts-s1', 4, 'on-demand'],
    ]);
    const provisioned = streams(planJob(compileSql(script("SET 'shardflow.stream-mode' = 'provisioned';", ", 'shards' = '3'"))));
    expect(provisioned).toEqual([
      ['clicks', 3, 'provisioned'],
      ['click-counts-s1', 3, 'provisioned'],
    ]);
    expect(streams(planJob(compileSql(script('', ", 'shards' = '3'"))))).toEqual(provisioned);
  });

  test("a mode that is not one, or 'shards' on an on-demand job's table, is an error at the line that says it", () => {
    expect(() => compileSql(script("SET 'shardflow.stream-mode' = 'auto';"))).toThrow(/line 2.*SET 'shardflow.stream-mode' = 'auto' is not a stream mode — use 'provisioned' .* or 'on-demand'/s);
    expect(() => compileSql(script("SET 'shardflow.stream-mode' = 'on-demand';", ", 'shards' = '2'"))).toThrow(
      /line 4.*'shards' = '2' on table clicks, but SET 'shardflow.stream-mode' = 'on-demand': an on-demand stream has no shard count — drop 'shards'/s,
    );
  });
});
