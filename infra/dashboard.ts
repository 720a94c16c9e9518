import { METRIC_DIMENSIONS, METRICS, METRICS_NAMESPACE, metricsServiceName, type MetricName } from '../lib/io/metrics';
import type { Plan, Stage } from '../lib/plan/plan';

/** What the dashboard needs to know of a deployment (a subset of infra/cloudformation.ts's DeployTarget). */
export interface DashboardTarget {
  readonly service: string;
  readonly stage: string;
  readonly nameSuffix: string;
}

/** A CloudWatch metric as a dashboard widget names it: namespace, name, dimension pairs, then options. */
type MetricLine = (string | Record<string, string>)[];
type Widget = Record<string, unknown>;

/** The `${AWS::Region}` placeholder: the body goes through Fn::Sub. */
const REGION = '${AWS::Region}';
const PERIOD_S = 60;
const WIDTH = 24;

/**
 * The job's CloudWatch dashboard (`AWS::CloudWatch::Dashboard`), with the figures the local dashboard
 * shows: per stage, records in and out, iterator age (Lambda's) beside watermark lag, batch duration,
 * state writes and refused conditions, fired windows, late records and dead letters (the functions' EMF
 * metrics, namespace `shardflow`); for the job, the on-failure queues and function errors.
 * The body is a string for Fn::Sub (the region).
 */
export function dashboardResource(plan: Plan, target: DashboardTarget, names: { functionName: (fn: string) => string; queueName: (stage: Stage) => string; watermarkFunction: string }): Record<string, unknown> {
  const dims = (stage: string): string[] => {
    const values: Record<(typeof METRIC_DIMENSIONS)[number], string> = { service: metricsServiceName(plan.job, target.nameSuffix), job: plan.job, stage };
    return METRIC_DIMENSIONS.flatMap((d) => [d, values[d]]);
  };
  const emf = (name: MetricName, stage: string, options: Record<string, string> = {}): MetricLine => [
    METRICS_NAMESPACE,
    name,
    ...dims(stage),
    { stat: METRICS[name].statistic, label: `${stage} ${name}`, ...options },
  ];
  const lambda = (metric: string, fn: string, stat: string, label: string): MetricLine => ['AWS/Lambda', metric, 'FunctionName', names.functionName(fn), { stat, label }];
  const widgets: Widget[] = [];
  let y = 0;
  const row = (height: number, cells: (Widget | undefined)[]): void => {
    const present = cells.filter((c): c is Widget => c !== undefined);
    const width = Math.floor(WIDTH / present.length);
    present.forEach((w, i) => widgets.push({ ...w, x: i * width, y, width, height }));
    y += height;
  };
  const chart = (title: string, metrics: MetricLine[], options: { unit?: 'ms'; stacked?: boolean } = {}): Widget => ({
    type: 'metric',
    properties: {
      title,
      region: REGION,
      view: 'timeSeries',
      stacked: options.stacked ?? false,
      period: PERIOD_S,
      metrics,
      yAxis: { left: { min: 0, ...(options.unit === 'ms' && { label: 'ms', showUnits: false }) } },
    },
  });
  const text = (markdown: string): Widget => ({ type: 'text', properties: { markdown } });

  row(2, [
    text(
      `# shardflow · ${plan.job} (${target.stage})\n` +
        `Stages ${plan.stages.map((s) => `**${s.id}** ← \`${s.input.stream}\``).join(', ')}. Metrics: namespace \`${METRICS_NAMESPACE}\`, dimensions ${METRIC_DIMENSIONS.join(', ')}; per-minute sums, lags at their maximum.`,
    ),
  ]);
  row(6, [
    chart('Records in per stage', plan.stages.map((s) => emf('RecordsIn', s.id))),
    chart('Iterator age per stage (Lambda)', plan.stages.map((s) => lambda('IteratorAge', s.id, 'Maximum', `${s.id} IteratorAge`)), { unit: 'ms' }),
    chart('Late records and dead letters', plan.stages.flatMap((s) => [...(s.keyed ? [emf('LateRecords', s.id)] : []), emf('DeadLetters', s.id)])),
    chart(
      'On-failure queues (batches discarded)',
      plan.stages.map((s) => ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', names.queueName(s), { stat: 'Maximum', label: `${s.id} failures` }]),
    ),
  ]);
  for (const stage of plan.stages) {
    row(1, [text(`## stage ${stage.id} ← \`${stage.input.stream}\`${stage.keyed ? ' (keyed)' : ''}`)]);
    row(6, [
      chart(`${stage.id} · records in and out`, [emf('RecordsIn', stage.id), emf('RecordsOut', stage.id)]),
      chart(`${stage.id} · iterator age and watermark lag`, [lambda('IteratorAge', stage.id, 'Maximum', `${stage.id} IteratorAge`), emf('WatermarkLag', stage.id)], { unit: 'ms' }),
      chart(`${stage.id} · batch duration`, [emf('BatchDuration', stage.id), emf('BatchDuration', stage.id, { stat: 'Maximum', label: `${stage.id} BatchDuration max` })], { unit: 'ms' }),
      stage.keyed
        ? chart(`${stage.id} · state log`, [emf('StateAppends', stage.id), emf('StateBytes', stage.id), emf('ShardStateBytes', stage.id, { stat: 'Maximum', label: `${stage.id} shard state bytes` }), emf('LostSlots', stage.id), emf('StateLoads', stage.id)])
        : chart(`${stage.id} · dead letters`, [emf('DeadLetters', stage.id)]),
    ]);
  }
  const ticked = plan.stages.filter((s) => s.keyed && s.input.kind === 'shuffle');
  if (ticked.length > 0) {
    row(6, [chart('Watermark function · ticks and idle keyed shards', ticked.flatMap((s) => [emf('Ticks', s.id), emf('IdleShards', s.id, { stat: 'Maximum', label: `${s.id} idle shards` })]))]);
  }
  row(6, [
    chart(
      'Function errors',
      [...plan.stages.map((s) => lambda('Errors', s.id, 'Sum', `${s.id} Errors`)), lambda('Errors', names.watermarkFunction, 'Sum', 'watermark Errors')],
    ),
    chart('Function duration', [...plan.stages.map((s) => lambda('Duration', s.id, 'Average', `${s.id} Duration`)), lambda('Duration', names.watermarkFunction, 'Maximum', 'watermark Duration')], { unit: 'ms' }),
  ]);

  return {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: `${target.service}-${target.stage}`,
      DashboardBody: { 'Fn::Sub': JSON.stringify({ start: '-PT3H', periodOverride: 'inherit', widgets }) },
    },
  };
}
