import type { SinkSpec } from '../../api/sink';
import { shuffleStreamsOf, stageOutputs, type KeyedOperator, type Plan, type Stage } from '../../plan/plan';
import { formatMs } from '../../time/duration';
import type { WindowAssignerSpec } from '../../time/window';

/** A box in the job graph: a stream, a stage function, a table, the watermark function. */
export interface GraphNode {
  /** `stage:s0`, `stream:clicks`, `table:click-counts`, `sink:log`, `function:watermark`. */
  readonly id: string;
  readonly kind: 'stream' | 'stage' | 'table' | 'sink' | 'function';
  /** What the box is, in one word: `source stream`, `stage`, `state table`, … */
  readonly role: string;
  readonly label: string;
  /** Operators, shards: a line or two under the label. */
  readonly detail: readonly string[];
  /** The stage id, for stage boxes (live figures are keyed by it). */
  readonly stage?: string;
  /** For stage boxes: the stage keeps keyed state (windows fire, records can be late). */
  readonly keyed?: boolean;
  /** Grid position: columns follow the data from left to right; rows stack what shares a column. */
  readonly column: number;
  readonly row: number;
}

/** An arrow: records (`data`), state reads and writes, late records, dead letters. */
export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: 'data' | 'state' | 'late' | 'dead-letter';
  readonly label?: string;
}

