import { batchingWindowSeconds, failureQueueName, shuffleStreamsOf, tablesReadBy, type Plan, type Stage } from '../lib/plan/plan';
import { METRIC_DIMENSIONS, METRICS_NAMESPACE, metricsServiceName } from '../lib/io/metrics';
import { stateLimitsFor } from '../lib/state/shard-states';
import { dashboardResource } from './dashboard';
import { tableDefinitions } from './tables';

/** Where and how a plan is deployed. */
export interface DeployTarget {
  /** The serverless service name: functions are named `<service>-<stage>-<function>`. */
  readonly service: string;
  readonly stage: string;
  /** The directory of the function bundles, relative to serverless.yml. */
  readonly bundleDir: string;
  /** Appended to stream and table names (already applied to the plan given). */
  readonly nameSuffix: string;
}

type Json = Record<string, unknown>;
const getAtt = (id: string, attribute = 'Arn'): Json => ({ 'Fn::GetAtt': [id, attribute] });
const sub = (template: string): Json => ({ 'Fn::Sub': template });

/** CloudFormation logical ids are alphanumeric: `click-counts-s1` → `ClickCountsS1`. */
export const logicalId = (prefix: string, name: string): string =>
  prefix + name.split(/[^a-zA-Z0-9]+/).filter(Boolean).map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');

export const KEY_ID = 'ShardflowKey';
export const WATERMARK_FUNCTION = 'watermark';
/** The watermark function's timeout: its 55 s loop and a last slow tick. Also the length of its lease. */
const WATERMARK_TIMEOUT_S = 70;
export const LAMBDA_RUNTIME = 'nodejs22.x';
export const DASHBOARD_ID = 'ShardflowDashboard';

/** Lambda's iterator-age alarm fires when a stage falls this far behind its stream. */
const ITERATOR_AGE_ALARM_MS = 60_000;
/** The shard-state alarm fires at this share of what one shard may hold (lib/state/shard-states.ts): before the batch that fails. */
const SHARD_STATE_ALARM_SHARE = 0.7;

/**
 * The functions (serverless syntax) and CloudFormation resources of a plan: a stream per stage (KMS;
 * provisioned with the plan's shards, or on-demand),
 * the state table (the keyed shards' logs) with its TTL, a table per DynamoDB sink and one for dead letters
 * (on demand, KMS, point-in-time recovery for state), an SQS on-failure queue per stage, a role per
 * function naming only the ARNs it touches, and alarms on iterator age, failure-queue depth and, for keyed
 * stages, a shard's state nearing what its function may hold.
 */
