import type { Duration } from '../time/duration';

/**
 * Keyed state descriptors for `.process({ state: { … } })`, as Flink's ValueStateDescriptor,
 * ListStateDescriptor and MapStateDescriptor. TTL counts in event time (the element's or timer's
 * timestamp), so a replayed batch sees the same state; Flink counts it in processing time.
 */
export type StateDescriptor<V = unknown> =
  | { readonly kind: 'value'; readonly initial: V; readonly ttl?: Duration; readonly __value?: V }
  | { readonly kind: 'list'; readonly ttl?: Duration; readonly __value?: V }
  | { readonly kind: 'map'; readonly ttl?: Duration; readonly __value?: V };

export interface StateOptions {
  /** Entries not written for this long (event time) read as absent. */
  ttl?: Duration;
}

/**
 * Marks a value state whose function changes the value it reads in place and has put it back itself when
 * it throws: the process operator hands it over without copying it first. For shardflow's own functions
 * whose values grow (the SQL aggregates' accumulators); not exported from the package.
 */
export const READ_IN_PLACE: unique symbol = Symbol('shardflow.readInPlace');

/** @example valueState(0) — a number per key, 0 until first updated. */
export const valueState = <V>(initial: V, options: StateOptions = {}): StateDescriptor<V> & { kind: 'value' } => ({
  kind: 'value',
  initial,
  ...options,
});

/** @example listState<string>() — a list per key. */
export const listState = <V>(options: StateOptions = {}): StateDescriptor<V> & { kind: 'list' } => ({
  kind: 'list',
  ...options,
});

/** @example mapState<number>() — a string-keyed map per key. */
export const mapState = <V>(options: StateOptions = {}): StateDescriptor<V> & { kind: 'map' } => ({
  kind: 'map',
  ...options,
});

/** Access to one value state inside `onEvent` / `onTimer`. */
export interface ValueState<V> {
  value(): V;
  update(value: V): void;
  clear(): void;
}
export interface ListState<V> {
  get(): V[];
  add(value: V): void;
  update(values: V[]): void;
  clear(): void;
}
export interface MapState<V> {
  get(key: string): V | undefined;
  put(key: string, value: V): void;
  remove(key: string): void;
  has(key: string): boolean;
  entries(): [string, V][];
  clear(): void;
}

/** The state handles a process function sees, by descriptor name. */
export type StateHandles<S extends Record<string, StateDescriptor>> = {
  [N in keyof S]: S[N] extends { kind: 'value'; initial: infer V }
    ? ValueState<V>
    : S[N] extends { kind: 'list'; __value?: infer V }
      ? ListState<V>
      : S[N] extends { kind: 'map'; __value?: infer V }
        ? MapState<V>
        : never;
};