/** The job as the dashboard draws it (like Flink's job graph, with the AWS resources in between). */
export interface JobGraph {
  readonly job: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

const assignerLabel = (a: WindowAssignerSpec): string => {
  switch (a.kind) {
    case 'tumbling':
      return `tumbling ${formatMs(a.sizeMs)}`;
    case 'sliding':
      return `sliding ${formatMs(a.sizeMs)} every ${formatMs(a.slideMs)}`;
    case 'cumulative':
      return `cumulative ${formatMs(a.sizeMs)} by ${formatMs(a.stepMs)}`;
    case 'session':
      return `session gap ${formatMs(a.gapMs)}`;
    case 'count':
      return `count window ${a.size}${a.slide !== a.size ? ` every ${a.slide}` : ''}`;
  }
};

const keyedLabel = (k: KeyedOperator): string =>
  k.kind === 'window'
    ? `${assignerLabel(k.assigner)} · ${k.fn.kind}${'field' in k.fn ? `(${k.fn.field})` : ''}${k.allowedLatenessMs ? ` · lateness ${formatMs(k.allowedLatenessMs)}` : ''}`
    : `${k.written} (${Object.keys(k.fn.state ?? {}).join(', ') || 'no state'})`;

function stageDetail(stage: Stage): string[] {
  const ops = [...stage.pre.map((o) => o.kind), ...(stage.keyBy ? ['keyBy'] : [])];
  const lines = [];
  if (stage.keyed) lines.push(keyedLabel(stage.keyed));
  if (ops.length > 0 || stage.flow.ops.length > 0) lines.push([...ops, ...(stage.keyed ? ['…'] : []), ...stage.flow.ops.map((o) => o.kind)].join(' → '));
  if (stage.flow.next.length > 1) lines.push(`${stage.flow.next.length} branches`);
  if (shuffleStreamsOf(stage).length > 0) lines.push('keyBy → shuffle');
  for (const tag of Object.keys(stage.sideFlows)) lines.push(`side output ${tag}`);
  if (lines.length === 0) lines.push('pass-through');
  return lines;
}

/** The job graph of a plan, laid out on a grid. */
export function jobGraph(plan: Plan): JobGraph {
  const nodes = new Map<string, Omit<GraphNode, 'column' | 'row'>>();
  const edges: GraphEdge[] = [];
  const shards = new Map(plan.streams.map((s) => [s.name, s.shards]));
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const stream = (name: string, role: string): string => {
    const id = `stream:${name}`;
    if (!nodes.has(id)) nodes.set(id, { id, kind: 'stream', role, label: name, detail: [`Kinesis · ${plural(shards.get(name) ?? 1, 'shard')}`] });
    return id;
  };
  const table = (name: string, role: string, detail: string): string => {
    const id = `table:${name}`;
    if (!nodes.has(id)) nodes.set(id, { id, kind: 'table', role, label: name, detail: [detail] });
    return id;
  };
  const sink = (s: SinkSpec, role: string): string =>
    s.kind === 'dynamodb'
      ? table(s.table, role, 'DynamoDB')
      : s.kind === 'kinesis'
        ? stream(s.stream, role)
        : (nodes.set(`sink:${s.name}`, { id: `sink:${s.name}`, kind: 'sink', role, label: s.name, detail: ['log'] }), `sink:${s.name}`);

  // The data path first, so it gets the first rows.
  for (const stage of plan.stages) {
    const input = stream(stage.input.stream, stage.input.kind === 'source' ? 'source stream' : 'shuffle stream');
    const id = `stage:${stage.id}`;
    nodes.set(id, { id, kind: 'stage', role: 'stage function', label: stage.id, detail: stageDetail(stage), stage: stage.id, keyed: stage.keyed !== undefined });
    edges.push({ from: input, to: id, kind: 'data' });
    const seen = new Set<string>();
    for (const out of stageOutputs(stage)) {
      const edge: GraphEdge = out.kind === 'shuffle' ? { from: id, to: stream(out.stream, 'shuffle stream'), kind: 'data', label: 'envelopes' } : { from: id, to: sink(out.sink, 'results'), kind: 'data', label: 'results' };
      if (seen.has(edge.to)) continue;
      seen.add(edge.to);
      edges.push(edge);
    }
  }
  for (const stage of plan.stages) {
    if (stage.keyed?.kind === 'window' && stage.keyed.lateSink) edges.push({ from: `stage:${stage.id}`, to: sink(stage.keyed.lateSink, 'late output'), kind: 'late', label: 'late' });
  }
  const keyed = plan.stages.filter((s) => s.keyed);
  if (keyed.length > 0) {
    const state = table(plan.stateTable, 'state table', 'keyed state · windows');
    for (const stage of keyed) edges.push({ from: `stage:${stage.id}`, to: state, kind: 'state', label: 'state' });
    nodes.set('function:watermark', { id: 'function:watermark', kind: 'function', role: 'scheduled function', label: 'watermark', detail: ['fires due windows'] });
    edges.push({ from: 'function:watermark', to: state, kind: 'state', label: 'fires' });
  }
  const dlq = table(plan.deadLetterTable, 'dead letters', 'DynamoDB');
  for (const stage of plan.stages) edges.push({ from: `stage:${stage.id}`, to: dlq, kind: 'dead-letter' });

  return { job: plan.job, nodes: layout(nodes, edges), edges };
}

/**
 * Columns by the longest data path from a source (streams and stages alternate left to right); the
 * state table sits under the first keyed stage, the watermark function beside it, late outputs and dead
 * letters under the results.
 */
function layout(nodes: ReadonlyMap<string, Omit<GraphNode, 'column' | 'row'>>, edges: readonly GraphEdge[]): GraphNode[] {
  const column = new Map<string, number>();
  const data = edges.filter((e) => e.kind === 'data');
  for (const id of nodes.keys()) if (!data.some((e) => e.to === id) && data.some((e) => e.from === id)) column.set(id, 0);
  for (let changed = true, rounds = 0; changed && rounds < nodes.size; rounds++) {
    changed = false;
    for (const e of data) {
      const c = (column.get(e.from) ?? 0) + 1;
      if (column.has(e.from) && (column.get(e.to) ?? -1) < c) {
        column.set(e.to, c);
        changed = true;
      }
    }
  }
  const last = Math.max(0, ...column.values());
  const stateTable = [...nodes.values()].find((n) => n.role === 'state table');
  const firstKeyed = edges.find((e) => e.kind === 'state' && e.from.startsWith('stage:'))?.from;
  if (stateTable && firstKeyed) {
    column.set(stateTable.id, column.get(firstKeyed) ?? 1);
    column.set('function:watermark', Math.max(0, (column.get(firstKeyed) ?? 1) - 1));
  }
  for (const n of nodes.values()) if (!column.has(n.id)) column.set(n.id, last);

  const rows = new Map<number, number>();
  const placed: GraphNode[] = [];
  const place = (n: Omit<GraphNode, 'column' | 'row'>, rowAtLeast = 0): void => {
    const c = column.get(n.id)!;
    const row = Math.max(rows.get(c) ?? 0, rowAtLeast);
    rows.set(c, row + 1);
    placed.push({ ...n, column: c, row });
  };
  const side = (n: Omit<GraphNode, 'column' | 'row'>): boolean => n.kind === 'function' || n.role === 'state table' || n.role === 'late output' || n.role === 'dead letters';
  for (const n of nodes.values()) if (!side(n)) place(n);
  // Side nodes start on the row under the data path, so the main line stays straight.
  for (const n of nodes.values()) if (side(n)) place(n, 1);
  return placed;
}