export function deployment(plan: Plan, target: DeployTarget): { functions: Json; resources: { Resources: Json; Outputs: Json } } {
  const resources: Json = {};
  const functions: Json = {};
  const streamId = (name: string): string => logicalId('Stream', name);
  const tableId = (name: string): string => logicalId('Table', name);
  const functionName = (fn: string): string => `${target.service}-${target.stage}-${fn}`;
  const watermarkFunctionArn = sub(`arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${functionName(WATERMARK_FUNCTION)}`);
  const queueName = (stage: Stage): string => failureQueueName(plan.job, stage.id, target.nameSuffix);

  resources[KEY_ID] = {
    Type: 'AWS::KMS::Key',
    Properties: {
      Description: `shardflow ${plan.job} (${target.stage}): streams and tables at rest`,
      EnableKeyRotation: true,
      // A key policy must let the account administer the key; use is granted by the roles below.
      KeyPolicy: {
        Version: '2012-10-17',
        Statement: [{ Sid: 'AccountAdministers', Effect: 'Allow', Principal: { AWS: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') }, Action: 'kms:*', Resource: '*' }],
      },
    },
  };

  // A stream that exists without the job is read by ARN, never created (so never deleted with the stack).
  const existing = new Map(plan.streams.flatMap((s) => (s.existing ? [[s.name, s.existing] as const] : [])));
  const streamArn = (name: string): Json | string => {
    const attached = existing.get(name);
    if (!attached) return getAtt(streamId(name));
    return attached.arn ?? sub(`arn:\${AWS::Partition}:kinesis:\${AWS::Region}:\${AWS::AccountId}:stream/${name}`);
  };
  for (const stream of plan.streams) {
    if (stream.existing) continue;
    resources[streamId(stream.name)] = {
      Type: 'AWS::Kinesis::Stream',
      Properties: {
        Name: stream.name,
        // An on-demand stream takes no ShardCount: Kinesis sets its shards (4 at first) by itself.
        ...(stream.onDemand ? { StreamModeDetails: { StreamMode: 'ON_DEMAND' } } : { ShardCount: stream.shards, StreamModeDetails: { StreamMode: 'PROVISIONED' } }),
        RetentionPeriodHours: 24,
        StreamEncryption: { EncryptionType: 'KMS', KeyId: getAtt(KEY_ID) },
      },
    };
  }
  for (const table of tableDefinitions(plan)) {
    resources[tableId(table.TableName)] = {
      Type: 'AWS::DynamoDB::Table',
      Properties: { ...table, SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: getAtt(KEY_ID) } },
    };
  }

  const stateTable = tableId(plan.stateTable);
  const tableArns = (names: readonly string[]): Json[] => names.map((n) => getAtt(tableId(n)));
  const sinkTables = plan.sinks.flatMap((s) => (s.kind === 'dynamodb' ? [s.table] : []));
  const sinkStreams = plan.sinks.flatMap((s) => (s.kind === 'kinesis' ? [s.stream] : []));
  const keyUse = { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'], Resource: [getAtt(KEY_ID)] };
  const logs = (fn: string): Json => ({
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: [sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${functionName(fn)}:*`)],
  });
  const role = (fn: string, statements: Json[]): string => {
    const id = logicalId('Role', `${fn}`);
    resources[id] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] },
        Policies: [{ PolicyName: `${functionName(fn)}-least-privilege`, PolicyDocument: { Version: '2012-10-17', Statement: [logs(fn), keyUse, ...statements] } }],
      },
    };
    return id;
  };
  const writeSinks = (): Json[] => [
    { Effect: 'Allow', Action: ['dynamodb:BatchWriteItem', 'dynamodb:PutItem'], Resource: tableArns([...sinkTables, plan.deadLetterTable]) },
    ...(sinkStreams.length ? [{ Effect: 'Allow', Action: ['kinesis:PutRecords', 'kinesis:ListShards'], Resource: sinkStreams.map((s) => getAtt(streamId(s))) }] : []),
  ];

  for (const stage of plan.stages) {
    const queue = logicalId('FailureQueue', stage.id);
    resources[queue] = {
      Type: 'AWS::SQS::Queue',
      Properties: { QueueName: queueName(stage), MessageRetentionPeriod: 1_209_600, SqsManagedSseEnabled: true },
    };
    const input = streamArn(stage.input.stream);
    const statements: Json[] = [
      // What Lambda's event source mapping needs to read the stage's stream, with this function's role.
      { Effect: 'Allow', Action: ['kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'], Resource: [input] },
      { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: [getAtt(queue)] },
      ...writeSinks(),
    ];
    const lookups = tablesReadBy(stage);
    if (lookups.length > 0) {
      // Tables the job does not own (a lookup join's): read only, named as the user wrote them.
      const arn = (t: string): Json => sub(`arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${t}`);
      statements.push({ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'], Resource: lookups.map(arn) });
    }
    const shuffles = shuffleStreamsOf(stage);
    if (shuffles.length > 0) {
      statements.push({ Effect: 'Allow', Action: ['kinesis:PutRecords', 'kinesis:ListShards'], Resource: shuffles.map((s) => getAtt(streamId(s))) });
    }
    if (stage.keyed) {
      // Its shards' logs (query, conditional put), the watermark function's sleep flag, and the layout record (its schema version, read before a first load).
      statements.push({ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], Resource: [getAtt(stateTable)] });
      // A keyed stage's batch that hears an input again after idleness starts the sleeping watermark function.
      statements.push({ Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [watermarkFunctionArn] });
    }
    functions[stage.id] = stageFunction(stage, target, role(stage.id, statements), input, queue, functionName(WATERMARK_FUNCTION));
    resources[logicalId('IteratorAgeAlarm', stage.id)] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: `${plan.job} stage ${stage.id} is more than ${ITERATOR_AGE_ALARM_MS / 1000} s behind its stream`,
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: functionName(stage.id) }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 5,
        Threshold: ITERATOR_AGE_ALARM_MS,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      },
    };
    if (stage.keyed) {
      const limit = stateLimitsFor(stage.function.memoryMb).maxShardBytes;
      resources[logicalId('ShardStateAlarm', stage.id)] = {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: {
          AlarmDescription: `${plan.job} stage ${stage.id}: a shard's state passed ${SHARD_STATE_ALARM_SHARE * 100} % of the ${Math.round(limit / 1_048_576)} MiB one shard may hold — ${stage.input.onDemand ? "give the stage more memory before batches fail (its stream is on-demand: Kinesis adds shards for the write rate, not for state; make it provisioned to choose its shards)" : 'give the stage more shards or memory before batches fail'}`,
          Namespace: METRICS_NAMESPACE,
          MetricName: 'ShardStateBytes',
          Dimensions: METRIC_DIMENSIONS.map((d) => ({ Name: d, Value: { service: metricsServiceName(plan.job, target.nameSuffix), job: plan.job, stage: stage.id }[d] })),
          Statistic: 'Maximum',
          Period: 60,
          EvaluationPeriods: 1,
          Threshold: Math.round(limit * SHARD_STATE_ALARM_SHARE),
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
        },
      };
    }
    resources[logicalId('FailureQueueAlarm', stage.id)] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: `${plan.job} stage ${stage.id} discarded batches to its on-failure queue`,
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: getAtt(queue, 'QueueName') }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      },
    };
  }

  const tickedStreams = plan.stages.filter((s) => s.keyed && s.input.kind === 'shuffle').map((s) => s.input.stream);
  const sourceStreams = plan.stages.filter((s) => s.input.kind === 'source').map((s) => s.input.stream);
  functions[WATERMARK_FUNCTION] = {
    handler: `${target.bundleDir}/watermark.handler`,
    role: role(WATERMARK_FUNCTION, [
      // The keyed shards' log heads (are all their inputs idle?), its lease and sleep flag, and the upgrade start (where stages an upgrade added start).
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], Resource: [getAtt(stateTable)] },
      // Which upstream shards a keyed shard waits for: the shards of the streams, by id.
      { Effect: 'Allow', Action: ['kinesis:ListShards'], Resource: plan.stages.map((s) => streamArn(s.input.stream)) },
      // Ticks on every shard of the keyed stages' input streams.
      ...(tickedStreams.length ? [{ Effect: 'Allow', Action: ['kinesis:PutRecords'], Resource: tickedStreams.map((s) => streamArn(s)) }] : []),
      // Whether a silent source shard holds records its stage has not read (a stalled reader is not idle): one record past a position.
      ...(sourceStreams.length ? [{ Effect: 'Allow', Action: ['kinesis:GetShardIterator', 'kinesis:GetRecords'], Resource: sourceStreams.map((s) => streamArn(s)) }] : []),
      // Its successor, at the end of a loop while events flow (see SHARDFLOW_WATERMARK_HAND_OVER_MS).
      { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [watermarkFunctionArn] },
    ]),
    timeout: WATERMARK_TIMEOUT_S,
    memorySize: 512,
    // Ticks every second for 55 s a go, handing over to a successor while events flow (the schedule is
    // the safety net), and returns once every keyed shard's inputs are idle (a stage function wakes it).
    environment: environment(target, {
      SHARDFLOW_WATERMARK_LOOP_MS: '55000',
      SHARDFLOW_WATERMARK_TICK_MS: '1000',
      SHARDFLOW_WATERMARK_STOP_WHEN_IDLE: '1',
      SHARDFLOW_WATERMARK_HAND_OVER_MS: String(WATERMARK_TIMEOUT_S * 1000),
    }),
    package: { patterns: ['!**', `${target.bundleDir}/watermark.js`, `${target.bundleDir}/watermark.js.map`] },
    // EventBridge's shortest schedule is a minute: the function ticks every second inside it.
    events: [{ schedule: { rate: ['rate(1 minute)'], enabled: true } }],
  };

  // The job's CloudWatch dashboard: the functions' EMF metrics, iterator age, the failure queues.
  resources[DASHBOARD_ID] = dashboardResource(plan, target, { functionName, queueName, watermarkFunction: WATERMARK_FUNCTION });

  const outputs: Json = {
    SourceStream: { Description: 'Push events here', Value: plan.stages[0]!.input.stream },
    ...Object.fromEntries(
      plan.stages
        .filter((s, i) => i > 0 && s.input.kind === 'source')
        .map((s) => [`SourceStream${s.id.toUpperCase()}`, { Description: `Push events for stage ${s.id} here`, Value: s.input.stream }]),
    ),
    StateTable: { Value: plan.stateTable },
    DeadLetterTable: { Value: plan.deadLetterTable },
    ...Object.fromEntries(sinkTables.map((t) => [logicalId('ResultsTable', t), { Value: t }])),
    Dashboard: { Description: 'The job in CloudWatch', Value: sub(`https://\${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=\${AWS::Region}#dashboards:name=\${${DASHBOARD_ID}}`) },
  };
  return { functions, resources: { Resources: resources, Outputs: outputs } };
}

