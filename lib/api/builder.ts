import type { Duration } from '../time/duration';
import type { WindowAssignerSpec } from '../time/window';
import type {
  AggregateFunction,
  AsyncCallContext,
  KeyedProcessFunction,
  MapAsyncOptions,
  NumericField,
  WindowContext,
  WindowFunctionSpec,
  WindowMeta,
} from './functions';
import { callSite, type CallSite } from './call-site';
import type { JobDefinition, OperatorNode } from './graph';
import type { StageSettings } from './settings';
import type { SinkSpec } from './sink';
import type { KeySelector, SourceSpec } from './source';
import type { StateDescriptor } from './state';

/** The key of every record in a `windowAll`: window results carry it as their `key`. */
export const GLOBAL_KEY = 'all';

/** The operators so far; every builder step returns a new chain, so a stream value can be reused safely. */
class Chain {
  constructor(
    readonly jobName: string,
    readonly nodes: readonly OperatorNode[],
  ) {}
  /**
   * Operator ids are the kind and position (`window#3`): stable while the job's shape is stable. `at` is
   * where the user wrote the operator, for errors.
   */
  append(make: (id: string) => OperatorNode, at: CallSite | undefined = callSite()): Chain {
    const kind = make('').kind;
    return new Chain(this.jobName, [...this.nodes, { ...make(`${kind}#${this.nodes.length}`), ...(at && { at }) }]);
  }
  /** The same operators with the last one's parallelism set. */
  withParallelism(parallelism: number, at: CallSite | undefined = callSite()): Chain {
    const last = this.nodes[this.nodes.length - 1]!;
    return new Chain(this.jobName, [...this.nodes.slice(0, -1), { ...last, parallelism, ...(at && { parallelismAt: at }) }]);
  }
  /** The same operators with the last one's stage settings set. */
  withSettings(settings: StageSettings, at: CallSite | undefined = callSite()): Chain {
    const last = this.nodes[this.nodes.length - 1]!;
    return new Chain(this.jobName, [...this.nodes.slice(0, -1), { ...last, settings, ...(at && { settingsAt: at }) }]);
  }
}

/**
 * Starts a job definition.
 * @example
 * export default job('click-counts')
 *   .source(kinesisSource<Click>('clicks', { eventTime: c => c.ts, outOfOrderness: '2s' }))
 *   .keyBy(c => c.userId).window(tumbling('5s')).sum('clicks')
 *   .sink(dynamoSink('click-counts'));
 */
export function job(name: string): JobBuilder {
  return new JobBuilder(name);
}

export class JobBuilder {
  constructor(private readonly name: string) {}
  /** The job's one input. */
  source<T>(source: SourceSpec<T>): DataStream<T> {
    const chain = new Chain(this.name, []).append((id) => ({ kind: 'source', id, source: source as SourceSpec }));
    return new DataStream<T>(chain);
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
    const chain = this.chain.append((id) => ({ kind: 'sink', id, sink }));
    return { kind: 'shardflow-job', name: chain.jobName, nodes: chain.nodes };
  }
}

/** A stream partitioned by key (Flink's KeyedStream). */
export class KeyedStream<T> {
  /** @internal */
  constructor(private readonly chain: Chain) {}

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
