import { operatorLabel, writtenAt } from '../api/call-site';
import type { OperatorNode, JobDefinition } from '../api/graph';
import type { StreamMode } from '../api/settings';
import type { SinkSpec } from '../api/sink';
import { attachesToExisting, STREAM_ARN, streamNameOf, type SourceSpec } from '../api/source';
import { toMs, type Duration } from '../time/duration';
import { isProcessingTime, type WindowAssignerSpec } from '../time/window';
import { PlanError } from './plan-error';
import { intervalJoinFunction, windowJoinFunction } from '../api/joins';
import { checkSettingsPlace, checkStreamMode, stageSettings, type StageShape } from './stage-settings';
import {
  flowOutputs,
  isFlow,
  stageSinks,
  type AsyncOperator,
  type EventTimeSettings,
  type Flow,
  type KeyedOperator,
  type Lane,
  type Plan,
  type ProcessFunctionSpec,
  type Stage,
  type StageInput,
  type StageOutput,
  type StatelessOperator,
  type StreamResource,
  type TableResource,
} from './plan';

export const DEFAULT_IDLE_AFTER_MS = 60_000;

/** Shards of one stream: Kinesis' default quota per account and region is 500 (200 in some regions). */
const MAX_SHARDS = 500;
/**
 * The shards an on-demand stream starts with: its default capacity, 4 MB/s in (a shard takes 1 MB/s), which
 * Kinesis then raises and lowers by itself (https://docs.aws.amazon.com/streams/latest/dev/how-do-i-size-a-stream.html).
 */
export const ON_DEMAND_INITIAL_SHARDS = 4;
const JOB_NAME = /^[a-zA-Z][a-zA-Z0-9-]{0,39}$/;
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
const UID = /^[A-Za-z][\w.-]{0,63}$/;

type Node = OperatorNode;
type KeyByNode = Extract<OperatorNode, { kind: 'keyBy' }>;
/** The operators that own a stage's state: each starts a stage of its own. */
const KEYED_KINDS = new Set<OperatorNode['kind']>(['window', 'process', 'coProcess', 'intervalJoin', 'windowJoin']);
const STATELESS_KINDS = new Set<OperatorNode['kind']>(['map', 'filter', 'flatMap', 'mapAsync']);
const isKeyedKind = (n: Node): boolean => KEYED_KINDS.has(n.kind);

/** The job's graph with every node's inputs and consumers resolved. */
interface Graph {
  readonly nodes: readonly Node[];
  readonly inputsOf: (n: Node) => readonly Node[];
  readonly consumersOf: (n: Node) => readonly Node[];
}

/**
 * Cuts a job into stages the way Flink chains operators: every source starts a stage, and so does every
 * keyed operator (a keyBy before it is a shuffle: its records are repartitioned through a stream), unless
 * the source is declared partitioned by that very key. A stage keeps the stateless operators after its
 * start, up to the next keyBys and the sinks: where a stream goes several ways the stage's flow branches,
 * and a union's operators run on each of its inputs' routes. Every problem is a {@link PlanError} naming
 * the operator.
 */
