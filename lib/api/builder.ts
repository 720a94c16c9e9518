import type { Duration } from '../time/duration';
import type { WindowAssignerSpec } from '../time/window';
import type {
  AggregateFunction,
  AsyncCallContext,
  CoGroupFunction,
  JoinFunction,
  KeyedCoProcessFunction,
  KeyedProcessFunction,
  OutputTag,
  MapAsyncOptions,
  NumericField,
  WindowContext,
  WindowFunctionSpec,
  WindowMeta,
} from './functions';
import { callSite, type CallSite } from './call-site';
import type { JobDefinition, OperatorNode } from './graph';
import type { JobOptions, StageSettings } from './settings';
import type { SinkSpec } from './sink';
import type { KeySelector, SourceSpec } from './source';
import type { StateDescriptor } from './state';

/** The key of every record in a `windowAll`: window results carry it as their `key`. */
export const GLOBAL_KEY = 'all';

/**
 * A job's operators as the user adds them: one list per job, each node naming the nodes it reads. A stream
 * value is a node of it, so a stream used twice goes two ways (Flink's fan-out), and every sink added to
 * any of the job's streams belongs to the job.
 */
class JobGraph {
  readonly nodes: OperatorNode[] = [];
  constructor(
    readonly name: string,
    readonly options: JobOptions | undefined,
  ) {}

  /**
   * Adds a node reading `inputs`. Operator ids are the kind and position (`window#3`): stable while the
   * job's shape is stable. `at` is where the user wrote the operator, for errors.
   */
  add(make: (id: string) => OperatorNode, inputs: readonly string[], at: CallSite | undefined = callSite()): string {
    const kind = make('').kind;
    const id = `${kind}#${this.nodes.length}`;
    const previous = this.nodes[this.nodes.length - 1]?.id;
    // A node reading the node just before it says nothing: the linear jobs' nodes stay as they were.
    const linear = inputs.length === 1 && inputs[0] === previous;
    this.nodes.push({ ...make(id), ...(!linear && { inputs }), ...(at && { at }) });
    return id;
  }

  /** Changes a node already added (its parallelism, uid or settings). */
  update(id: string, change: Partial<Pick<OperatorNode, 'parallelism' | 'parallelismAt' | 'uid' | 'settings' | 'settingsAt'>>): void {
    const i = this.nodes.findIndex((n) => n.id === id);
    this.nodes[i] = { ...this.nodes[i]!, ...change } as OperatorNode;
  }

  definition(): JobDefinition {
    return { kind: 'shardflow-job', name: this.name, nodes: this.nodes, ...(this.options !== undefined && { options: this.options }) };
  }
}

/** A position in a job's graph: the job and the node whose output a stream is. */
class Chain {
  constructor(
    readonly graph: JobGraph,
    readonly nodeId: string,
  ) {}
  append(make: (id: string) => OperatorNode, at: CallSite | undefined = callSite()): Chain {
    return new Chain(this.graph, this.graph.add(make, [this.nodeId], at));
  }
  /** A node reading several streams of this job. */
  join(others: readonly Chain[], make: (id: string) => OperatorNode, at: CallSite | undefined = callSite()): Chain {
    for (const o of others) {
      if (o.graph !== this.graph) throw new TypeError(`streams of job '${o.graph.name}' cannot meet streams of job '${this.graph.name}': build both from one job(...)`);
    }
    return new Chain(this.graph, this.graph.add(make, [this.nodeId, ...others.map((o) => o.nodeId)], at));
  }
  withParallelism(parallelism: number, at: CallSite | undefined = callSite()): Chain {
    this.graph.update(this.nodeId, { parallelism, ...(at && { parallelismAt: at }) });
    return this;
  }
  withUid(uid: string): Chain {
    this.graph.update(this.nodeId, { uid });
    return this;
  }
  /** The same operators with the last one's stage settings set. */
  withSettings(settings: StageSettings, at: CallSite | undefined = callSite()): Chain {
    this.graph.update(this.nodeId, { settings, ...(at && { settingsAt: at }) });
    return this;
  }
}

/**
 * Starts a job definition. A job may read several sources and write several sinks: export the job
 * itself, or (for a one-line job) what `.sink(…)` returns — it is the whole job too. `options` apply to the
 * whole job (its streams' mode: {@link JobOptions}).
 * @example
 * export default job('click-counts')
 *   .source(kinesisSource<Click>('clicks', { eventTime: c => c.ts, outOfOrderness: '2s' }))
 *   .keyBy(c => c.userId).window(tumbling('5s')).sum('clicks')
 *   .sink(dynamoSink('click-counts'));
 */
