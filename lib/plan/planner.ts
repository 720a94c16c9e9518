import { operatorLabel } from '../api/call-site';
import type { OperatorNode, JobDefinition } from '../api/graph';
import type { SinkSpec } from '../api/sink';
import { attachesToExisting, STREAM_ARN, streamNameOf, type SourceSpec } from '../api/source';
import { toMs, type Duration } from '../time/duration';
import { isProcessingTime, type WindowAssignerSpec } from '../time/window';
import { PlanError } from './plan-error';
import { checkSettingsPlace, stageSettings } from './stage-settings';
import type {
  AsyncOperator,
  KeyedOperator,
  Plan,
  Stage,
  StageInput,
  StageOutput,
  StatelessOperator,
  StreamResource,
  TableResource,
} from './plan';

export const DEFAULT_IDLE_AFTER_MS = 60_000;

/** Shards of one stream: Kinesis' default quota per account and region is 500 (200 in some regions). */
const MAX_SHARDS = 500;
const JOB_NAME = /^[a-zA-Z][a-zA-Z0-9-]{0,39}$/;
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

/**
 * Cuts a job into stages the way Flink chains operators: consecutive stateless operators share a stage;
 * a keyBy ends one (its records must be repartitioned through a stream) unless the source is declared
 * partitioned by that very key. A keyed operator's stage keeps the stateless operators after it, up to
 * the next keyBy or the sink, so a job is a line: source stage, then one stage per keyed operator. Every
 * problem is a {@link PlanError} naming the operator.
 */