export function planJob(job: JobDefinition): Plan {
  if (!JOB_NAME.test(job.name)) {
    throw new PlanError(`job '${job.name}'`, 'the name is not usable in AWS resource names', 'use letters, digits and dashes, starting with a letter, at most 40 characters');
  }
  if (!job.nodes.some((n) => n.kind === 'source')) throw new PlanError(`job '${job.name}'`, 'it has no source', "start with .source(kinesisSource('stream', { eventTime }))");
  if (!job.nodes.some((n) => n.kind === 'sink')) throw new PlanError(`job '${job.name}'`, 'it has no sink', 'end with .sink(dynamoSink(...)), .sink(kinesisSink(...)) or .sink(logSink())');
  const jobMode = jobStreamMode(job);
  const graph = resolveGraph(job);
  const sources = graph.nodes.filter((n): n is Extract<Node, { kind: 'source' }> => n.kind === 'source');
  for (const node of graph.nodes) {
    checkSettingsPlace(node);
    checkNode(graph, node);
  }
  for (const s of sources) checkSource(() => operatorLabel(s), s.source);
  const streamOwner = new Map<string, Node>();
  for (const s of sources) {
    const stream = streamNameOf(s.source.stream);
    const other = streamOwner.get(stream);
    if (other) throw new PlanError(operatorLabel(s), `the stream '${stream}' is read by another source too (${operatorLabel(other)})`, 'read a stream once and use the stream value twice');
    streamOwner.set(stream, s);
  }

  // Stages in the nodes' order (a node comes after what it reads): sources, then keyed operators.
  const jobEventTime = eventTimeOf(sources);
  const defaultShards = Math.max(...sources.map((s) => s.source.options.shards ?? (declaredSourceMode(graph, s, jobMode) === 'on-demand' ? ON_DEMAND_INITIAL_SHARDS : 1)));
  const roots = graph.nodes.filter((n) => n.kind === 'source' || isKeyedKind(n));
  const inStage = new Set(sources.filter((s) => partitionedKeyBy(graph, s).length > 0).map((s) => s.id));
  const stageOf = new Map<string, string>();
  let next = 0;
  for (const r of roots) stageOf.set(r.id, `s${next++}`);
  for (const s of sources) {
    const keyBy = inStage.has(s.id) ? partitionedKeyBy(graph, s) : [];
    // A source keyed in its own stage: its keyed operator shares the source's stage.
    for (const k of keyBy) for (const c of graph.consumersOf(k)) stageOf.set(c.id, stageOf.get(s.id)!);
  }
  const stageIds = [...new Set(roots.map((r) => stageOf.get(r.id)!))];
  const renumber = new Map(stageIds.map((id, i) => [id, `s${i}`]));
  for (const [node, id] of stageOf) stageOf.set(node, renumber.get(id)!);

  // Each stage's flow, its routes numbered: a keyed stage's lanes are the routes that end at its stream.
  const laneRoutes = new Map<string, { fromStage: string; route: number; input: number; keyBy: KeyByNode }[]>();
  const sinkRoutes = new Map<string, number>();
  interface Draft {
    id: string;
    root: Node;
    input?: StageInput;
    pre: StatelessOperator[];
    keyBy?: KeyByNode;
    keyed?: KeyedOperator;
    flowRoot: Node;
    eventTime: EventTimeSettings;
  }
  const drafts: Draft[] = [];
  for (const root of roots) {
    const id = stageOf.get(root.id)!;
    if (root.kind !== 'source' && drafts.some((d) => d.id === id)) continue; // a keyed operator in its source's stage
    if (root.kind === 'source') {
      const keyed = inStage.has(root.id) ? partitionedKeyBy(graph, root) : [];
      const draft: Draft = { id, root, pre: [], flowRoot: root, eventTime: eventTimeOf([root]) };
      draft.input = { kind: 'source', stream: streamNameOf(root.source.stream), shards: root.source.options.shards ?? 1, source: root.source };
      if (keyed.length === 1) {
        const keyBy = keyed[0]!;
        const op = graph.consumersOf(keyBy)[0]!;
        draft.pre = chainBetween(graph, root, keyBy);
        draft.keyBy = keyBy;
        draft.keyed = keyedOperatorOf(graph, op);
        draft.flowRoot = op;
        if (op.parallelism !== undefined) withParallelism(op, draft.input);
      }
      drafts.push(draft);
    } else {
      drafts.push({ id, root, pre: [], keyed: keyedOperatorOf(graph, root), flowRoot: root, eventTime: jobEventTime });
    }
  }
  const flows = new Map<string, { flow: Flow; sideFlows: Record<string, Flow> }>();
  for (const d of drafts) {
    let route = 0;
    const leaf = (to: Node): StageOutput[] => {
      if (to.kind === 'sink') {
        const n = route++;
        sinkRoutes.set(to.id, (sinkRoutes.get(to.id) ?? 0) + 1);
        return [{ kind: 'sink', sink: to.sink, idPrefix: `${d.id}.${n}` }];
      }
      // A keyed stream may feed several keyed operators (Flink's keyBy is an edge): a shuffle to each one's stage.
      const keyBy = to as KeyByNode;
      return graph.consumersOf(keyBy).map((op): StageOutput => {
        const n = route++;
        const toStage = stageOf.get(op.id)!;
        const list = laneRoutes.get(toStage) ?? [];
        list.push({ fromStage: d.id, route: n, input: graph.inputsOf(op).indexOf(keyBy), keyBy });
        laneRoutes.set(toStage, list);
        return { kind: 'shuffle', stream: `${job.name}-${toStage}`, toStage, keyBy: keyBy.selector, keyById: keyBy.id, lane: `${d.id}.${n}` };
      });
    };
    const flow = flowFrom(graph, d.flowRoot, leaf);
    const sideFlows: Record<string, Flow> = {};
    for (const side of graph.consumersOf(d.flowRoot).filter((c) => c.kind === 'sideOutput')) {
      const tag = (side as Extract<Node, { kind: 'sideOutput' }>).tag;
      if (sideFlows[tag]) throw new PlanError(operatorLabel(side), `the side output '${tag}' is read twice`, 'read it once and use the stream value twice');
      sideFlows[tag] = flowFrom(graph, side, leaf);
    }
    flows.set(d.id, { flow, sideFlows });
  }

  const stages: Stage[] = drafts.map((d) => {
    let input = d.input;
    if (!input) {
      const routes = laneRoutes.get(d.id) ?? [];
      const keyBy = routes[0]!.keyBy;
      const lanes: Lane[] = routes.map((r) => ({ fromStage: r.fromStage, name: routes.length === 1 ? '' : `${r.fromStage}.${r.route}`, input: r.input }));
      input = { kind: 'shuffle', stream: `${job.name}-${d.id}`, shards: keyBy.global ? 1 : defaultShards, lanes, ...(keyBy.global && { global: true as const }) };
      if (d.root.parallelism !== undefined) input = withParallelism(d.root, input);
    }
    const { flow, sideFlows } = flows.get(d.id)!;
    const named = (f: Flow): Flow => ({
      ops: f.ops,
      next: f.next.map((n) => {
        if (isFlow(n)) return named(n);
        if (n.kind === 'sink') return { ...n, idPrefix: (sinkRoutes.get(sinkNodeOf(graph, n.sink)) ?? 0) > 1 ? n.idPrefix : '' };
        // A stream with one lane keeps its senders' bare shard ids (the wire format of a one-input stage).
        return { ...n, lane: (laneRoutes.get(n.toStage)?.length ?? 0) > 1 ? n.lane : '' };
      }),
    });
    const uid = d.keyed ? graph.nodes.find((n) => n.id === d.keyed!.id)?.uid : undefined;
    const shape: StageShape = {
      keepsState: d.keyed !== undefined,
      shuffles: [flow, ...Object.values(sideFlows)].some((f) => flowOutputs(f).some((o) => o.kind === 'shuffle')),
      readsSource: input.kind === 'source',
      input: input.kind === 'source' ? (attachesToExisting(input.source) ? 'existing' : 'created') : input.global ? 'windowAll' : 'created',
    };
    const { streamMode, ...settings } = stageSettings(settingsNodeOf(d.root, d.flowRoot), shape);
    // The job's mode is for the streams it sizes: not one it only reads, nor a windowAll's one shard.
    const mode = streamMode ?? (shape.input === 'created' ? jobMode : 'provisioned');
    if (mode === 'on-demand') input = onDemand(d.root, input, streamMode === undefined ? "the job's streamMode" : "the stage's .settings({ streamMode })");
    return {
      id: d.id,
      stateId: uid ?? d.id,
      input,
      pre: d.pre,
      keyBy: d.keyBy?.selector,
      keyed: d.keyed,
      flow: named(flow),
      sideFlows: Object.fromEntries(Object.entries(sideFlows).map(([tag, f]) => [tag, named(f)])),
      eventTime: d.eventTime,
      ...settings,
    };
  });

  const named = new Map<string, Stage>();
  for (const stage of stages) {
    const other = named.get(stage.stateId);
    if (other) throw new PlanError(operatorLabel(graph.nodes.find((n) => n.id === stage.keyed?.id)!), `two keyed operators have the uid '${stage.stateId}' (the other is ${other.keyed?.id})`, 'give each keyed operator its own uid');
    named.set(stage.stateId, stage);
  }
  const plan = resources(job.name, stages, jobEventTime, jobMode);
  checkNames(plan, job, sources);
  return plan;
}

