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
  /** The event time of the element or timer being processed. */
  readonly timestamp: number;
  /** The stage's watermark when the batch started. */
  readonly watermark: number;
  readonly state: StateHandles<S>;
  readonly timers: {
    /** Calls `onTimer` once the watermark reaches `timestampMs`. Registering the same time twice fires once. */
    registerEventTime(timestampMs: number): void;
    deleteEventTime(timestampMs: number): void;
  };
  emit(record: O): void;
}

/** A keyed process function (Flink's KeyedProcessFunction) with named state and event-time timers. */
export interface KeyedProcessFunction<T, S extends Record<string, StateDescriptor>, O extends object> {
  state: S;
  onEvent(event: T, context: KeyedContext<S, O>): void;
  onTimer?(timestampMs: number, context: KeyedContext<S, O>): void;
}