export function planJob(job: JobDefinition): Plan {
  if (!JOB_NAME.test(job.name)) {
    throw new PlanError(`job '${job.name}'`, 'the name is not usable in AWS resource names', 'use letters, digits and dashes, starting with a letter, at most 40 characters');
  }
  const [first, ...rest] = job.nodes;
  if (first?.kind !== 'source') throw new PlanError(`job '${job.name}'`, 'it has no source', "start with .source(kinesisSource('stream', { eventTime }))");
  const source = checkSource(() => operatorLabel(first), first.source);
  const last = job.nodes[job.nodes.length - 1];
  if (last?.kind !== 'sink') throw new PlanError(`job '${job.name}'`, 'it has no sink', 'end with .sink(dynamoSink(...)), .sink(kinesisSink(...)) or .sink(logSink())');

  const stages: Stage[] = [];
  let input: StageInput = { kind: 'source', stream: streamNameOf(source.stream), shards: source.options.shards ?? 1, source };
  let pre: StatelessOperator[] = [];
  let post: StatelessOperator[] = [];
  let keyed: KeyedOperator | undefined;
  let inStageKeyBy: Extract<OperatorNode, { kind: 'keyBy' }> | undefined;
  let pendingKeyBy: Extract<OperatorNode, { kind: 'keyBy' }> | undefined;
  /** The operator whose `.settings(...)` apply to the stage being built (the source, or its keyed operator). */
  let settingsFrom: OperatorNode | undefined = first.settings !== undefined ? first : undefined;

  const closeStage = (output: StageOutput): void => {
    const settings = stageSettings(settingsFrom, { keepsState: keyed !== undefined, shuffles: output.kind === 'shuffle' });
    stages.push({ id: `s${stages.length}`, input, pre, keyBy: inStageKeyBy?.selector, keyed, post, output, ...settings });
    settingsFrom = undefined;
    pre = [];
    post = [];
    keyed = undefined;
    inStageKeyBy = undefined;
  };

  for (const [i, node] of rest.entries()) {
    checkSettingsPlace(node);
    if (node.parallelism !== undefined && node.kind !== 'window' && node.kind !== 'process') {
      throw new PlanError(operatorLabel(node), `.parallelism(${node.parallelism}) follows ${node.kind}`, "set it after a keyed operator: .window(...).sum('x').parallelism(4) or .process(...).parallelism(4); a source's parallelism is its shards");
    }
    if (pendingKeyBy && node.kind !== 'window' && node.kind !== 'process') {
      const what = pendingKeyBy.global ? 'windowAll' : 'keyBy';
      throw new PlanError(operatorLabel(pendingKeyBy), `${what} is followed by ${node.kind}`, `follow ${what} with ${pendingKeyBy.global ? 'a window function, e.g. .count()' : '.window(...) or .process(...)'}`);
    }
    switch (node.kind) {
      case 'source':
        throw new PlanError(operatorLabel(node), 'a job has one source', 'start another job for another stream');
      case 'map':
      case 'filter':
      case 'flatMap':
        if (typeof node.fn !== 'function') throw new PlanError(operatorLabel(node), `${node.kind} needs a function`, `pass a function to .${node.kind}(...)`);
        if (node.kind === 'flatMap') checkNoFanOutAfterAsync(node, keyed ? post : pre);
        (keyed ? post : pre).push(node);
        break;
      case 'mapAsync':
        (keyed ? post : pre).push(checkMapAsync(node));
        break;
      case 'keyBy': {
        if (typeof node.selector !== 'function' && typeof node.selector !== 'string') {
          throw new PlanError(operatorLabel(node), 'keyBy needs a function or a field name', 'write .keyBy(e => e.userId) or .keyBy("userId")');
        }
        const declared = stages.length === 0 ? source.options.partitionedBy : undefined;
        // Processing-time windows need the watermark function's ticks to fire without events, and ticks go
        // on shuffle streams only (a source stream is the producers'): such a window always gets a shuffle.
        const next = rest[i + 1];
        const ticked = next?.kind === 'window' && isProcessingTime(next.assigner);
        if (declared !== undefined && declared === node.selector && pre.every((op) => op.kind === 'filter') && !ticked) {
          inStageKeyBy = node;
        } else {
          // A keyed stage after another one (or after the source stage): its own function, shuffle stream
          // and state logs. windowAll's stream has one shard: every record has the one key.
          const nextId = `s${stages.length + 1}`;
          const stream = `${job.name}-${nextId}`;
          closeStage({ kind: 'shuffle', stream, toStage: nextId, keyBy: node.selector, keyById: node.id });
          input = { kind: 'shuffle', stream, shards: node.global ? 1 : (source.options.shards ?? 1), fromStage: `s${stages.length - 1}`, ...(node.global && { global: true as const }) };
        }
        pendingKeyBy = node;
        break;
      }
      case 'window':
      case 'process':
        if (!pendingKeyBy) throw new PlanError(operatorLabel(node), `${node.kind} needs a keyed stream`, `call .keyBy(...) before .${node.kind === 'window' ? 'window' : 'process'}(...)`);
        keyed = node.kind === 'window' ? checkWindow(node) : checkProcess(node);
        pendingKeyBy = undefined;
        if (node.parallelism !== undefined) input = withParallelism(node, input);
        if (node.settings !== undefined) settingsFrom = settingsOfKeyed(node, settingsFrom);
        break;
      case 'sink':
        if (node !== last) throw new PlanError(operatorLabel(node), 'a sink must be the last operator', 'move .sink(...) to the end of the job');
        checkSink(() => operatorLabel(node), node.sink);
        closeStage({ kind: 'sink', sink: node.sink });
        break;
    }
  }

  const plan = resources(job.name, stages, source);
  checkNames(plan, job, source);
  return plan;
}

function resources(jobName: string, stages: Stage[], source: SourceSpec): Plan {
  const sinks = stages.flatMap((s) => [
    ...(s.output.kind === 'sink' ? [s.output.sink] : []),
    ...(s.keyed?.kind === 'window' && s.keyed.lateSink ? [s.keyed.lateSink] : []),
  ]);
  const streams: StreamResource[] = stages.map((s) => ({
    name: s.input.stream,
    shards: s.input.shards,
    role: s.input.kind === 'source' ? 'source' : 'shuffle',
    ...(s.input.kind === 'source' && attachesToExisting(source) && { existing: STREAM_ARN.test(source.stream) ? { arn: source.stream } : {} }),
  }));
  for (const sink of sinks) if (sink.kind === 'kinesis') streams.push({ name: sink.stream, shards: 1, role: 'sink' });
  const stateTable = `${jobName}-state`;
  const deadLetterTable = `${jobName}-dead-letters`;
  const tables: TableResource[] = [
    { name: stateTable, role: 'state' },
    { name: deadLetterTable, role: 'dead-letter' },
    ...sinks.flatMap((s): TableResource[] => (s.kind === 'dynamodb' ? [{ name: s.table, role: 'sink' }] : [])),
  ];
  return {
    job: jobName,
    stages,
    streams,
    tables,
    sinks,
    stateTable,
    deadLetterTable,
    eventTime: {
      outOfOrdernessMs: toMs(source.options.outOfOrderness ?? 0),
      idleAfterMs: source.options.idleAfter === undefined ? DEFAULT_IDLE_AFTER_MS : toMs(source.options.idleAfter),
    },
  };
}