/** The job's nodes with inputs resolved (absent: the node before) and consumers indexed; unknown ids refused. */
function resolveGraph(job: JobDefinition): Graph {
  const byId = new Map(job.nodes.map((n) => [n.id, n]));
  const inputs = new Map<Node, Node[]>();
  const consumers = new Map<Node, Node[]>(job.nodes.map((n) => [n, []]));
  job.nodes.forEach((n, i) => {
    const ids = n.inputs ?? (n.kind === 'source' || i === 0 ? [] : [job.nodes[i - 1]!.id]);
    const list = ids.map((id) => {
      const input = byId.get(id);
      if (!input) throw new PlanError(operatorLabel(n), `it reads '${id}', which is not an operator of the job`, 'build streams with the job builder');
      return input;
    });
    inputs.set(n, list);
    for (const input of list) consumers.get(input)!.push(n);
  });
  // What reaches no sink is left out, as Flink leaves out transformations no sink reads.
  const live = new Set<Node>();
  const reach = (n: Node): void => {
    if (live.has(n)) return;
    live.add(n);
    for (const input of inputs.get(n) ?? []) reach(input);
  };
  for (const n of job.nodes) if (n.kind === 'sink') reach(n);
  const nodes = job.nodes.filter((n) => live.has(n));
  return { nodes, inputsOf: (n) => inputs.get(n) ?? [], consumersOf: (n) => (consumers.get(n) ?? []).filter((c) => live.has(c)) };
}

