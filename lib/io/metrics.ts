import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DeadLetter, Element } from '../runtime/records';
import { NO_WATERMARK } from '../time/watermark';
import type { StageInvocation } from './stage-handler';
import type { WatermarkTick } from './watermark-handler';

/**
 * The functions' metrics, in CloudWatch Embedded Metric Format (EMF) through Powertools for AWS Lambda:
 * one JSON line on stdout per stage batch and per watermark tick and stage, which CloudWatch Logs turns
 * into metrics with no API call (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * The names and units live here once: the handlers emit them, `infra/dashboard.ts` charts them and the
 * local dashboard reads the same lines back from the function workers.
 */

/** The CloudWatch namespace of every shardflow metric. */
export const METRICS_NAMESPACE = 'shardflow';

/**
 * The dimensions of every metric, in order: `service` (Powertools' own: the deployment,
 * {@link metricsServiceName}), `job`, and `stage` (the stage id, `s0`, `s1`, …).
 */
export const METRIC_DIMENSIONS = ['service', 'job', 'stage'] as const;

/** Which function emits a metric. */
export type MetricSource = 'stage function' | 'watermark function';

/** One metric the functions emit. */
export interface MetricDefinition {
  readonly unit: 'Count' | 'Milliseconds';
  /** The statistic that makes sense on a chart: counts add up, lags and durations peak. */
  readonly statistic: 'Sum' | 'Maximum' | 'Average';
  readonly emittedBy: readonly MetricSource[];
  readonly description: string;
}

/**
 * Every metric the functions emit, by name. Flink's names where Flink has one (numRecordsIn,
 * numRecordsOut, numLateRecordsDropped, currentInputWatermark as a lag).
 *
 * @example
 * ```ts
 * Object.keys(METRICS) // ['RecordsIn', 'RecordsOut', …]
 * ```
 */