export function job(name: string, options?: JobOptions): JobBuilder {
  return new JobBuilder(name, options);
}

export class JobBuilder implements JobDefinition {
  readonly kind = 'shardflow-job' as const;
  // Set only when given: a user's `exactOptionalPropertyTypes` tells an absent option from an undefined one.
  readonly options?: JobOptions;
  private readonly graph: JobGraph;
  constructor(
    readonly name: string,
    options?: JobOptions,
  ) {
    this.graph = new JobGraph(name, options);
    if (options !== undefined) this.options = options;
  }
  get nodes(): readonly OperatorNode[] {
    return this.graph.nodes;
  }
  /** An input of the job: call it once per source stream. */
  source<T>(source: SourceSpec<T>): DataStream<T> {
    const id = this.graph.add((id) => ({ kind: 'source', id, source: source as SourceSpec }), []);
    return new DataStream<T>(new Chain(this.graph, id));
  }
}

/** A stream of records (Flink's DataStream). */
export class DataStream<T> {
  /** @internal */
  constructor(protected readonly chain: Chain) {}

  map<R>(fn: (record: T) => R): DataStream<R> {
    return new DataStream<R>(this.chain.append((id) => ({ kind: 'map', id, fn: fn as (r: unknown) => unknown })));
  }
  filter(fn: (record: T) => boolean): DataStream<T> {
    return new DataStream<T>(this.chain.append((id) => ({ kind: 'filter', id, fn: fn as (r: unknown) => boolean })));
  }
  flatMap<R>(fn: (record: T) => Iterable<R>): DataStream<R> {
    return new DataStream<R>(
      this.chain.append((id) => ({ kind: 'flatMap', id, fn: fn as (r: unknown) => Iterable<unknown> })),
    );
  }
  /**
   * Calls an external service per record (Flink's Async I/O, ordered): up to `concurrency` calls in flight
   * per batch, each with a timeout and retries; results keep the records' order. A record whose call still
   * fails goes to the dead letters with the reason, and the batch goes on. A retried batch calls again: the
   * service sees calls at least once, shardflow applies each record's result once.
   * @example .mapAsync(async (t, { signal }) => ({ ...t, score: await score(t, signal) }), { concurrency: 8, timeoutMs: 500, retries: 2 })
   */
  mapAsync<R>(fn: (record: T, call: AsyncCallContext) => Promise<R>, options: MapAsyncOptions = {}): DataStream<R> {
    return new DataStream<R>(
      this.chain.append((id) => ({ kind: 'mapAsync', id, fn: fn as (r: unknown, c: AsyncCallContext) => Promise<unknown>, options })),
    );
  }
  /** Partitions by key: records with the same key meet in the same state. Ends a stage (a shuffle). */
  keyBy(selector: KeySelector<T>): KeyedStream<T> {
    return new KeyedStream<T>(
      this.chain.append((id) => ({ kind: 'keyBy', id, selector: selector as KeySelector<unknown> })),
    );
  }
  /**
   * How many shards the keyed operator just before runs on (Flink's setParallelism): its input stream's
   * shard count, so as many stage functions run at once. Only after `.window(…).fn()` or `.process(…)`;
   * the default is the source's shard count. A shard's state must fit its function's memory: more
   * shards, less state each (docs/state-log.md).
   */
  parallelism(shards: number): DataStream<T> {
    return new DataStream<T>(this.chain.withParallelism(shards));
  }
  /**
   * Names the keyed operator just before for its state (Flink's uid): its shards' logs are kept under this
   * name, so the job can change around it — operators added before it, stages renumbered — and a new
   * version still finds its state. Without it, the state is the stage's (`s1`, `s2`…, by position).
   * `shardflow plan JOB --against LAYOUT` says what a change keeps (docs/operations.md#upgrade).
   */
  uid(name: string): DataStream<T> {
    return new DataStream<T>(this.chain.withUid(name));
  }
  /**
   * The stage's Lambda settings — memory, timeout, batch size and window, retries, record age, bisect,
   * parallelization factor, reserved concurrency — right after `.source(...)` (the source stage) or after a
   * keyed operator (its stage); checked against Lambda's limits at plan time (docs/configuration.md).
   * @example .window(tumbling('5s')).sum('clicks').settings({ memoryMb: 1024, batchSize: 1000 })
   */
  settings(settings: StageSettings): DataStream<T> {
    return new DataStream<T>(this.chain.withSettings(settings));
  }
  /**
   * Windows over the whole stream (Flink's windowAll): every record goes to one key, {@link GLOBAL_KEY}, on
   * a one-shard stream, so this stage runs with parallelism 1 — fine for a top-N over per-key results,
   * a bottleneck for raw events.
   * @example stream.windowAll(tumbling('10s')).count()
   */
  windowAll(assigner: WindowAssignerSpec): WindowedStream<T> {
    const at = callSite();
    const chain = this.chain.append((id) => ({ kind: 'keyBy', id, selector: () => GLOBAL_KEY, global: true }), at);
    return new WindowedStream<T>(chain, assigner, 0, undefined, at);
  }
  /** Ends the job: the definition to `export default`. */
  sink(sink: SinkSpec): JobDefinition {
    this.chain.append((id) => ({ kind: 'sink', id, sink }));
    return this.chain.graph.definition();
  }
  /**
   * This stream and others of the same type as one (Flink's union): the watermark is the lowest of the
   * inputs', an idle input holds none back.
   * @example clicksEu.union(clicksUs).keyBy(c => c.userId)…
   */
  union(...others: DataStream<T>[]): DataStream<T> {
    if (others.length === 0) throw new TypeError('union needs at least one other stream: a.union(b)');
    return new DataStream<T>(this.chain.join(others.map((o) => o.chain), (id) => ({ kind: 'union', id })));
  }
  /** Connects two streams for a co-process function with shared keyed state (Flink's connect). */
  connect<B>(other: DataStream<B>): ConnectedStreams<T, B> {
    return new ConnectedStreams<T, B>(this.chain, other.chain, callSite());
  }
  /**
   * A window join (Flink's join): pairs of records of this stream and `other` with equal keys in the same
   * window. `.where(left key).equalTo(right key).window(assigner).apply((left, right) => result)`.
   */
  join<B>(other: DataStream<B>): JoinBuilder<T, B, 'join'> {
    return new JoinBuilder<T, B, 'join'>(this.chain, other.chain, 'join', callSite());
  }
  /** Like `join`, but the function sees both sides of a window at once, matched or not (Flink's coGroup). */
  coGroup<B>(other: DataStream<B>): JoinBuilder<T, B, 'coGroup'> {
    return new JoinBuilder<T, B, 'coGroup'>(this.chain, other.chain, 'coGroup', callSite());
  }
  /** The records the process function just before sent to `ctx.output(tag, …)` (Flink's getSideOutput). */
  sideOutput<S extends object>(tag: OutputTag<S>): DataStream<S> {
    if (tag?.kind !== 'outputTag') throw new TypeError("sideOutput needs an outputTag: const late = outputTag<T>('late')");
    return new DataStream<S>(this.chain.append((id) => ({ kind: 'sideOutput', id, tag: tag.name })));
  }
}