/** The graph's shape around one node: what it may read and what may read it. */
function checkNode(graph: Graph, node: Node): void {
  const inputs = graph.inputsOf(node);
  const consumers = graph.consumersOf(node);
  const where = (): string => operatorLabel(node);
  if (node.uid !== undefined && (!isKeyedKind(node) || !UID.test(node.uid) || /^s\d+$/.test(node.uid))) {
    const problem = isKeyedKind(node) ? `uid '${node.uid}' is not usable` : `.uid('${node.uid}') follows ${node.kind}`;
    throw new PlanError(operatorLabel(node), problem, "set it after a keyed operator, as letters, digits, '.', '_' or '-', starting with a letter and not s<N> (the stages' own names): .window(...).sum('x').uid('clicks-per-user')");
  }
  if (node.parallelism !== undefined && !isKeyedKind(node)) {
    throw new PlanError(where(), `.parallelism(${node.parallelism}) follows ${node.kind}`, "set it after a keyed operator: .window(...).sum('x').parallelism(4) or .process(...).parallelism(4); a source's parallelism is its shards");
  }
  for (const input of inputs) {
    if (input.kind === 'sink') throw new PlanError(operatorLabel(input), 'a sink must be the last operator', 'move .sink(...) to the end of the job');
  }
  switch (node.kind) {
    case 'source':
      if (inputs.length > 0) throw new PlanError(where(), 'a source reads no other stream', 'call job.source(...) for each source stream');
      break;
    case 'keyBy': {
      const what = node.global ? 'windowAll' : 'keyBy';
      if (typeof node.selector !== 'function' && typeof node.selector !== 'string') {
        throw new PlanError(where(), 'keyBy needs a function or a field name', 'write .keyBy(e => e.userId) or .keyBy("userId")');
      }
      const bad = consumers.find((c) => !isKeyedKind(c));
      if (bad || consumers.length === 0) {
        throw new PlanError(where(), `${what} is followed by ${bad?.kind ?? 'nothing'}`, `follow ${what} with ${node.global ? 'a window function, e.g. .count()' : '.window(...) or .process(...)'}`);
      }
      break;
    }
    case 'window':
    case 'process':
      if (inputs.length !== 1 || inputs[0]!.kind !== 'keyBy') {
        throw new PlanError(where(), `${node.kind} needs a keyed stream`, `call .keyBy(...) before .${node.kind === 'window' ? 'window' : 'process'}(...)`);
      }
      break;
    case 'coProcess':
    case 'intervalJoin':
    case 'windowJoin':
      if (inputs.length !== 2 || inputs.some((i) => i.kind !== 'keyBy' || i.global)) {
        throw new PlanError(where(), `${node.kind} needs two keyed streams`, 'write a.connect(b).keyBy(ka, kb).process(...), a.keyBy(k).intervalJoin(b.keyBy(k)) or a.join(b).where(ka).equalTo(kb)');
      }
      break;
    case 'union':
      if (inputs.length < 2) throw new PlanError(where(), 'a union needs at least two streams', 'write a.union(b)');
      break;
    case 'sideOutput':
      if (inputs.length !== 1 || !['process', 'coProcess', 'intervalJoin'].includes(inputs[0]!.kind)) {
        throw new PlanError(where(), 'sideOutput follows no process function or interval join', 'call .sideOutput(tag) on what .process(...) returns');
      }
      break;
    case 'map':
    case 'filter':
    case 'flatMap':
      if (typeof node.fn !== 'function') throw new PlanError(where(), `${node.kind} needs a function`, `pass a function to .${node.kind}(...)`);
      break;
    case 'sink':
      checkSink(where, node.sink);
      break;
    case 'mapAsync':
      break;
  }
}