export const METRICS = {
  RecordsIn: {
    unit: 'Count',
    statistic: 'Sum',
    emittedBy: ['stage function'],
    description: 'records a stage took in: Kinesis records at a source, the elements inside envelopes after a shuffle',
  },
  RecordsOut: {
    unit: 'Count',
    statistic: 'Sum',
    emittedBy: ['stage function'],
    description: 'records a stage sent on: shuffled to the next stage, or results to its sinks',
  },
  LateRecords: { unit: 'Count', statistic: 'Sum', emittedBy: ['stage function'], description: 'records too late for every window they belong to (to the late output when the job has one)' },
  DeadLetters: { unit: 'Count', statistic: 'Sum', emittedBy: ['stage function'], description: 'records written to the dead-letter table (unreadable, or a user function failed on them)' },
  StateAppends: { unit: 'Count', statistic: 'Sum', emittedBy: ['stage function'], description: "entries a keyed stage appended to its shards' logs (one per batch that changed state)" },
  StateBytes: { unit: 'Count', statistic: 'Sum', emittedBy: ['stage function'], description: 'bytes of those entries, packed: DynamoDB bills them per started KB' },
  LostSlots: {
    unit: 'Count',
    statistic: 'Sum',
    emittedBy: ['stage function'],
    description: "appends that found their log slot taken (a zombie invocation or a racing retry wrote first): the batch ran again on the caught-up state",
  },
  StateLoads: { unit: 'Count', statistic: 'Sum', emittedBy: ['stage function'], description: "batches that found no cached state for their shard and loaded it from the log's latest snapshot" },
  ShardStateBytes: {
    unit: 'Count',
    statistic: 'Maximum',
    emittedBy: ['stage function'],
    description: "a keyed shard's state, bytes as JSON before compression (memory holds about three times as much); it must stay within the function's memory",
  },
  BatchDuration: { unit: 'Milliseconds', statistic: 'Average', emittedBy: ['stage function'], description: 'time to process one batch, state to commit' },
  WatermarkLag: {
    unit: 'Milliseconds',
    statistic: 'Maximum',
    emittedBy: ['stage function'],
    description: "processing time minus a shard's watermark after a batch: a source shard's (the marker it sent), a keyed shard's",
  },
  Ticks: { unit: 'Count', statistic: 'Sum', emittedBy: ['watermark function'], description: "tick records put on keyed stages' input shards (they let idle inputs stop holding the watermark)" },
  IdleShards: { unit: 'Count', statistic: 'Maximum', emittedBy: ['watermark function'], description: 'keyed shards whose inputs were all idle at the tick' },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

/** One value of one metric. */
export interface MetricDatum {
  readonly name: MetricName;
  readonly value: number;
}

/** What a stage batch reports, as metric values. */
export function stageBatchMetrics(info: StageInvocation): MetricDatum[] {
  const data: MetricDatum[] = [
    { name: 'RecordsIn', value: info.elementsIn ?? info.recordsIn },
    { name: 'RecordsOut', value: info.shuffled + info.outputs },
    { name: 'LateRecords', value: info.late },
    { name: 'DeadLetters', value: info.deadLetters },
    { name: 'BatchDuration', value: info.durationMs },
  ];
  if (info.stateAppends !== undefined) {
    data.push(
      { name: 'StateAppends', value: info.stateAppends },
      { name: 'StateBytes', value: info.stateBytes ?? 0 },
      { name: 'LostSlots', value: info.lostSlots ?? 0 },
      { name: 'StateLoads', value: info.stateLoads ?? 0 },
      { name: 'ShardStateBytes', value: info.shardStateBytes ?? 0 },
    );
  }
  if (info.watermarkMs !== NO_WATERMARK && info.atMs !== undefined) data.push({ name: 'WatermarkLag', value: Math.max(0, info.atMs - info.watermarkMs) });
  return data;
}

/** What one watermark tick did for one keyed stage, as metric values. */
export function watermarkTickMetrics(tick: WatermarkTick): MetricDatum[] {
  return [
    { name: 'Ticks', value: tick.ticks },
    { name: 'IdleShards', value: tick.idleShards },
  ];
}

/** How many late records and dead letters a batch reports by name (the counts are always complete). */
export const SAMPLE_SIZE = 5;

/** A late record, as logged: where it came from and its event time. */
export interface LateRecordSample {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly eventTimeMs: number;
  readonly key?: string;
}

/** A dead letter, as logged: why, who refused it, and where it came from. */
export interface DeadLetterSample {
  readonly reason: string;
  readonly operator: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
}

export const lateSample = (late: readonly Element[]): LateRecordSample[] =>
  late.slice(-SAMPLE_SIZE).map((e) => ({
    shardId: e.origin.shardId,
    sequenceNumber: e.origin.sequenceNumber,
    eventTimeMs: e.timestampMs,
    ...('key' in e && typeof e.key === 'string' && { key: e.key }),
  }));

export const deadLetterSample = (letters: readonly DeadLetter[]): DeadLetterSample[] =>
  letters.slice(-SAMPLE_SIZE).map((l) => ({ reason: l.reason, operator: l.operator ?? 'source', shardId: l.shardId, sequenceNumber: l.sequenceNumber }));

/**
 * The `service` dimension: the deployment, so two deployments of one job in an account keep their
 * figures apart. `nameSuffix` is the one the plan's streams and tables carry (`-prod`; empty locally).
 */
export const metricsServiceName = (job: string, nameSuffix: string): string => `shardflow-${job}${nameSuffix}`;

/**
 * Publishes a job's metrics as EMF lines on stdout, one line per call, dimensioned by stage.
 *
 * @example
 * ```ts
 * const metrics = new JobMetrics({ job: 'click-counts', service: metricsServiceName('click-counts', '-prod') });
 * metrics.publish('s1', stageBatchMetrics(info)); // {"_aws":{…"Dimensions":[["service","job","stage"]]…},"RecordsIn":500,…}
 * ```
 */
export class JobMetrics {
  private readonly metrics: Metrics;

  constructor(options: { readonly job: string; readonly service: string }) {
    this.metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: options.service, defaultDimensions: { job: options.job } });
  }

  /** One EMF line with the stage's values (a name given twice is summed first: EMF would keep a list). */
  publish(stage: string, data: readonly MetricDatum[]): void {
    if (data.length === 0) return;
    const summed = new Map<MetricName, number>();
    for (const d of data) summed.set(d.name, (summed.get(d.name) ?? 0) + d.value);
    this.metrics.addDimension('stage', stage);
    for (const [name, value] of summed) this.metrics.addMetric(name, METRICS[name].unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds, value);
    this.metrics.publishStoredMetrics();
  }
}

/** One EMF line read back: its namespace, dimension values and metric values. */
export interface EmfRecord {
  readonly namespace: string;
  readonly timestampMs: number;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: ReadonlyMap<string, number>;
}

/**
 * Reads an EMF line (as CloudWatch Logs would), or undefined for any other line. Used by the local
 * runtime, which reads its function workers' stdout as CloudWatch Logs reads a Lambda function's.
 */
export function readEmf(line: string): EmfRecord | undefined {
  const start = line.indexOf('{"');
  if (start < 0 || !line.includes('"_aws"')) return undefined;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(line.slice(start)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const aws = doc._aws as { Timestamp?: number; CloudWatchMetrics?: { Namespace?: string; Dimensions?: string[][]; Metrics?: { Name: string }[] }[] } | undefined;
  const directive = aws?.CloudWatchMetrics?.[0];
  if (!directive?.Namespace || !directive.Metrics) return undefined;
  const dimensions: Record<string, string> = {};
  for (const name of directive.Dimensions?.[0] ?? []) if (typeof doc[name] === 'string') dimensions[name] = doc[name];
  const values = new Map<string, number>();
  for (const { Name } of directive.Metrics) {
    const v = doc[Name];
    const total = Array.isArray(v) ? v.reduce((a: number, b) => a + Number(b), 0) : Number(v);
    if (Number.isFinite(total)) values.set(Name, total);
  }
  return { namespace: directive.Namespace, timestampMs: Number(aws?.Timestamp ?? 0), dimensions, values };
}