/** A keyed operator's `.parallelism(n)`: the shard count of the shuffle stream its stage reads. */
function withParallelism(node: OperatorNode, input: StageInput): StageInput {
  const n = node.parallelism!;
  const where = (): string => operatorLabel(node);
  if (!Number.isInteger(n) || n < 1 || n > MAX_SHARDS) throw new PlanError(where(), `parallelism is ${n}`, `use a whole number from 1 to ${MAX_SHARDS} (Kinesis shards of its input stream)`);
  if (input.kind === 'source') {
    throw new PlanError(where(), 'parallelism is set, but the stage reads the source directly (the source is partitionedBy its key: no shuffle)', "its parallelism is the source's shards: set kinesisSource's shards, or drop partitionedBy");
  }
  if (input.global && n !== 1) throw new PlanError(where(), `parallelism is ${n}, but a windowAll has one key, so one shard`, 'drop .parallelism(...), or keyBy a field to spread the windows over shards');
  return { ...input, shards: n };
}

/** A keyed operator's `.settings(...)`; its stage may read the source directly, whose settings are then the same stage's. */
function settingsOfKeyed(node: OperatorNode, already: OperatorNode | undefined): OperatorNode {
  if (already) {
    throw new PlanError(operatorLabel(node), 'the stage has .settings(...) twice: after the source and after this operator (the source is partitionedBy its key: one stage)', 'keep one of them');
  }
  return node;
}

function checkSource(where: () => string, source: SourceSpec): SourceSpec {
  if (source?.kind !== 'kinesis') throw new PlanError(where(), 'the source is not a kinesisSource', "use kinesisSource('stream', { eventTime: e => e.ts })");
  if (source.stream?.startsWith('arn:') && !STREAM_ARN.test(source.stream)) {
    throw new PlanError(where(), `'${source.stream}' is not a Kinesis stream ARN`, 'write arn:aws:kinesis:REGION:ACCOUNT:stream/NAME, or the stream name');
  }
  if (!STREAM_NAME.test(streamNameOf(source.stream))) throw new PlanError(where(), `'${source.stream}' is not a Kinesis stream name`, 'use 1-128 letters, digits, _ . or -');
  if (typeof source.options?.eventTime !== 'function') throw new PlanError(where(), 'eventTime is missing', 'pass { eventTime: e => e.ts } returning epoch ms');
  checkDuration(where, 'outOfOrderness', source.options.outOfOrderness ?? 0);
  checkDuration(where, 'idleAfter', source.options.idleAfter ?? 0);
  const shards = source.options.shards ?? 1;
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new PlanError(where(), `shards is ${shards}`, `use a whole number from 1 to ${MAX_SHARDS}`);
  return source;
}

function checkDuration(where: () => string, field: string, value: Duration): number {
  try {
    return toMs(value);
  } catch (e) {
    throw new PlanError(where(), `${field} ${(e as Error).message}`, `fix ${field}`);
  }
}