/**
 * The keyBy a source stage keys in itself: the source is declared partitioned by that very key, only
 * filters come between, and nothing else reads the source's records. Processing-time windows need the
 * watermark function's ticks to fire without events, and ticks go on shuffle streams only (a source
 * stream is the producers'): such a window always gets a shuffle.
 */
function partitionedKeyBy(graph: Graph, source: Extract<Node, { kind: 'source' }>): KeyByNode[] {
  const declared = source.source?.options?.partitionedBy;
  if (declared === undefined) return [];
  for (let node: Node = source; ; ) {
    const consumers = graph.consumersOf(node);
    if (consumers.length !== 1) return [];
    const next = consumers[0]!;
    if (next.kind === 'filter') {
      node = next;
      continue;
    }
    if (next.kind !== 'keyBy' || next.selector !== declared) return [];
    const op = graph.consumersOf(next)[0];
    if (op?.kind !== 'window' && op?.kind !== 'process') return [];
    if (op.kind === 'window' && isProcessingTime(op.assigner)) return [];
    return [next];
  }
}

/** The stateless operators from a node (excluded) to a later one (excluded), on a line. */
function chainBetween(graph: Graph, from: Node, to: Node): StatelessOperator[] {
  const ops: StatelessOperator[] = [];
  for (let node = graph.consumersOf(from)[0]; node && node !== to; node = graph.consumersOf(node)[0]) ops.push(statelessOperator(node));
  return ops;
}

/**
 * What follows `from` within its stage: stateless operators, branching where a stream goes several ways,
 * through unions, up to keyBys (shuffles to other stages) and sinks, made by `leaf`.
 */
function flowFrom(graph: Graph, from: Node, leaf: (to: Node) => StageOutput[]): Flow {
  const ops: StatelessOperator[] = [];
  let node = from;
  for (;;) {
    const consumers = mainConsumers(graph, node);
    if (consumers.length === 1 && STATELESS_KINDS.has(consumers[0]!.kind)) {
      node = consumers[0]!;
      const op = statelessOperator(node);
      if (op.kind === 'flatMap') checkNoFanOutAfterAsync(node as Extract<Node, { kind: 'flatMap' }>, ops);
      ops.push(op);
      continue;
    }
    const next = consumers.flatMap((c): (Flow | StageOutput)[] => {
      if (STATELESS_KINDS.has(c.kind)) {
        const op = statelessOperator(c);
        const rest = flowFrom(graph, c, leaf);
        if (op.kind === 'flatMap') checkNoFanOutAfterAsync(c as Extract<Node, { kind: 'flatMap' }>, ops);
        return [{ ops: [op, ...rest.ops], next: rest.next }];
      }
      return leaf(c);
    });
    return { ops, next };
  }
}

/** What reads a node's records, through unions; a process function's side outputs are apart (see Stage.sideFlows). */
function mainConsumers(graph: Graph, node: Node): Node[] {
  return graph.consumersOf(node).flatMap((c) => (c.kind === 'union' ? mainConsumers(graph, c) : c.kind === 'sideOutput' ? [] : [c]));
}

function statelessOperator(node: Node): StatelessOperator {
  switch (node.kind) {
    case 'map':
    case 'filter':
    case 'flatMap':
      return node;
    case 'mapAsync':
      return checkMapAsync(node);
    default:
      throw new Error(`${node.id} is not a stateless operator`);
  }
}

/** The sink node whose spec this is (sinks are compared by identity). */
function sinkNodeOf(graph: Graph, sink: SinkSpec): string {
  return graph.nodes.find((n) => n.kind === 'sink' && n.sink === sink)!.id;
}

