import type { TimeWindow } from '../time/window';
import type { StateDescriptor, StateHandles } from './state';

/** The fields every window result carries. Times in epoch ms, `windowEnd` exclusive. */
export interface WindowMeta {
  key: string;
  windowStart: number;
  windowEnd: number;
}

/** Fields of T whose values are numbers: what `.sum`, `.min`, `.max` and `.avg` accept. */
export type NumericField<T> = { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T] & string;

/** Flink's AggregateFunction: an accumulator built element by element, merged for sessions. */
export interface AggregateFunction<T, A, R extends object> {
  create(): A;
  add(accumulator: A, element: T): A;
  merge(a: A, b: A): A;
  result(accumulator: A): R;
}

/** What a whole-window process function sees. */
export interface WindowContext<T> {
  key: string;
  window: TimeWindow;
  /** Elements in arrival order. */
  elements: T[];
}

export type WindowFunctionSpec =
  | { readonly kind: 'count' }
  | { readonly kind: 'sum' | 'min' | 'max' | 'avg'; readonly field: string }
  | { readonly kind: 'reduce'; readonly fn: (a: unknown, b: unknown) => unknown }
  | { readonly kind: 'aggregate'; readonly fn: AggregateFunction<unknown, unknown, object> }
  | { readonly kind: 'process'; readonly fn: (context: WindowContext<unknown>) => object | object[] };

/** What `onEvent` and `onTimer` of a keyed process function can do. */
export interface KeyedContext<S extends Record<string, StateDescriptor>, O> {
  /** The current key. */
  readonly key: string;
  /** The event time of the element, or the time of the timer being fired. */
  readonly timestamp: number;
  /** The stage's watermark when the batch started. */
  readonly watermark: number;
  /**
   * The shard's processing time (Flink's `currentProcessingTime()`): the Kinesis arrival time of the record
   * being processed, never going back. Not the wall clock, so a replayed batch sees the same times.
   */
  readonly processingTime: number;
  /** In `onTimer`, the clock the timer was registered on (Flink's TimeDomain); in `onEvent`, 'event'. */
  readonly timeDomain: 'event' | 'processing';
  readonly state: StateHandles<S>;
  readonly timers: {
    /** Calls `onTimer` once the watermark reaches `timestampMs`. Registering the same time twice fires once. */
    registerEventTime(timestampMs: number): void;
    deleteEventTime(timestampMs: number): void;
    /**
     * Calls `onTimer` once the shard processes a record that arrived at or after `timestampMs` (epoch ms of
     * processing time, e.g. `ctx.processingTime + 30_000`); the watermark function's ticks bring such records
     * when no events come. A time already past fires once the record being processed is applied (all its
     * elements). Twice the same time fires once.
     */
    registerProcessingTime(timestampMs: number): void;
    deleteProcessingTime(timestampMs: number): void;
  };
  emit(record: O): void;
  /** Sends a record to a side output (Flink's `ctx.output(outputTag, value)`): `.sideOutput(tag)` reads them. */
  output<T extends object>(tag: OutputTag<T>, record: T): void;
}

/**
 * Names a side output of a process function (Flink's OutputTag): `ctx.output(tag, record)` sends to it,
 * `stream.sideOutput(tag)` reads it.
 * @example const alerts = outputTag<Alert>('alerts');
 */
export interface OutputTag<T extends object> {
  readonly kind: 'outputTag';
  readonly name: string;
  /** Carries T for type inference only; never set. */
  readonly __type?: T;
}

/** A side output's name: letters, digits, `_` and `-`. */
export function outputTag<T extends object>(name: string): OutputTag<T> {
  if (!/^[A-Za-z][\w-]{0,63}$/.test(name)) throw new TypeError(`outputTag '${name}': use letters, digits, _ and -, starting with a letter`);
  return { kind: 'outputTag', name };
}

/**
 * Flink's KeyedCoProcessFunction: two keyed streams connected, one state and one set of timers per key
 * across both. `onEvent1` takes the first stream's records, `onEvent2` the second's.
 */
export interface KeyedCoProcessFunction<A, B, S extends Record<string, StateDescriptor>, O extends object> {
  state: S;
  onEvent1(event: A, context: KeyedContext<S, O>): void;
  onEvent2(event: B, context: KeyedContext<S, O>): void;
  onTimer?(timestampMs: number, context: KeyedContext<S, O>): void;
}

/** What a join function learns besides the pair: the key and the pair's event time. */
export interface JoinContext {
  readonly key: string;
  /** The result's event time: the later of the two records' (interval join), the window's last millisecond (window join). */
  readonly timestamp: number;
}

/** Makes the result of one joined pair (Flink's JoinFunction / ProcessJoinFunction). */
export type JoinFunction<L, R, O extends object> = (left: L, right: R, context: JoinContext) => O;

/** Sees both sides of one window of one key at once (Flink's CoGroupFunction): one result, several, or none. */
export type CoGroupFunction<L, R, O extends object> = (left: L[], right: R[], context: JoinContext & { readonly window: TimeWindow }) => O | O[];

/** A keyed process function (Flink's KeyedProcessFunction) with named state, event-time and processing-time timers. */
export interface KeyedProcessFunction<T, S extends Record<string, StateDescriptor>, O extends object> {
  state: S;
  onEvent(event: T, context: KeyedContext<S, O>): void;
  onTimer?(timestampMs: number, context: KeyedContext<S, O>): void;
}

/**
 * The platform's AbortSignal where the project's types have one (lib "dom" or @types/node), so that it can go
 * to `fetch`; otherwise the part of it a call needs. Not named through the global, so that shardflow's types
 * compile in a project that has neither.
 */
export type CallSignal = typeof globalThis extends { AbortSignal: { prototype: infer S } } ? S : { readonly aborted: boolean };

/** What a `mapAsync` function gets besides the record. */
export interface AsyncCallContext {
  /** Aborted when the call times out: pass it on (`fetch(url, { signal })`) so the request stops too. */
  readonly signal: CallSignal;
  /** 0 for the first call of a record, 1 for its first retry, … */
  readonly attempt: number;
}

/** Options of `mapAsync` (Flink's AsyncDataStream.orderedWait with a retry strategy). */
export interface MapAsyncOptions {
  /** Calls in flight at once, per batch (one batch per shard at a time). Default 10. */
  concurrency?: number;
  /** How long one call may take before it counts as failed (and its signal aborts). Default 5000. */
  timeoutMs?: number;
  /** Calls again after a failure or timeout this many times, waiting `backoffMs`, then twice that, … Default 0. */
  retries?: number;
  /** The wait before the first retry. Default 100. */
  backoffMs?: number;
  /**
   * DynamoDB tables the calls read (by their names in AWS): a deployment lets the stage's function GetItem,
   * BatchGetItem and Query them, and nothing else of them. A SQL lookup join sets it for its table.
   */
  readsTables?: readonly string[];
}
