/**
 * The functions' metrics: what a batch and a watermark tick report, and that the EMF lines Powertools
 * writes carry the namespace, dimensions and units the CloudWatch dashboard charts.
 */
import {
  JobMetrics,
  METRIC_DIMENSIONS,
  METRIC_NAMES,
  METRICS,
  METRICS_NAMESPACE,
  deadLetterSample,
  lateSample,
  metricsServiceName,
  readEmf,
  stageBatchMetrics,
  watermarkTickMetrics,
} from '../../lib/io/metrics';
import type { StageInvocation } from '../../lib/io/stage-handler';
import type { WatermarkTick } from '../../lib/io/watermark-handler';
import { NO_WATERMARK } from '../../lib/time/watermark';

const batch = (over: Partial<StageInvocation> = {}): StageInvocation => ({
  stage: 's1',
  shardId: 'shardId-000000000000',
  recordsIn: 3,
  elementsIn: 120,
  shuffled: 0,
  outputs: 7,
  late: 2,
  deadLetters: 1,
  markers: 0,
  watermarkMs: 10_000,
  durationMs: 42,
  stateAppends: 1,
  stateBytes: 2_300,
  lostSlots: 0,
  stateLoads: 1,
  shardStateBytes: 48_000,
  atMs: 12_500,
  ...over,
});

const tick = (over: Partial<WatermarkTick> = {}): WatermarkTick => ({
  stage: 's1',
  ticks: 4,
  idleShards: 1,
  shards: 4,
  atMs: 12_000,
  ...over,
});

/** Captures what Powertools writes to stdout. */
function stdoutLines(run: () => void): string[] {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return lines;
}

test("a keyed stage's batch reports records in (elements after a shuffle) and out, late, dead letters, duration, its log entry, the shard's state size and watermark lag", () => {
  expect(stageBatchMetrics(batch())).toEqual([
    { name: 'RecordsIn', value: 120 },
    { name: 'RecordsOut', value: 7 },
    { name: 'LateRecords', value: 2 },
    { name: 'DeadLetters', value: 1 },
    { name: 'BatchDuration', value: 42 },
    { name: 'StateAppends', value: 1 },
    { name: 'StateBytes', value: 2_300 },
    { name: 'LostSlots', value: 0 },
    { name: 'StateLoads', value: 1 },
    { name: 'ShardStateBytes', value: 48_000 },
    { name: 'WatermarkLag', value: 2_500 },
  ]);
});

test('a stateless batch reports no state figures; one with no watermark yet reports no watermark lag', () => {
  const names = stageBatchMetrics(batch({ watermarkMs: NO_WATERMARK, stateAppends: undefined })).map((d) => d.name);
  expect(names).toEqual(['RecordsIn', 'RecordsOut', 'LateRecords', 'DeadLetters', 'BatchDuration']);
});

test('a watermark tick reports the ticks it put and the shards it found idle', () => {
  expect(watermarkTickMetrics(tick())).toEqual([
    { name: 'Ticks', value: 4 },
    { name: 'IdleShards', value: 1 },
  ]);
});

test('every defined metric is emitted by the function its definition names, and nothing else is', () => {
  const byStage = new Set(stageBatchMetrics(batch()).map((d) => d.name));
  const byWatermark = new Set(watermarkTickMetrics(tick()).map((d) => d.name));
  for (const name of METRIC_NAMES) {
    const from: readonly string[] = METRICS[name].emittedBy;
    expect([name, byStage.has(name)]).toEqual([name, from.includes('stage function')]);
    expect([name, byWatermark.has(name)]).toEqual([name, from.includes('watermark function')]);
  }
});

test('one EMF line per publish: namespace shardflow, dimensions service, job and stage, units from the definitions', () => {
  const metrics = new JobMetrics({ job: 'click-counts', service: metricsServiceName('click-counts', '-prod') });
  const lines = stdoutLines(() => metrics.publish('s1', stageBatchMetrics(batch())));
  expect(lines).toHaveLength(1);
  const doc = JSON.parse(lines[0]!);
  const directive = doc._aws.CloudWatchMetrics[0];
  expect(directive.Namespace).toBe(METRICS_NAMESPACE);
  expect(directive.Dimensions).toEqual([[...METRIC_DIMENSIONS]]);
  expect({ service: doc.service, job: doc.job, stage: doc.stage }).toEqual({ service: 'shardflow-click-counts-prod', job: 'click-counts', stage: 's1' });
  for (const m of directive.Metrics) expect([m.Name, m.Unit]).toEqual([m.Name, METRICS[m.Name as keyof typeof METRICS].unit]);
  expect(doc.RecordsIn).toBe(120);
  expect(doc.WatermarkLag).toBe(2_500);
});

test('the dimensions do not leak from one stage’s line into the next', () => {
  const metrics = new JobMetrics({ job: 'j', service: 'shardflow-j' });
  const lines = stdoutLines(() => {
    metrics.publish('s0', [{ name: 'RecordsIn', value: 1 }]);
    metrics.publish('s1', [{ name: 'Ticks', value: 2 }]);
  });
  expect(lines.map((l) => readEmf(l)?.dimensions)).toEqual([
    { service: 'shardflow-j', job: 'j', stage: 's0' },
    { service: 'shardflow-j', job: 'j', stage: 's1' },
  ]);
});

test('readEmf reads a line back as CloudWatch would (with a log prefix, summing a list of values), and ignores other lines', () => {
  const metrics = new JobMetrics({ job: 'j', service: 'shardflow-j' });
  const [line] = stdoutLines(() => metrics.publish('s1', [{ name: 'RecordsOut', value: 2 }, { name: 'RecordsOut', value: 3 }, { name: 'BatchDuration', value: 9 }]));
  const emf = readEmf(`[j-s1] ${line}`)!;
  expect(emf.namespace).toBe('shardflow');
  expect(emf.dimensions).toEqual({ service: 'shardflow-j', job: 'j', stage: 's1' });
  expect([...emf.values]).toEqual([['RecordsOut', 5], ['BatchDuration', 9]]);
  expect(emf.timestampMs).toBeGreaterThan(0);
  expect(readEmf('{"level":"INFO","message":"stage batch"}')).toBeUndefined();
  expect(readEmf('[j-s1] START RequestId: 1')).toBeUndefined();
  expect(readEmf('{"_aws": not json')).toBeUndefined();
});

test('samples keep the last few records by name', () => {
  const element = (i: number) => ({ origin: { shardId: 'shardId-000000000001', sequenceNumber: String(100 + i), subIndex: 0 }, timestampMs: 1000 + i, value: {}, key: `k${i}` });
  expect(lateSample(Array.from({ length: 8 }, (_, i) => element(i)))).toEqual(
    [3, 4, 5, 6, 7].map((i) => ({ shardId: 'shardId-000000000001', sequenceNumber: String(100 + i), eventTimeMs: 1000 + i, key: `k${i}` })),
  );
  expect(deadLetterSample([{ id: 's/1/source', reason: 'bad json', shardId: 's', sequenceNumber: '1', data: '{' }])).toEqual([{ reason: 'bad json', operator: 'source', shardId: 's', sequenceNumber: '1' }]);
});