/** A keyed node as the operator its stage runs: windows, process functions, and the two-input ones. */
function keyedOperatorOf(graph: Graph, node: Node): KeyedOperator {
  switch (node.kind) {
    case 'window':
      return checkWindow(node);
    case 'process':
      return checkProcess(node, { state: node.fn?.state ?? {}, onEvent: [node.fn?.onEvent], onTimer: node.fn?.onTimer }, 'process');
    case 'coProcess': {
      const fn = node.fn;
      if (typeof fn?.onEvent1 !== 'function' || typeof fn?.onEvent2 !== 'function') {
        throw new PlanError(operatorLabel(node), 'the co-process function needs onEvent1 and onEvent2', 'give { state, onEvent1(a, ctx), onEvent2(b, ctx), onTimer? }');
      }
      return checkProcess(node, { state: fn.state ?? {}, onEvent: [fn.onEvent1, fn.onEvent2], onTimer: fn.onTimer }, 'coProcess');
    }
    case 'intervalJoin': {
      const where = (): string => operatorLabel(node);
      // An exclusive bound is the inclusive one a millisecond inside, as Flink makes it.
      const lower = checkSignedDuration(where, 'lower bound', node.lower) + (node.lowerExclusive ? 1 : 0);
      const upper = checkSignedDuration(where, 'upper bound', node.upper) - (node.upperExclusive ? 1 : 0);
      if (lower > upper) throw new PlanError(where(), `the lower bound ${lower} ms is above the upper bound ${upper} ms`, "write .between('-5m', '0s'): lower first");
      if (typeof node.fn !== 'function') throw new PlanError(where(), 'the interval join needs a function', 'write .process((left, right, ctx) => ({ ... }))');
      return checkProcess(node, intervalJoinFunction(lower, upper, node.fn, { left: node.lateLeft, right: node.lateRight }), 'intervalJoin');
    }
    case 'windowJoin': {
      const where = (): string => operatorLabel(node);
      checkAssigner(where, node.assigner);
      if (node.assigner.kind !== 'tumbling' && node.assigner.kind !== 'sliding') throw new PlanError(where(), `a window join over ${node.assigner.kind} windows is not supported`, 'use tumbling or sliding windows');
      if (isProcessingTime(node.assigner)) throw new PlanError(where(), 'a window join runs on event time', 'drop { time: "processing" }');
      if (typeof node.fn?.fn !== 'function') throw new PlanError(where(), 'the window join needs a function', 'write .apply((left, right) => ({ ... }))');
      return checkProcess(node, windowJoinFunction(node.assigner, node.fn), 'windowJoin');
    }
    default:
      throw new Error(`${node.id} is not a keyed operator`);
  }
}

/** The event-time settings of sources: the tightest idleness of them, and the first one's out-of-orderness. */
function eventTimeOf(sources: readonly Extract<Node, { kind: 'source' }>[]): EventTimeSettings {
  const first = sources[0]!.source.options;
  const idle = sources.map((s) => (s.source.options.idleAfter === undefined ? DEFAULT_IDLE_AFTER_MS : toMs(s.source.options.idleAfter)));
  return { outOfOrdernessMs: toMs(first.outOfOrderness ?? 0), idleAfterMs: Math.min(...idle) };
}

