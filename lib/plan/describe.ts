import { stateLimitsFor } from '../state/shard-states';
import { formatMs } from '../time/duration';
import type { WindowAssignerSpec } from '../time/window';
import { isFlow, type Flow, type KeyedOperator, type Plan, type Stage, type StageOutput, type StatelessOperator } from './plan';

export const assigner = (a: WindowAssignerSpec): string => {
  const processing = a.kind !== 'count' && a.time === 'processing' ? ", { time: 'processing' }" : '';
  switch (a.kind) {
    case 'tumbling':
      return `tumbling(${formatMs(a.sizeMs)}${processing})`;
    case 'sliding':
      return `sliding(${formatMs(a.sizeMs)}, ${formatMs(a.slideMs)}${processing})`;
    case 'cumulative':
      return `cumulative(${formatMs(a.sizeMs)}, ${formatMs(a.stepMs)}${processing})`;
    case 'session':
      return `session(${formatMs(a.gapMs)}${processing})`;
    case 'count':
      return `countWindow(${a.size}, ${a.slide})`;
  }
};

const keyedLabel = (k: KeyedOperator): string =>
  k.kind === 'window'
    ? `${k.id} ${assigner(k.assigner)}.${k.fn.kind}(${'field' in k.fn ? `'${k.fn.field}'` : ''})${k.allowedLatenessMs ? ` allowedLateness ${formatMs(k.allowedLatenessMs)}` : ''}${k.lateSink ? ` late→${k.lateSink.name}` : ''}`
    : `${k.id} ${k.written}(state: ${Object.keys(k.fn.state ?? {}).join(', ') || 'none'})`;

const statelessLabel = (o: StatelessOperator): string =>
  o.kind === 'mapAsync' ? `${o.id} (concurrency ${o.concurrency}, timeout ${formatMs(o.timeoutMs)}, retries ${o.retries}${o.readsTables.length > 0 ? `, reads ${o.readsTables.join(', ')}` : ''})` : o.id;

const outputLabel = (o: StageOutput): string => (o.kind === 'shuffle' ? `${o.keyById} → stream ${o.stream}` : `sink ${o.sink.kind}:${o.sink.name}`);

/** A flow's branches, one line each, indented under the stage. */
function branchLines(flow: Flow, indent: string): string[] {
  return flow.next.flatMap((n) => {
    if (!isFlow(n)) return [`${indent}→ ${outputLabel(n)}`];
    const head = `${indent}→ ${n.ops.map(statelessLabel).join(' → ')}`;
    return n.next.length === 1 && !isFlow(n.next[0]!) ? [`${head} → ${outputLabel(n.next[0] as StageOutput)}`] : [head, ...branchLines(n, `${indent}  `)];
  });
}

function stageLine(s: Stage): string {
  const ops = [
    ...s.pre.map(statelessLabel),
    ...(s.keyBy ? ['keyBy (source is partitioned by it: no shuffle)'] : []),
    ...(s.keyed ? [keyedLabel(s.keyed)] : []),
    ...s.flow.ops.map(statelessLabel),
  ];
  const only = s.flow.next.length === 1 && !isFlow(s.flow.next[0]!) ? s.flow.next[0] : undefined;
  const upstream = s.input.kind === 'shuffle' && s.input.lanes.length > 1 ? `  from ${s.input.lanes.map((l) => `${l.fromStage}${s.keyed?.kind === 'process' && s.keyed.written !== 'process' ? ` (input ${l.input + 1})` : ''}`).join(', ')}` : '';
  return [
    `stage ${s.id}  ← ${s.input.kind} stream ${s.input.stream} (${shardsLabel(s.input)})${s.input.kind === 'shuffle' && s.input.global ? '  windowAll: runs with parallelism 1' : ''}${upstream}`,
    `  operators: ${ops.length ? ops.join(' → ') : '(none)'}`,
    ...(only ? [`  output:    ${outputLabel(only)}`] : ['  outputs:', ...branchLines(s.flow, '    ')]),
    ...Object.entries(s.sideFlows).flatMap(([tag, f]) => [`  side output '${tag}':`, ...(f.ops.length > 0 ? branchLines({ ops: [], next: [f] }, '    ') : branchLines(f, '    '))]),
    `  batches:   size ${s.batch.batchSize}, window ${formatMs(s.batch.maxBatchingWindowMs)}, parallelization ${s.batch.parallelizationFactor}${s.keyGroups > 1 ? ` (${s.keyGroups} key groups per shard, each its own log)` : ''}, retries ${s.batch.maxRetryAttempts === -1 ? 'until expiry' : s.batch.maxRetryAttempts}, bisect ${s.batch.bisectOnError ? 'on' : 'off'}, max record age ${s.batch.maxRecordAgeSeconds === -1 ? 'none' : formatMs(s.batch.maxRecordAgeSeconds * 1000)}`,
    `  function:  memory ${s.function.memoryMb} MB, timeout ${formatMs(s.function.timeoutSeconds * 1000)}, reserved concurrency ${s.function.reservedConcurrency ?? 'none'}${s.keyed ? ` (a shard's state up to ${formatBytes(stateLimitsFor(s.function.memoryMb).maxShardBytes)})` : ''}`,
  ].join('\n');
}

/** A stream's shards: the count it keeps (provisioned), or where an on-demand one starts. */
const shardsLabel = (s: { shards: number; onDemand?: true }): string =>
  s.onDemand ? `on-demand: ${s.shards} shards at first, then as Kinesis scales it` : `${s.shards} shard${s.shards === 1 ? '' : 's'}`;

const formatBytes = (bytes: number): string => `${Math.round(bytes / 1_048_576)} MiB`;

/** The plan as text: stages, the streams between them, the tables (like Kafka Streams' Topology.describe()). */
export function describePlan(plan: Plan): string {
  return [
    `job ${plan.job}  (event time: out-of-orderness ${formatMs(plan.eventTime.outOfOrdernessMs)}, idle after ${formatMs(plan.eventTime.idleAfterMs)})`,
    '',
    ...plan.stages.map(stageLine),
    '',
    'streams:',
    ...plan.streams.map((s) => `  ${s.name.padEnd(32)} ${s.role.padEnd(8)} ${shardsLabel(s)}${s.existing ? '  (exists already: read, never created or deleted)' : ''}`),
    'tables:',
    ...plan.tables.map((t) => `  ${t.name.padEnd(32)} ${t.role}`),
  ].join('\n');
}