/** How an interval join is written: its bounds, whether they are exclusive, and where late records go. */
type IntervalJoinSpec = Pick<Extract<OperatorNode, { kind: 'intervalJoin' }>, 'lower' | 'upper' | 'lowerExclusive' | 'upperExclusive' | 'lateLeft' | 'lateRight'>;

/** An interval join with its bounds, waiting for its function (Flink's IntervalJoined). */
export class IntervalJoin<A, B> {
  /** @internal */
  constructor(
    private readonly left: Chain,
    private readonly right: Chain,
    private readonly spec: IntervalJoinSpec,
    private readonly at: CallSite | undefined,
  ) {}
  /** The lower bound is exclusive: right.ts > left.ts + lower. */
  lowerBoundExclusive(): IntervalJoin<A, B> {
    return new IntervalJoin<A, B>(this.left, this.right, { ...this.spec, lowerExclusive: true }, this.at);
  }
  /** The upper bound is exclusive: right.ts < left.ts + upper. */
  upperBoundExclusive(): IntervalJoin<A, B> {
    return new IntervalJoin<A, B>(this.left, this.right, { ...this.spec, upperExclusive: true }, this.at);
  }
  /** Left records behind the watermark (late, so joined with nothing) go to this side output instead of nowhere. */
  sideOutputLeftLateData(tag: OutputTag<A & object>): IntervalJoin<A, B> {
    return new IntervalJoin<A, B>(this.left, this.right, { ...this.spec, lateLeft: tag.name }, this.at);
  }
  /** Right records behind the watermark go to this side output instead of nowhere. */
  sideOutputRightLateData(tag: OutputTag<B & object>): IntervalJoin<A, B> {
    return new IntervalJoin<A, B>(this.left, this.right, { ...this.spec, lateRight: tag.name }, this.at);
  }
  /** Makes the result of each joined pair; `context.timestamp` is the later of the two records' times. */
  process<O extends object>(fn: JoinFunction<A, B, O>): DataStream<O> {
    const joinFn = fn as unknown as JoinFunction<unknown, unknown, object>;
    return new DataStream<O>(this.left.join([this.right], (id) => ({ kind: 'intervalJoin', id, ...this.spec, fn: joinFn }), this.at));
  }
}