function resources(jobName: string, stages: Stage[], eventTime: EventTimeSettings, jobMode: StreamMode): Plan {
  const sinks = [...new Map(stages.flatMap(stageSinks).map((s) => [s.name, s])).values()];
  const streams: StreamResource[] = stages.map((s) => ({
    name: s.input.stream,
    shards: s.input.shards,
    role: s.input.kind === 'source' ? 'source' : 'shuffle',
    ...(s.input.onDemand && { onDemand: true as const }),
    ...(s.input.kind === 'source' && attachesToExisting(s.input.source) && { existing: STREAM_ARN.test(s.input.source.stream) ? { arn: s.input.source.stream } : {} }),
  }));
  for (const sink of sinks) {
    if (sink.kind !== 'kinesis') continue;
    streams.push(jobMode === 'on-demand' ? { name: sink.stream, shards: ON_DEMAND_INITIAL_SHARDS, role: 'sink', onDemand: true } : { name: sink.stream, shards: 1, role: 'sink' });
  }
  const stateTable = `${jobName}-state`;
  const deadLetterTable = `${jobName}-dead-letters`;
  const tables: TableResource[] = [
    { name: stateTable, role: 'state' },
    { name: deadLetterTable, role: 'dead-letter' },
    ...sinks.flatMap((s): TableResource[] => (s.kind === 'dynamodb' ? [{ name: s.table, role: 'sink' }] : [])),
  ];
  return { job: jobName, stages, streams, tables, sinks, stateTable, deadLetterTable, eventTime };
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

/** The operator whose `.settings(...)` apply to a stage: its start, or the keyed operator in a source stage keyed in itself. */
function settingsNodeOf(root: OperatorNode, keyed: OperatorNode): OperatorNode | undefined {
  if (root !== keyed && root.settings !== undefined && keyed.settings !== undefined) {
    throw new PlanError(operatorLabel(keyed), 'the stage has .settings(...) twice: after the source and after this operator (the source is partitionedBy its key: one stage)', 'keep one of them');
  }
  return root.settings !== undefined ? root : keyed.settings !== undefined ? keyed : undefined;
}

/** The job's `job(name, { streamMode })`: every stream it creates, unless a stage says otherwise. */
function jobStreamMode(job: JobDefinition): StreamMode {
  const where = (): string => `job '${job.name}'`;
  const options: unknown = job.options;
  if (options === undefined) return 'provisioned';
  if (typeof options !== 'object' || options === null) throw new PlanError(where(), 'the job options are not an object', "write job('name', { streamMode: 'on-demand' })");
  const unknown = Object.keys(options).find((k) => k !== 'streamMode');
  if (unknown !== undefined) throw new PlanError(where(), `'${unknown}' is not a job option`, "use streamMode; a stage's own settings go in .settings({...}) after the source or its keyed operator");
  const mode = (options as { streamMode?: unknown }).streamMode;
  return mode === undefined ? 'provisioned' : checkStreamMode(where, mode);
}

/** A source's stream mode as written (unchecked: the stage's settings are checked with the stage), for the keyed stages' default shards. */
function declaredSourceMode(graph: Graph, source: Extract<Node, { kind: 'source' }>, jobMode: StreamMode): unknown {
  const keyed = partitionedKeyBy(graph, source).flatMap((k) => graph.consumersOf(k));
  const given = [source, ...keyed].map((n) => n.settings?.streamMode).find((m) => m !== undefined);
  return given ?? (attachesToExisting(source.source) ? 'provisioned' : jobMode);
}

/**
 * A stage's input stream in on-demand mode: it starts at {@link ON_DEMAND_INITIAL_SHARDS} and Kinesis sets
 * its shards from then on, so a shard count the job declares for it would never hold: refused, naming it.
 */
function onDemand(root: OperatorNode, input: StageInput, why: string): StageInput {
  const fix = (where: string): string => `an on-demand stream starts at ${ON_DEMAND_INITIAL_SHARDS} shards and Kinesis scales it by itself — or keep the count and make the stream provisioned: .settings({ streamMode: 'provisioned' }) after ${where}`;
  if (input.kind === 'source' && input.source.options.shards !== undefined) {
    throw new PlanError(operatorLabel(root), `shards is ${input.source.options.shards}, but the stream '${input.stream}' is on-demand (${why})`, `drop shards: ${fix('.source(...)')}`);
  }
  if (root.parallelism !== undefined) {
    const label = root.parallelismAt ? writtenAt(root.parallelismAt, 'parallelism') : `${root.id} .parallelism(${root.parallelism})`;
    throw new PlanError(label, `parallelism is ${root.parallelism}, but the stage's stream '${input.stream}' is on-demand (${why})`, `drop .parallelism(${root.parallelism}): ${fix('the keyed operator')}`);
  }
  return { ...input, shards: ON_DEMAND_INITIAL_SHARDS, onDemand: true };
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
    case 'cumulative':
      positive('size', a.sizeMs);
      positive('step', a.stepMs);
      if (a.sizeMs % a.stepMs !== 0) throw new PlanError(where(), `cumulative size ${a.sizeMs}ms is not a multiple of step ${a.stepMs}ms`, 'pick a step that divides the size: cumulative(size, step) takes the size first');
      return;
    case 'session':
      return positive('gap', a.gapMs);
    case 'count':
      if (!Number.isInteger(a.size) || a.size < 1) throw new PlanError(where(), `count window size ${a.size} is not a positive whole number`, 'write countWindow(100)');
      if (!Number.isInteger(a.slide) || a.slide < 1 || a.slide > a.size) throw new PlanError(where(), `count window slide ${a.slide} is not between 1 and the size ${a.size}`, 'write countWindow(100, 10)');
      return;
    default:
      throw new PlanError(where(), 'unknown window assigner', 'use tumbling, sliding, cumulative, session or countWindow');
  }
}

function checkProcess(node: OperatorNode, fn: ProcessFunctionSpec, written: Extract<KeyedOperator, { kind: 'process' }>['written']): KeyedOperator {
  const where = (): string => operatorLabel(node);
  if (fn.onEvent.some((h) => typeof h !== 'function')) throw new PlanError(where(), 'the process function has no onEvent', 'give { state, onEvent(event, ctx), onTimer? }');
  const ttlMs: Record<string, number> = {};
  for (const [name, descriptor] of Object.entries(fn.state)) {
    if (!['value', 'list', 'map'].includes(descriptor?.kind)) throw new PlanError(where(), `state '${name}' is not a state descriptor`, 'use valueState(initial), listState() or mapState()');
    if (descriptor.ttl !== undefined) ttlMs[name] = checkDuration(where, `state '${name}' ttl`, descriptor.ttl);
  }
  return { kind: 'process', id: node.id, fn, ttlMs, written };
}

