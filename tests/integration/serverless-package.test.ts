/**
 * `npx serverless package` offline, and the CloudFormation template read as AWS would: least-privilege
 * roles, event source mappings that cannot lose a batch silently, encryption, on-demand billing, the
 * watermark schedule, supported runtimes.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadJob } from '../../lib/cli/load-job';
import { METRIC_DIMENSIONS, METRICS_NAMESPACE, metricsServiceName, stageBatchMetrics, watermarkTickMetrics } from '../../lib/io/metrics';
import { planJob } from '../../lib/plan/planner';
import { stateLimitsFor } from '../../lib/state/shard-states';
import { logicalId, WATERMARK_FUNCTION } from '../../infra/cloudformation';

jest.setTimeout(180_000);
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');

/** A CloudFormation template: any shape, read as AWS would. */
type Json = Record<string, any>;
const templates = new Map<string, { template: Json; dir: string }>();

async function packaged(job: string): Promise<{ template: Json; dir: string }> {
  if (!templates.has(job)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-package-'));
    const env = { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', SLS_TELEMETRY_DISABLED: '1' };
    await run('npx', ['serverless', 'package', '--stage', 'prod', '--param', `job=${job}`, '--package', dir], { cwd: ROOT, env, timeout: 170_000 });
    templates.set(job, { template: JSON.parse(fs.readFileSync(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8')), dir });
  }
  return templates.get(job)!;
}

const ofType = (t: Json, type: string): [string, Json][] => Object.entries(t.Resources as Json).filter(([, r]) => r.Type === type) as [string, Json][];
/** The logical ids an IAM resource entry points at (GetAtt, Sub with ${Id.Arn}). */
function referenced(resource: unknown): string[] {
  if (typeof resource === 'string') return [];
  const r = resource as Json;
  if (r['Fn::GetAtt']) return [r['Fn::GetAtt'][0]];
  if (typeof r['Fn::Sub'] === 'string') return [...(r['Fn::Sub'] as string).matchAll(/\$\{([A-Za-z0-9]+)\.Arn\}/g)].map((m) => m[1]!);
  return [];
}

describe.each(['examples/click-counts.ts', 'tests/fixtures/sessions-to-kinesis.ts', 'examples/hot-items.ts', 'examples/fraud.ts'])('serverless package %s', (job) => {
  test('every role names only its own function’s resources, never a wildcard', async () => {
    const { template: t } = await packaged(job);
    const functions = ofType(t, 'AWS::Lambda::Function');
    const mappings = ofType(t, 'AWS::Lambda::EventSourceMapping');
    expect(ofType(t, 'AWS::IAM::Role')).toHaveLength(functions.length);
    for (const [fnId, fn] of functions) {
      const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
      const name = fn.Properties.FunctionName as string;
      const statements = t.Resources[roleId].Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement) as Json[];
      // What this function may touch: its own stream (and the next stage's), its queue, the job's tables and key.
      const mapping = mappings.find(([, m]) => m.Properties.FunctionName['Fn::GetAtt'][0] === fnId)?.[1];
      const ownQueue = mapping?.Properties.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0];
      const otherQueues = mappings.map(([, m]) => m.Properties.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0]).filter((q) => q !== ownQueue);
      const otherInputs = mappings.filter(([, m]) => m !== mapping).map(([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0]);
      for (const s of statements) {
        expect(s.Effect).toBe('Allow');
        for (const resource of [s.Resource].flat()) {
          expect(resource).not.toBe('*');
          if (typeof resource === 'object' && typeof resource['Fn::Sub'] === 'string' && resource['Fn::Sub'].includes('*')) {
            // The one pattern: log streams inside this function's own log group.
            expect(resource['Fn::Sub']).toMatch(new RegExp(`:log-group:/aws/lambda/${name}:\\*$`));
          }
          for (const id of referenced(resource)) {
            expect(t.Resources[id]).toBeDefined();
            expect(otherQueues).not.toContain(id);
            // Reading another stage's input stream is not this function's business; writing the next stage's is
            // (and listing its shards), and the watermark function lists every stream's shards, ticks keyed ones and
            // looks one record past a silent source shard's last read one (is it quiet, or is its reader stalled?).
            const peeks = name.endsWith(`-${WATERMARK_FUNCTION}`) ? [['kinesis:GetShardIterator', 'kinesis:GetRecords']] : [];
            if (otherInputs.includes(id)) expect([['kinesis:PutRecords', 'kinesis:ListShards'], ['kinesis:ListShards'], ['kinesis:PutRecords'], ...peeks]).toContainEqual([s.Action].flat());
          }
        }
      }
    }
  });

  test('a keyed stage and the watermark function itself may invoke the watermark function, nothing else; it sleeps when idle and hands over while busy', async () => {
    const { template: t } = await packaged(job);
    const functions = ofType(t, 'AWS::Lambda::Function');
    const watermark = t.Resources.WatermarkLambdaFunction.Properties;
    expect(watermark.Environment.Variables.SHARDFLOW_WATERMARK_STOP_WHEN_IDLE).toBe('1');
    // Its lease lasts as long as it may run: a holder killed by its timeout frees the lease with it.
    expect(Number(watermark.Environment.Variables.SHARDFLOW_WATERMARK_HAND_OVER_MS)).toBe(watermark.Timeout * 1000);
    /** The Lambda statements of a function's role. */
    const lambdaStatements = (fn: Json): Json[] =>
      (t.Resources[fn.Role['Fn::GetAtt'][0]].Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement) as Json[]).filter((s) => [s.Action].flat().some((a: string) => a.startsWith('lambda:')));
    const invokeWatermark = { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [{ 'Fn::Sub': `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${watermark.FunctionName}` }] };
    expect(lambdaStatements(watermark)).toEqual([invokeWatermark]);
    const plan = planJob(loadJob(path.join(ROOT, job)));
    for (const [id, fn] of functions) {
      if (id === 'WatermarkLambdaFunction') continue;
      const env = fn.Properties.Environment.Variables as Record<string, string>;
      const stage = plan.stages.find((s) => s.id === env.SHARDFLOW_STAGE);
      const invokes = lambdaStatements(fn.Properties);
      if (stage?.keyed) {
        expect(env.SHARDFLOW_WATERMARK_FUNCTION).toBe(watermark.FunctionName);
        expect(invokes).toEqual([invokeWatermark]);
      } else {
        expect(env.SHARDFLOW_WATERMARK_FUNCTION).toBeUndefined();
        expect(invokes).toEqual([]);
      }
    }
  });

  test('the keyed stage functions and the watermark function may read the state table’s own items: the layout record (schema version), the upgrade start', async () => {
    const { template: t } = await packaged(job);
    const plan = planJob(loadJob(path.join(ROOT, job)));
    const [stateTable] = ofType(t, 'AWS::DynamoDB::Table').find(([, table]) => table.Properties.TableName === `${plan.stateTable}-prod`)!;
    const stateActions = (fn: Json): string[] =>
      (t.Resources[fn.Role['Fn::GetAtt'][0]].Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement) as Json[])
        .filter((s) => [s.Resource].flat().some((r) => referenced(r).includes(stateTable)))
        .flatMap((s) => [s.Action].flat());
    const readers = ofType(t, 'AWS::Lambda::Function').filter(([id, fn]) => id === 'WatermarkLambdaFunction' || plan.stages.find((s) => s.id === fn.Properties.Environment.Variables.SHARDFLOW_STAGE)?.keyed);
    expect(readers.length).toBeGreaterThanOrEqual(2);
    for (const [, fn] of readers) expect(stateActions(fn.Properties)).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem']));
  });

  test('every stage’s event source mapping has the plan’s batch settings: partial failures reported, bisect, 1,000 retries, a day’s record age, and a queue for what it discards', async () => {
    const { template: t } = await packaged(job);
    const plan = planJob(loadJob(path.join(ROOT, job)));
    const mappings = ofType(t, 'AWS::Lambda::EventSourceMapping');
    const stageOf = (m: Json): string => t.Resources[m.Properties.FunctionName['Fn::GetAtt'][0]].Properties.Environment.Variables.SHARDFLOW_STAGE;
    expect(mappings.map(([, m]) => stageOf(m)).sort()).toEqual(plan.stages.map((s) => s.id).sort());
    for (const [, m] of mappings) {
      const { EventSourceArn: _input, FunctionName: _function, DestinationConfig, ...settings } = m.Properties as Json;
      // The defaults (docs/configuration.md), which none of these jobs overrides.
      expect({ stage: stageOf(m), ...settings }).toEqual({
        stage: stageOf(m),
        BatchSize: 500,
        MaximumBatchingWindowInSeconds: 1,
        ParallelizationFactor: 1,
        StartingPosition: 'TRIM_HORIZON',
        Enabled: true,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 1000,
        MaximumRecordAgeInSeconds: 86_400,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      expect(t.Resources[DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0]].Type).toBe('AWS::SQS::Queue');
    }
  });

  test('streams and tables are encrypted at rest, tables bill on demand, state keeps point-in-time recovery and TTL', async () => {
    const { template: t } = await packaged(job);
    for (const [, s] of ofType(t, 'AWS::Kinesis::Stream')) expect(s.Properties.StreamEncryption).toEqual({ EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': ['ShardflowKey', 'Arn'] } });
    const tables = ofType(t, 'AWS::DynamoDB::Table');
    expect(tables.length).toBeGreaterThanOrEqual(3);
    for (const [, table] of tables) {
      expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.Properties.SSESpecification).toMatchObject({ SSEEnabled: true, SSEType: 'KMS' });
    }
    const state = tables.find(([, table]) => String(table.Properties.TableName).endsWith('-state-prod'))![1];
    expect(state.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(state.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    // Keyed state is per-shard logs: no index (windows fire in their shard, not through a fire-time index).
    expect(state.Properties.GlobalSecondaryIndexes).toBeUndefined();
    for (const [, q] of ofType(t, 'AWS::SQS::Queue')) expect(q.Properties.SqsManagedSseEnabled).toBe(true);
  });

  test('a schedule drives the watermark function; runtimes are supported; alarms watch iterator age, failures and keyed shards\' state size', async () => {
    const { template: t, dir } = await packaged(job);
    const rules = ofType(t, 'AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    expect(rules[0]![1].Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(rules[0]![1].Properties.Targets[0].Arn['Fn::GetAtt'][0]).toBe('WatermarkLambdaFunction');
    for (const [, fn] of ofType(t, 'AWS::Lambda::Function')) expect(Number(/^nodejs(\d+)\.x$/.exec(fn.Properties.Runtime)?.[1])).toBeGreaterThanOrEqual(22);
    const alarms = ofType(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties.MetricName);
    const stages = ofType(t, 'AWS::Lambda::EventSourceMapping').length;
    expect(alarms.filter((m) => m === 'IteratorAge')).toHaveLength(stages);
    expect(alarms.filter((m) => m === 'ApproximateNumberOfMessagesVisible')).toHaveLength(stages);
    // One per keyed stage, on the metric the stage function emits, below the limit that fails a batch.
    const stateAlarms = ofType(t, 'AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === 'ShardStateBytes');
    const plan = planJob(loadJob(path.join(ROOT, job)));
    expect(stateAlarms.map(([id]) => id)).toEqual(plan.stages.filter((s) => s.keyed).map((s) => logicalId('ShardStateAlarm', s.id)));
    for (const [, a] of stateAlarms) {
      expect(a.Properties.Namespace).toBe('shardflow');
      expect(a.Properties.Threshold).toBeLessThan(stateLimitsFor(512).maxShardBytes);
      expect(a.Properties.Threshold).toBeGreaterThan(stateLimitsFor(512).maxShardBytes / 2);
    }
    // Each function's package is its esbuild bundle, nothing else.
    const zip = fs.readFileSync(path.join(dir, 's0.zip'));
    expect(zip.includes('operator.js')).toBe(true);
    expect(zip.includes('node_modules/')).toBe(false);
  });

  test('a CloudWatch dashboard charts only metrics the handlers emit, with their dimensions, for every stage, beside iterator age and the failure queues', async () => {
    const { template: t } = await packaged(job);
    const plan = planJob(loadJob(path.join(ROOT, job)));
    const dashboards = ofType(t, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.parse((dashboards[0]![1].Properties.DashboardBody['Fn::Sub'] as string).replaceAll('${AWS::Region}', 'eu-west-1')) as Json;
    const lines = (body.widgets as Json[]).filter((w) => w.type === 'metric').flatMap((w) => w.properties.metrics as unknown[][]);
    const dimensionsOf = (line: unknown[]): Record<string, string> => {
      const pairs = line.slice(2).filter((p) => typeof p === 'string') as string[];
      return Object.fromEntries(pairs.flatMap((_, i) => (i % 2 === 0 ? [[pairs[i], pairs[i + 1]]] : [])));
    };

    // What the handlers emit, from the functions they publish with (a batch and a tick that report everything).
    const emitted = new Set(
      [
        ...stageBatchMetrics({ stage: 's0', shardId: 'x', recordsIn: 1, shuffled: 1, outputs: 1, late: 1, deadLetters: 1, markers: 0, watermarkMs: 1, durationMs: 1, atMs: 2, stateAppends: 1, stateBytes: 1, lostSlots: 1, stateLoads: 1, shardStateBytes: 1 }),
        ...watermarkTickMetrics({ stage: 's1', ticks: 1, idleShards: 1, shards: 1, atMs: 2 }),
      ].map((d) => d.name as string),
    );
    const ours = lines.filter((l) => l[0] === METRICS_NAMESPACE);
    for (const line of ours) {
      expect(emitted).toContain(line[1]);
      const dims = dimensionsOf(line);
      expect(Object.keys(dims)).toEqual([...METRIC_DIMENSIONS]);
      expect(dims).toMatchObject({ service: metricsServiceName(plan.job, '-prod'), job: plan.job });
      expect(plan.stages.map((s) => s.id)).toContain(dims.stage);
    }
    expect(new Set(ours.map((l) => l[1]))).toEqual(emitted);
    for (const stage of plan.stages) expect(ours.filter((l) => dimensionsOf(l).stage === stage.id).map((l) => l[1])).toEqual(expect.arrayContaining(['RecordsIn', 'RecordsOut', 'WatermarkLag', 'BatchDuration', 'DeadLetters']));

    // Lambda's iterator age for every stage function, and the depth of every on-failure queue, by their deployed names.
    const stageFunctions = ofType(t, 'AWS::Lambda::EventSourceMapping').map(([, m]) => t.Resources[m.Properties.FunctionName['Fn::GetAtt'][0]].Properties.FunctionName as string);
    const iteratorAge = lines.filter((l) => l[0] === 'AWS/Lambda' && l[1] === 'IteratorAge').map((l) => dimensionsOf(l).FunctionName);
    expect(new Set(iteratorAge)).toEqual(new Set(stageFunctions));
    const queues = ofType(t, 'AWS::SQS::Queue').map(([, q]) => q.Properties.QueueName as string);
    const charted = lines.filter((l) => l[0] === 'AWS/SQS').map((l) => dimensionsOf(l).QueueName);
    expect(new Set(charted)).toEqual(new Set(queues));
    expect(t.Outputs.Dashboard.Value['Fn::Sub']).toContain('#dashboards:name=${ShardflowDashboard}');
  });
});

test("a job's stage settings reach its functions, event source mappings and shard-state alarm in the template", async () => {
  const { template: t } = await packaged('tests/fixtures/tuned-clicks.ts');
  const fn = (stage: string): Json => ofType(t, 'AWS::Lambda::Function').find(([, f]) => f.Properties.Environment.Variables.SHARDFLOW_STAGE === stage)![1].Properties;
  expect(fn('s0')).toMatchObject({ MemorySize: 256, Timeout: 30, ReservedConcurrentExecutions: 4 });
  expect(fn('s1')).toMatchObject({ MemorySize: 2048, Timeout: 300 });
  expect(fn('s1').ReservedConcurrentExecutions).toBeUndefined();
  const mapping = (stage: string): Json => {
    const [, m] = ofType(t, 'AWS::Lambda::EventSourceMapping').find(([, m]) => t.Resources[m.Properties.FunctionName['Fn::GetAtt'][0]].Properties.Environment.Variables.SHARDFLOW_STAGE === stage)!;
    const { BatchSize, MaximumBatchingWindowInSeconds, MaximumRetryAttempts, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError, ParallelizationFactor } = m.Properties as Json;
    return { BatchSize, MaximumBatchingWindowInSeconds, MaximumRetryAttempts, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError, ParallelizationFactor };
  };
  expect(mapping('s0')).toEqual({ BatchSize: 1000, MaximumBatchingWindowInSeconds: 2, MaximumRetryAttempts: 1000, MaximumRecordAgeInSeconds: 86_400, BisectBatchOnFunctionError: true, ParallelizationFactor: 1 });
  expect(mapping('s1')).toEqual({ BatchSize: 100, MaximumBatchingWindowInSeconds: 0, MaximumRetryAttempts: 20, MaximumRecordAgeInSeconds: 7200, BisectBatchOnFunctionError: false, ParallelizationFactor: 3 });
  expect(ofType(t, 'AWS::Kinesis::Stream').map(([, s]) => [s.Properties.Name, s.Properties.ShardCount])).toEqual([['tuned-clicks-prod', 2], ['tuned-clicks-s1-prod', 3]]);
  // The keyed stage's alarm: 70 % of what one shard may hold in 2048 MB, not in the default 512.
  expect(t.Resources[logicalId('ShardStateAlarm', 's1')].Properties.Threshold).toBe(Math.round(stateLimitsFor(2048).maxShardBytes * 0.7));
});