/** Two streams connected, waiting for their keys (Flink's ConnectedStreams). */
export class ConnectedStreams<A, B> {
  /** @internal */
  constructor(
    private readonly first: Chain,
    private readonly second: Chain,
    private readonly at: CallSite | undefined,
  ) {}
  /** Keys both streams: records with equal keys share state and timers. */
  keyBy(first: KeySelector<A>, second: KeySelector<B>): KeyedConnectedStreams<A, B> {
    return new KeyedConnectedStreams<A, B>(keyed(this.first, first, this.at), keyed(this.second, second, this.at), this.at);
  }
}

/** Two keyed streams connected (Flink's ConnectedStreams after keyBy). */
export class KeyedConnectedStreams<A, B> {
  /** @internal */
  constructor(
    private readonly first: Chain,
    private readonly second: Chain,
    private readonly at: CallSite | undefined,
  ) {}
  /**
   * A co-process function: `onEvent1` for the first stream's records, `onEvent2` for the second's, one
   * state and one set of timers per key (Flink's KeyedCoProcessFunction).
   */
  process<S extends Record<string, StateDescriptor>, O extends object = Record<string, unknown>>(fn: KeyedCoProcessFunction<A, B, S, O>): DataStream<O> {
    const coFn = fn as unknown as KeyedCoProcessFunction<unknown, unknown, Record<string, StateDescriptor>, object>;
    return new DataStream<O>(this.first.join([this.second], (id) => ({ kind: 'coProcess', id, fn: coFn }), this.at));
  }
}

/** The two keyBy nodes of a two-input operator. */
function keyed(chain: Chain, selector: KeySelector<unknown> | KeySelector<never>, at: CallSite | undefined): Chain {
  return chain.append((id) => ({ kind: 'keyBy', id, selector: selector as KeySelector<unknown> }), at);
}

/** A window join being written: `.where(…).equalTo(…).window(…).apply(…)`. */
export class JoinBuilder<A, B, K extends 'join' | 'coGroup'> {
  /** @internal */
  constructor(
    private readonly first: Chain,
    private readonly second: Chain,
    private readonly kind: K,
    private readonly at: CallSite | undefined,
  ) {}
  where(first: KeySelector<A>): { equalTo(second: KeySelector<B>): { window(assigner: WindowAssignerSpec): WindowJoin<A, B, K> } } {
    return {
      equalTo: (second) => ({
        window: (assigner) => new WindowJoin<A, B, K>(keyed(this.first, first, this.at), keyed(this.second, second, this.at), this.kind, assigner, this.at),
      }),
    };
  }
}

/** A window join with its window, waiting for its function. */
export class WindowJoin<A, B, K extends 'join' | 'coGroup'> {
  /** @internal */
  constructor(
    private readonly first: Chain,
    private readonly second: Chain,
    private readonly kind: K,
    private readonly assigner: WindowAssignerSpec,
    private readonly at: CallSite | undefined,
  ) {}
  /** For `join`: a result per pair of a window. For `coGroup`: the window's records of each side at once. */
  apply<O extends object>(fn: K extends 'join' ? JoinFunction<A, B, O> : CoGroupFunction<A, B, O>): DataStream<O> {
    const spec =
      this.kind === 'join'
        ? { kind: 'join' as const, fn: fn as unknown as JoinFunction<unknown, unknown, object> }
        : { kind: 'coGroup' as const, fn: fn as unknown as CoGroupFunction<unknown, unknown, object> };
    const assigner = this.assigner;
    return new DataStream<O>(this.first.join([this.second], (id) => ({ kind: 'windowJoin', id, assigner, fn: spec }), this.at));
  }
}

/** A stream partitioned by key (Flink's KeyedStream). */
export class KeyedStream<T> {
  /** @internal */
  constructor(private readonly chain: Chain) {}