function checkWindow(node: Extract<OperatorNode, { kind: 'window' }>): KeyedOperator {
  const { id, assigner, fn } = node;
  const where = (): string => operatorLabel(node);
  const functionWhere = (): string => operatorLabel(node, 'function');
  checkAssigner(where, assigner);
  const allowedLatenessMs = checkDuration(where, 'allowedLateness', node.allowedLateness);
  if (assigner.kind === 'count' && (allowedLatenessMs > 0 || node.lateSink)) {
    throw new PlanError(where(), 'count windows have no event time, so no lateness', 'drop allowedLateness/lateOutput or use a time window');
  }
  if (node.lateSink) checkSink(where, node.lateSink);
  if (isProcessingTime(assigner) && (allowedLatenessMs > 0 || node.lateSink)) {
    throw new PlanError(where(), 'processing-time windows have no late elements, so no lateness', 'drop allowedLateness/lateOutput or use an event-time window');
  }
  switch (fn.kind) {
    case 'sum':
    case 'min':
    case 'max':
    case 'avg':
      if (typeof fn.field !== 'string' || fn.field === '') throw new PlanError(functionWhere(), `${fn.kind} needs a field name`, `write .${fn.kind}('clicks')`);
      if (['key', 'windowStart', 'windowEnd'].includes(fn.field)) throw new PlanError(functionWhere(), `${fn.kind}('${fn.field}') would overwrite a result field`, 'map the field to another name first');
      break;
    case 'reduce':
    case 'process':
      if (typeof fn.fn !== 'function') throw new PlanError(functionWhere(), `${fn.kind} needs a function`, `pass a function to .${fn.kind}(...)`);
      break;
    case 'aggregate':
      for (const part of ['create', 'add', 'merge', 'result'] as const) {
        if (typeof fn.fn?.[part] !== 'function') throw new PlanError(functionWhere(), `the aggregate function has no ${part}()`, 'give { create, add, merge, result }');
      }
      break;
    case 'count':
      break;
  }
  return { kind: 'window', id, assigner, allowedLatenessMs, fn, lateSink: node.lateSink };
}

function checkAssigner(where: () => string, a: WindowAssignerSpec): void {
  const positive = (field: string, ms: number): void => {
    if (Number.isInteger(ms) && ms > 0) return;
    const written = a.invalid && field in a.invalid ? a.invalid[field] : ms;
    throw new PlanError(where(), `${a.kind} window ${field} ${typeof written === 'string' ? `'${written}'` : String(written)} is not a positive duration`, "write it as '5s', '500ms' or a number of ms");
  };
  switch (a.kind) {
    case 'tumbling':
      return positive('size', a.sizeMs);
    case 'sliding':
      positive('size', a.sizeMs);
      positive('slide', a.slideMs);
      if (a.sizeMs % a.slideMs !== 0) throw new PlanError(where(), `sliding size ${a.sizeMs}ms is not a multiple of slide ${a.slideMs}ms`, 'pick a slide that divides the size');
      return;
    case 'session':
      return positive('gap', a.gapMs);
    case 'count':
      if (!Number.isInteger(a.size) || a.size < 1) throw new PlanError(where(), `count window size ${a.size} is not a positive whole number`, 'write countWindow(100)');
      if (!Number.isInteger(a.slide) || a.slide < 1 || a.slide > a.size) throw new PlanError(where(), `count window slide ${a.slide} is not between 1 and the size ${a.size}`, 'write countWindow(100, 10)');
      return;
    default:
      throw new PlanError(where(), 'unknown window assigner', 'use tumbling, sliding, session or countWindow');
  }
}

function checkProcess(node: Extract<OperatorNode, { kind: 'process' }>): KeyedOperator {
  const { id, fn } = node;
  const where = (): string => operatorLabel(node);
  if (typeof fn?.onEvent !== 'function') throw new PlanError(where(), 'the process function has no onEvent', 'give { state, onEvent(event, ctx), onTimer? }');
  const ttlMs: Record<string, number> = {};
  for (const [name, descriptor] of Object.entries(fn.state ?? {})) {
    if (!['value', 'list', 'map'].includes(descriptor?.kind)) throw new PlanError(where(), `state '${name}' is not a state descriptor`, 'use valueState(initial), listState() or mapState()');
    if (descriptor.ttl !== undefined) ttlMs[name] = checkDuration(where, `state '${name}' ttl`, descriptor.ttl);
  }
  return { kind: 'process', id, fn, ttlMs };
}

/** Lambda's own limit: a call may not outlast the function (15 minutes). */
const MAX_ASYNC_TIMEOUT_MS = 900_000;

