import type { CallSite } from './call-site';
import type { Duration } from '../time/duration';
import type { WindowAssignerSpec } from '../time/window';
import type { AsyncCallContext, CoGroupFunction, JoinFunction, KeyedCoProcessFunction, KeyedProcessFunction, MapAsyncOptions, WindowFunctionSpec } from './functions';
import type { JobOptions, StageSettings } from './settings';
import type { SinkSpec } from './sink';
import type { KeySelector, SourceSpec } from './source';
import type { StateDescriptor } from './state';

/**
 * The job graph: what the user said, as plain data (plus the user's functions). The planner reads it;
 * nothing here runs anything. `at` is where the user wrote the operator (for a window, `.window(…)`;
 * `functionAt`, its `.sum(…)`), so that errors can point there.
 */
export type OperatorNode = {
  readonly at?: CallSite;
  /**
   * The ids of the nodes this one reads, in order (a union's streams; a two-input operator's keyBys, first
   * input first). Absent: the node before it in the list — a linear job needs none.
   */
  readonly inputs?: readonly string[];
  /** Set by `.parallelism(n)` after the operator: the shards of a keyed operator's input stream (the planner refuses it elsewhere). */
  readonly parallelism?: number;
  readonly parallelismAt?: CallSite;
  /** Set by `.uid(name)` after a keyed operator: the name its state is kept under (Flink's uid). */
  readonly uid?: string;
  /** Set by `.settings({...})` after the source or a keyed operator: its stage's function and batching settings. */
  readonly settings?: StageSettings;
  readonly settingsAt?: CallSite;
} & (
  | { readonly kind: 'source'; readonly id: string; readonly source: SourceSpec }
  | { readonly kind: 'map'; readonly id: string; readonly fn: (record: unknown) => unknown }
  | { readonly kind: 'filter'; readonly id: string; readonly fn: (record: unknown) => boolean }
  | { readonly kind: 'flatMap'; readonly id: string; readonly fn: (record: unknown) => Iterable<unknown> }
  | {
      readonly kind: 'mapAsync';
      readonly id: string;
      readonly fn: (record: unknown, call: AsyncCallContext) => Promise<unknown>;
      readonly options: MapAsyncOptions;
    }
  /** `global`: written as `windowAll`, every record under one key on a one-shard stream (parallelism 1). */
  | { readonly kind: 'keyBy'; readonly id: string; readonly selector: KeySelector<unknown>; readonly global?: true }
  | {
      readonly kind: 'window';
      readonly id: string;
      readonly assigner: WindowAssignerSpec;
      readonly allowedLateness: Duration;
      readonly lateSink: SinkSpec | undefined;
      readonly fn: WindowFunctionSpec;
      readonly functionAt?: CallSite;
    }
  | {
      readonly kind: 'process';
      readonly id: string;
      readonly fn: KeyedProcessFunction<unknown, Record<string, StateDescriptor>, object>;
    }
  /** Two or more streams of one type as one (Flink's union). */
  | { readonly kind: 'union'; readonly id: string }
  /** Flink's KeyedCoProcessFunction over two keyed streams (its inputs: two keyBy nodes). */
  | {
      readonly kind: 'coProcess';
      readonly id: string;
      readonly fn: KeyedCoProcessFunction<unknown, unknown, Record<string, StateDescriptor>, object>;
    }
  /** Flink's interval join: a right element joins a left one when right.ts ∈ [left.ts + lower, left.ts + upper]. */
  | {
      readonly kind: 'intervalJoin';
      readonly id: string;
      readonly lower: Duration;
      readonly upper: Duration;
      readonly lowerExclusive?: true;
      readonly upperExclusive?: true;
      /** Side-output tags for late records of each side (else late records are dropped, as in Flink). */
      readonly lateLeft?: string;
      readonly lateRight?: string;
      readonly fn: JoinFunction<unknown, unknown, object>;
    }
  /** Flink's window join (`join`: each pair of a window) and coGroup (`coGroup`: both sides of a window at once). */
  | {
      readonly kind: 'windowJoin';
      readonly id: string;
      readonly assigner: WindowAssignerSpec;
      readonly fn: { readonly kind: 'join'; readonly fn: JoinFunction<unknown, unknown, object> } | { readonly kind: 'coGroup'; readonly fn: CoGroupFunction<unknown, unknown, object> };
    }
  /** The records a process function sent to `ctx.output(tag, …)` (Flink's getSideOutput). */
  | { readonly kind: 'sideOutput'; readonly id: string; readonly tag: string }
  | { readonly kind: 'sink'; readonly id: string; readonly sink: SinkSpec }
);

export type OperatorKind = OperatorNode['kind'];

/** A whole job: its name and its operators, each after the ones it reads (sources first). */
export interface JobDefinition {
  readonly kind: 'shardflow-job';
  readonly name: string;
  readonly nodes: readonly OperatorNode[];
  /** What `job(name, {...})` says for the whole job. */
  readonly options?: JobOptions;
}

export const isJobDefinition = (value: unknown): value is JobDefinition =>
  typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'shardflow-job';