function environment(target: DeployTarget, extra: Record<string, string>): Record<string, string> {
  return { SHARDFLOW_NAME_SUFFIX: target.nameSuffix, NODE_OPTIONS: '--enable-source-maps', ...extra };
}

function stageFunction(stage: Stage, target: DeployTarget, role: string, streamArn: Json | string, queue: string, watermarkFunction: string): Json {
  const b = stage.batch;
  return {
    handler: `${target.bundleDir}/operator.handler`,
    role,
    timeout: stage.function.timeoutSeconds,
    memorySize: stage.function.memoryMb,
    ...(stage.function.reservedConcurrency !== undefined && { reservedConcurrency: stage.function.reservedConcurrency }),
    environment: environment(target, { SHARDFLOW_STAGE: stage.id, ...(stage.keyed && { SHARDFLOW_WATERMARK_FUNCTION: watermarkFunction }) }),
    package: { patterns: ['!**', `${target.bundleDir}/operator.js`, `${target.bundleDir}/operator.js.map`] },
    events: [
      {
        stream: {
          type: 'kinesis',
          arn: streamArn,
          startingPosition: 'TRIM_HORIZON',
          batchSize: b.batchSize,
          batchWindow: batchingWindowSeconds(b),
          parallelizationFactor: b.parallelizationFactor,
          bisectBatchOnFunctionError: b.bisectOnError,
          maximumRetryAttempts: b.maxRetryAttempts,
          maximumRecordAgeInSeconds: b.maxRecordAgeSeconds,
          functionResponseType: 'ReportBatchItemFailures',
          destinations: { onFailure: { arn: getAtt(queue), type: 'sqs' } },
        },
      },
    ],
  };
}