function checkMapAsync(node: Extract<OperatorNode, { kind: 'mapAsync' }>): AsyncOperator {
  const where = (): string => operatorLabel(node);
  if (typeof node.fn !== 'function') throw new PlanError(where(), 'mapAsync needs a function', 'pass an async function to .mapAsync(async (record, { signal }) => ...)');
  const { concurrency = 10, timeoutMs = 5000, retries = 0, backoffMs = 100 } = node.options ?? {};
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new PlanError(where(), `mapAsync concurrency ${String(concurrency)} is not a whole number of at least 1`, 'write { concurrency: 10 }');
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new PlanError(where(), `mapAsync timeoutMs ${String(timeoutMs)} is not a time above 0 ms`, 'write { timeoutMs: 5000 }');
  if (timeoutMs > MAX_ASYNC_TIMEOUT_MS) throw new PlanError(where(), `mapAsync timeoutMs ${timeoutMs} outlasts a Lambda function (${MAX_ASYNC_TIMEOUT_MS} ms)`, 'give calls a shorter timeout');
  if (!Number.isInteger(retries) || retries < 0) throw new PlanError(where(), `mapAsync retries ${String(retries)} is not a whole number of at least 0`, 'write { retries: 2 }');
  if (typeof backoffMs !== 'number' || !(backoffMs >= 0) || !Number.isFinite(backoffMs)) throw new PlanError(where(), `mapAsync backoffMs ${String(backoffMs)} is not a time of at least 0 ms`, 'write { backoffMs: 100 }');
  return { kind: 'mapAsync', id: node.id, fn: node.fn, concurrency, timeoutMs, retries, backoffMs };
}

/**
 * A flatMap after a mapAsync in one stage would number its records by what the service answered: a retried
 * batch whose calls fared otherwise would number them differently, and the next stage would apply a record
 * twice or drop one. Before the mapAsync the numbering is the user's deterministic functions'.
 */
function checkNoFanOutAfterAsync(node: Extract<OperatorNode, { kind: 'flatMap' }>, chain: readonly StatelessOperator[]): void {
  const async = chain.find((op) => op.kind === 'mapAsync');
  if (async) {
    throw new PlanError(operatorLabel(node), `flatMap after ${async.id} in one stage is not supported`, 'move the flatMap before the mapAsync, or let the async function return the list as one record');
  }
}

function checkSink(where: () => string, sink: SinkSpec): void {
  switch (sink?.kind) {
    case 'dynamodb':
      if (!TABLE_NAME.test(sink.table)) throw new PlanError(where(), `'${sink.table}' is not a DynamoDB table name`, 'use 3-255 letters, digits, _ . or -');
      return;
    case 'kinesis':
      if (!STREAM_NAME.test(sink.stream)) throw new PlanError(where(), `'${sink.stream}' is not a Kinesis stream name`, 'use 1-128 letters, digits, _ . or -');
      return;
    case 'log':
      return;
    default:
      throw new PlanError(where(), 'not a sink', 'use dynamoSink(table), kinesisSink(stream) or logSink()');
  }
}

/** Sinks, streams and tables must not collide: two outputs with one name would mix their records. */
function checkNames(plan: Plan, job: JobDefinition, source: SourceSpec): void {
  const owner = new Map<string, OperatorNode>();
  const sinkNodes = job.nodes.flatMap((n): [OperatorNode, SinkSpec][] => [
    ...(n.kind === 'sink' ? [[n, n.sink] as [OperatorNode, SinkSpec]] : []),
    ...(n.kind === 'window' && n.lateSink ? [[n, n.lateSink] as [OperatorNode, SinkSpec]] : []),
  ]);
  for (const [node, sink] of sinkNodes) {
    const seen = owner.get(sink.name);
    if (seen) throw new PlanError(operatorLabel(node), `two sinks are named '${sink.name}' (the other is ${operatorLabel(seen)})`, 'give each sink its own table or stream');
    owner.set(sink.name, node);
    if (sink.kind === 'kinesis' && sink.stream === streamNameOf(source.stream)) throw new PlanError(operatorLabel(node), `the sink writes to the source stream '${sink.stream}'`, 'write results to another stream');
    if (sink.kind === 'dynamodb' && (sink.table === plan.stateTable || sink.table === plan.deadLetterTable)) {
      throw new PlanError(operatorLabel(node), `the table '${sink.table}' is the job's own`, 'give the sink another table name');
    }
  }
}
