import { stateLimitsFor } from '../state/shard-states';
import { formatMs } from '../time/duration';
import type { WindowAssignerSpec } from '../time/window';
import type { KeyedOperator, Plan, Stage, StatelessOperator } from './plan';

const assigner = (a: WindowAssignerSpec): string => {
  const processing = a.kind !== 'count' && a.time === 'processing' ? ", { time: 'processing' }" : '';
  switch (a.kind) {
    case 'tumbling':
      return `tumbling(${formatMs(a.sizeMs)}${processing})`;
    case 'sliding':
      return `sliding(${formatMs(a.sizeMs)}, ${formatMs(a.slideMs)}${processing})`;
    case 'session':
      return `session(${formatMs(a.gapMs)}${processing})`;
    case 'count':
      return `countWindow(${a.size}, ${a.slide})`;
  }
};

const keyedLabel = (k: KeyedOperator): string =>
  k.kind === 'window'
    ? `${k.id} ${assigner(k.assigner)}.${k.fn.kind}(${'field' in k.fn ? `'${k.fn.field}'` : ''})${k.allowedLatenessMs ? ` allowedLateness ${formatMs(k.allowedLatenessMs)}` : ''}${k.lateSink ? ` late→${k.lateSink.name}` : ''}`
    : `${k.id} process(state: ${Object.keys(k.fn.state ?? {}).join(', ') || 'none'})`;

const statelessLabel = (o: StatelessOperator): string =>
  o.kind === 'mapAsync' ? `${o.id} (concurrency ${o.concurrency}, timeout ${formatMs(o.timeoutMs)}, retries ${o.retries})` : o.id;

function stageLine(s: Stage): string {
  const ops = [
    ...s.pre.map(statelessLabel),
    ...(s.keyBy ? ['keyBy (source is partitioned by it: no shuffle)'] : []),
    ...(s.keyed ? [keyedLabel(s.keyed)] : []),
    ...s.post.map(statelessLabel),
  ];
  const out = s.output.kind === 'shuffle' ? `${s.output.keyById} → stream ${s.output.stream}` : `sink ${s.output.sink.kind}:${s.output.sink.name}`;
  return [
    `stage ${s.id}  ← ${s.input.kind} stream ${s.input.stream} (${s.input.shards} shard${s.input.shards === 1 ? '' : 's'})${s.input.kind === 'shuffle' && s.input.global ? '  windowAll: runs with parallelism 1' : ''}`,
    `  operators: ${ops.length ? ops.join(' → ') : '(none)'}`,
    `  output:    ${out}`,
    `  batches:   size ${s.batch.batchSize}, window ${formatMs(s.batch.maxBatchingWindowMs)}, parallelization ${s.batch.parallelizationFactor}, retries ${s.batch.maxRetryAttempts === -1 ? 'until expiry' : s.batch.maxRetryAttempts}, bisect ${s.batch.bisectOnError ? 'on' : 'off'}, max record age ${s.batch.maxRecordAgeSeconds === -1 ? 'none' : formatMs(s.batch.maxRecordAgeSeconds * 1000)}`,
    `  function:  memory ${s.function.memoryMb} MB, timeout ${formatMs(s.function.timeoutSeconds * 1000)}, reserved concurrency ${s.function.reservedConcurrency ?? 'none'}${s.keyed ? ` (a shard's state up to ${formatBytes(stateLimitsFor(s.function.memoryMb).maxShardBytes)})` : ''}`,
  ].join('\n');
}

const formatBytes = (bytes: number): string => `${Math.round(bytes / 1_048_576)} MiB`;

/** The plan as text: stages, the streams between them, the tables (like Kafka Streams' Topology.describe()). */
export function describePlan(plan: Plan): string {
  return [
    `job ${plan.job}  (event time: out-of-orderness ${formatMs(plan.eventTime.outOfOrdernessMs)}, idle after ${formatMs(plan.eventTime.idleAfterMs)})`,
    '',
    ...plan.stages.map(stageLine),
    '',
    'streams:',
    ...plan.streams.map((s) => `  ${s.name.padEnd(32)} ${s.role.padEnd(8)} ${s.shards} shard${s.shards === 1 ? '' : 's'}${s.existing ? '  (exists already: read, never created or deleted)' : ''}`),
    'tables:',
    ...plan.tables.map((t) => `  ${t.name.padEnd(32)} ${t.role}`),
  ].join('\n');
}