  /**
   * An interval join (Flink's intervalJoin, event time): each record of `other` with an equal key whose
   * time is within [this one's + lower, this one's + upper] makes a pair. Each side's records are kept until
   * the watermark passes the last time they can still match.
   * @example tx.keyBy(t => t.card).intervalJoin(logins.keyBy(l => l.card)).between('-5m', '0s').process((t, l) => ({ …t, loginCountry: l.country }))
   */
  intervalJoin<B>(other: KeyedStream<B>): { between(lower: Duration, upper: Duration): IntervalJoin<T, B> } {
    const at = callSite();
    return { between: (lower, upper) => new IntervalJoin<T, B>(this.chain, other.chain, { lower, upper }, at) };
  }

  window(assigner: WindowAssignerSpec): WindowedStream<T> {
    return new WindowedStream<T>(this.chain, assigner, 0, undefined, callSite());
  }
  /**
   * A keyed process function with named state, event-time and processing-time timers. What `emit` sends cannot be
   * inferred: records are `Record<string, unknown>` downstream unless you name the type,
   * `.process<typeof state, Out>({ state, onEvent })`.
   */
  process<S extends Record<string, StateDescriptor>, O extends object = Record<string, unknown>>(
    fn: KeyedProcessFunction<T, S, O>,
  ): DataStream<O> {
    return new DataStream<O>(
      this.chain.append((id) => ({
        kind: 'process',
        id,
        fn: fn as unknown as KeyedProcessFunction<unknown, Record<string, StateDescriptor>, object>,
      })),
    );
  }
}

/** A keyed stream cut into windows, waiting for its window function (Flink's WindowedStream). */
export class WindowedStream<T> {
  /** @internal */
  constructor(
    private readonly chain: Chain,
    private readonly assigner: WindowAssignerSpec,
    private readonly lateness: Duration,
    private readonly lateSink: SinkSpec | undefined,
    private readonly at: CallSite | undefined,
  ) {}

  /** Keeps windows open this long after they fire; late elements update the result already emitted. */
  allowedLateness(lateness: Duration): WindowedStream<T> {
    return new WindowedStream<T>(this.chain, this.assigner, lateness, this.lateSink, this.at);
  }
  /** Where elements too late for every window they belong to go (Flink's sideOutputLateData). */
  lateOutput(sink: SinkSpec): WindowedStream<T> {
    return new WindowedStream<T>(this.chain, this.assigner, this.lateness, sink, this.at);
  }

  count(): DataStream<WindowMeta & { count: number }> {
    return this.apply({ kind: 'count' });
  }
  sum<F extends NumericField<T>>(field: F): DataStream<WindowMeta & { [P in F]: number }> {
    return this.apply({ kind: 'sum', field });
  }
  min<F extends NumericField<T>>(field: F): DataStream<WindowMeta & { [P in F]: number }> {
    return this.apply({ kind: 'min', field });
  }
  max<F extends NumericField<T>>(field: F): DataStream<WindowMeta & { [P in F]: number }> {
    return this.apply({ kind: 'max', field });
  }
  avg<F extends NumericField<T>>(field: F): DataStream<WindowMeta & { [P in F]: number }> {
    return this.apply({ kind: 'avg', field });
  }
  /** Combines elements pairwise; the result is the combined element's fields. Must be associative for sessions. */
  reduce(fn: (a: T, b: T) => T): DataStream<WindowMeta & T> {
    return this.apply({ kind: 'reduce', fn: fn as (a: unknown, b: unknown) => unknown });
  }
  aggregate<A, R extends object>(fn: AggregateFunction<T, A, R>): DataStream<WindowMeta & R> {
    return this.apply({ kind: 'aggregate', fn: fn as unknown as AggregateFunction<unknown, unknown, object> });
  }
  /** Sees the whole window at once; returns one result record or several. */
  process<R extends object>(fn: (context: WindowContext<T>) => R | R[]): DataStream<WindowMeta & R> {
    return this.apply({ kind: 'process', fn: fn as (c: WindowContext<unknown>) => object | object[] });
  }

  private apply<R>(fn: WindowFunctionSpec): DataStream<R> {
    const { assigner, lateness, lateSink } = this;
    const functionAt = callSite();
    return new DataStream<R>(
      this.chain.append((id) => ({ kind: 'window', id, assigner, allowedLateness: lateness, lateSink, fn, ...(functionAt && { functionAt }) }), this.at),
    );
  }
}