/** A duration that may be negative ('-5m'): an interval join's bounds. */
function checkSignedDuration(where: () => string, field: string, value: Duration): number {
  const negative = typeof value === 'number' ? value < 0 : typeof value === 'string' && value.trim().startsWith('-');
  const magnitude = (typeof value === 'number' ? Math.abs(value) : typeof value === 'string' ? value.trim().replace(/^-/, '') : value) as Duration;
  const ms = checkDuration(where, field, magnitude);
  return negative ? -ms : ms;
}

/** What DynamoDB accepts as a table name. */
const DYNAMODB_TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

/** Lambda's own limit: a call may not outlast the function (15 minutes). */
const MAX_ASYNC_TIMEOUT_MS = 900_000;

function checkMapAsync(node: Extract<OperatorNode, { kind: 'mapAsync' }>): AsyncOperator {
  const where = (): string => operatorLabel(node);
  if (typeof node.fn !== 'function') throw new PlanError(where(), 'mapAsync needs a function', 'pass an async function to .mapAsync(async (record, { signal }) => ...)');
  const { concurrency = 10, timeoutMs = 5000, retries = 0, backoffMs = 100, readsTables = [] } = node.options ?? {};
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new PlanError(where(), `mapAsync concurrency ${String(concurrency)} is not a whole number of at least 1`, 'write { concurrency: 10 }');
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new PlanError(where(), `mapAsync timeoutMs ${String(timeoutMs)} is not a time above 0 ms`, 'write { timeoutMs: 5000 }');
  if (timeoutMs > MAX_ASYNC_TIMEOUT_MS) throw new PlanError(where(), `mapAsync timeoutMs ${timeoutMs} outlasts a Lambda function (${MAX_ASYNC_TIMEOUT_MS} ms)`, 'give calls a shorter timeout');
  if (!Number.isInteger(retries) || retries < 0) throw new PlanError(where(), `mapAsync retries ${String(retries)} is not a whole number of at least 0`, 'write { retries: 2 }');
  if (typeof backoffMs !== 'number' || !(backoffMs >= 0) || !Number.isFinite(backoffMs)) throw new PlanError(where(), `mapAsync backoffMs ${String(backoffMs)} is not a time of at least 0 ms`, 'write { backoffMs: 100 }');
  if (!Array.isArray(readsTables) || readsTables.some((t) => typeof t !== 'string' || !DYNAMODB_TABLE_NAME.test(t))) {
    throw new PlanError(where(), `mapAsync readsTables ${JSON.stringify(readsTables)} is not a list of DynamoDB table names`, "write { readsTables: ['my-table'] } (3–255 letters, digits, '_', '-', '.')");
  }
  return { kind: 'mapAsync', id: node.id, fn: node.fn, concurrency, timeoutMs, retries, backoffMs, readsTables };
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
function checkNames(plan: Plan, job: JobDefinition, sources: readonly Extract<OperatorNode, { kind: 'source' }>[]): void {
  const sourceStreams = new Set(sources.map((s) => streamNameOf(s.source.stream)));
  const owner = new Map<string, OperatorNode>();
  const sinkNodes = job.nodes.flatMap((n): [OperatorNode, SinkSpec][] => [
    ...(n.kind === 'sink' ? [[n, n.sink] as [OperatorNode, SinkSpec]] : []),
    ...(n.kind === 'window' && n.lateSink ? [[n, n.lateSink] as [OperatorNode, SinkSpec]] : []),
  ]);
  for (const [node, sink] of sinkNodes) {
    const seen = owner.get(sink.name);
    if (seen) throw new PlanError(operatorLabel(node), `two sinks are named '${sink.name}' (the other is ${operatorLabel(seen)})`, 'give each sink its own table or stream');
    owner.set(sink.name, node);
    if (sink.kind === 'kinesis' && sourceStreams.has(sink.stream)) throw new PlanError(operatorLabel(node), `the sink writes to the source stream '${sink.stream}'`, 'write results to another stream');
    if (sink.kind === 'dynamodb' && (sink.table === plan.stateTable || sink.table === plan.deadLetterTable)) {
      throw new PlanError(operatorLabel(node), `the table '${sink.table}' is the job's own`, 'give the sink another table name');
    }
  }
}
