import type { AsyncCallContext, KeyedContext, WindowFunctionSpec } from '../api/functions';
import type { SinkSpec } from '../api/sink';
import type { KeySelector, SourceSpec } from '../api/source';
import type { StateDescriptor } from '../api/state';
import type { WindowAssignerSpec } from '../time/window';

/**
 * The plan: a job cut into stages, with every stream and table they need. It is the one input of
 * `infra/` (CloudFormation), the local runtime and the stage functions.
 */
export interface Plan {
  readonly job: string;
  readonly stages: readonly Stage[];
  readonly streams: readonly StreamResource[];
  readonly tables: readonly TableResource[];
  readonly sinks: readonly SinkSpec[];
  /** Keyed state, window state, shard watermarks: one table per job. */
  readonly stateTable: string;
  /** Malformed records and records a user function failed on, with the reason. */
  readonly deadLetterTable: string;
  readonly eventTime: EventTimeSettings;
}

export interface EventTimeSettings {
  readonly outOfOrdernessMs: number;
  readonly idleAfterMs: number;
}

/** A stateless operator that runs record by record, synchronously: the chain's hot path. */
export type SyncOperator =
  | { readonly kind: 'map'; readonly id: string; readonly fn: (record: unknown) => unknown }
  | { readonly kind: 'filter'; readonly id: string; readonly fn: (record: unknown) => boolean }
  | { readonly kind: 'flatMap'; readonly id: string; readonly fn: (record: unknown) => Iterable<unknown> };

/** A call to an external service per record, over a whole batch at once (see lib/runtime/async-chain.ts). */
export interface AsyncOperator {
  readonly kind: 'mapAsync';
  readonly id: string;
  readonly fn: (record: unknown, call: AsyncCallContext) => Promise<unknown>;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  /** The DynamoDB tables its calls read (MapAsyncOptions.readsTables): the stage's role may read them. */
  readonly readsTables: readonly string[];
}

/** A stateless operator, chained into its stage. */
export type StatelessOperator = SyncOperator | AsyncOperator;

/** The keyed operator that owns a stage's state. */
export type KeyedOperator =
  | {
      readonly kind: 'window';
      readonly id: string;
      readonly assigner: WindowAssignerSpec;
      readonly allowedLatenessMs: number;
      readonly fn: WindowFunctionSpec;
      readonly lateSink: SinkSpec | undefined;
    }
  | {
      readonly kind: 'process';
      readonly id: string;
      /** One handler per input: a process function's `onEvent`, or a co-process function's `onEvent1`, `onEvent2`. */
      readonly fn: ProcessFunctionSpec;
      readonly ttlMs: Readonly<Record<string, number>>;
      /** What it was written as, for `plan` and errors: a process function, a co-process function, a join. */
      readonly written: 'process' | 'coProcess' | 'intervalJoin' | 'windowJoin';
    };

/** A keyed (co-)process function as the runtime calls it: named state, a handler per input, timers. */
export interface ProcessFunctionSpec {
  readonly state: Readonly<Record<string, StateDescriptor>>;
  readonly onEvent: readonly ((event: unknown, context: KeyedContext<Record<string, StateDescriptor>, object>) => void)[];
  readonly onTimer?: (timestampMs: number, context: KeyedContext<Record<string, StateDescriptor>, object>) => void;
}

/**
 * One way records reach a keyed stage's shuffle stream: a route of an upstream stage, for one input of the
 * keyed operator (a co-process function has two). Senders on the wire are the upstream shard ids, prefixed
 * with the lane's name when the stream has more than one lane (see {@link senderOf}).
 */
export interface Lane {
  readonly fromStage: string;
  /** '' when the stream has one lane; otherwise the upstream stage and its route, e.g. `s0.1`. */
  readonly name: string;
  /** Which input of the keyed operator: 0, or 1 for a co-process function's second. */
  readonly input: number;
}

/**
 * A stage's input stream. `shards` is what the stream is created with: the job's count, or, for an
 * `onDemand` stream, the 4 an on-demand stream starts with before Kinesis scales it by itself.
 */
export type StageInput =
  | { readonly kind: 'source'; readonly stream: string; readonly shards: number; readonly source: SourceSpec; readonly onDemand?: true }
  | {
      readonly kind: 'shuffle';
      readonly stream: string;
      readonly shards: number;
      readonly lanes: readonly Lane[];
      /** A windowAll: every record has the one key, on a one-shard stream (parallelism 1). */
      readonly global?: true;
      readonly onDemand?: true;
    };

export type StageOutput =
  | {
      readonly kind: 'shuffle';
      readonly stream: string;
      readonly toStage: string;
      readonly keyBy: KeySelector<unknown>;
      readonly keyById: string;
      /** The lane's name on the next stage's stream ('' when it is the stream's only lane). */
      readonly lane: string;
    }
  | {
      readonly kind: 'sink';
      readonly sink: SinkSpec;
      /** Prefixes output ids when several routes write to the sink, so that their ids never collide. */
      readonly idPrefix: string;
    };

/**
 * What a stage does with records after its keyed operator (or from its input, in a stage without one):
 * stateless operators in order, then each of what follows — an output, or a branch of its own when the
 * stream goes several ways (Flink's fan-out; a union's operators are on each of its inputs' routes).
 */
export interface Flow {
  readonly ops: readonly StatelessOperator[];
  readonly next: readonly (Flow | StageOutput)[];
}

export const isFlow = (f: Flow | StageOutput): f is Flow => 'ops' in f;

/** Every output at the ends of a flow, in order. */
export function flowOutputs(flow: Flow): StageOutput[] {
  return flow.next.flatMap((n) => (isFlow(n) ? flowOutputs(n) : [n]));
}

/** The sender name of an upstream shard on a lane: the shard itself on a stream's only lane. */
export const senderOf = (lane: string, shardId: string): string => (lane === '' ? shardId : `${lane}/${shardId}`);

/** The upstream shard a sender is on a lane (the inverse of {@link senderOf}), or undefined when the sender is not on that lane. */
export const shardOfSender = (lane: string, sender: string): string | undefined => (lane === '' ? sender : sender.startsWith(`${lane}/`) ? sender.slice(lane.length + 1) : undefined);

/** How the event source mapping feeds a stage's function (Lambda's settings, used locally too). */
export interface BatchSettings {
  readonly batchSize: number;
  /** Rounded up to whole seconds where it is used: Lambda takes the window in seconds (see {@link batchingWindowSeconds}). */
  readonly maxBatchingWindowMs: number;
  readonly parallelizationFactor: number;
  readonly maxRetryAttempts: number;
  readonly maxRecordAgeSeconds: number;
  readonly bisectOnError: boolean;
}

/** How a stage's Lambda function runs (deployed, and in the local worker processes). */
export interface FunctionSettings {
  /** `MemorySize`: also what a keyed shard's state may take (a fifth, `stateLimitsFor`). */
  readonly memoryMb: number;
  /** `Timeout`. */
  readonly timeoutSeconds: number;
  /** `ReservedConcurrentExecutions`; unset: the function draws on the account's unreserved pool. */
  readonly reservedConcurrency?: number;
}

/** The batching window as Lambda takes it (`MaximumBatchingWindowInSeconds`, whole seconds): the same rounding deployed and locally. */
export const batchingWindowSeconds = (batch: BatchSettings): number => Math.ceil(batch.maxBatchingWindowMs / 1000);

/** A stage's on-failure SQS queue (deployed, and served by the edge locally). */
export const failureQueueName = (job: string, stageId: string, nameSuffix = ''): string => `${job}-${stageId}-failures${nameSuffix}`;

/** One Lambda function fed by one stream: a keyed operator (or none), and what follows it up to the next shuffles and sinks. */
export interface Stage {
  readonly id: string;
  /** Whose state the stage's shard logs hold: the keyed operator's uid, or the stage id. */
  readonly stateId: string;
  readonly input: StageInput;
  /** Stateless operators before the keyed one, in a stage that keys its records itself (see `keyBy`). */
  readonly pre: readonly StatelessOperator[];
  /** Set when the stage keys its records itself (a source declared partitioned by the key: no shuffle). */
  readonly keyBy: KeySelector<unknown> | undefined;
  readonly keyed: KeyedOperator | undefined;
  /** After the keyed operator (or from the input): operators, shuffles to the next stages, sinks. */
  readonly flow: Flow;
  /** A process function's side outputs (`ctx.output(tag, record)`), by tag; a tag without a flow is dropped, as Flink drops it. */
  readonly sideFlows: Readonly<Record<string, Flow>>;
  /** The event-time settings of the source this stage reads (a source stage), else the job's. */
  readonly eventTime: EventTimeSettings;
  readonly batch: BatchSettings;
  /**
   * Key groups per shard (lib/runtime/keyed/key-groups.ts): `keyGroups` on a keyed stage after a shuffle,
   * else its parallelizationFactor; 1 on every other stage.
   */
  readonly keyGroups: number;
  /** Memory, timeout, reserved concurrency (`.settings({...})`, lib/plan/stage-settings.ts). */
  readonly function: FunctionSettings;
}

export interface StreamResource {
  readonly name: string;
  /** The shards it is created with (an on-demand stream's first 4: Kinesis sets them from then on). */
  readonly shards: number;
  /** Created in on-demand mode (`job(name, { streamMode })`, a stage's `.settings({ streamMode })`); else provisioned. */
  readonly onDemand?: true;
  readonly role: 'source' | 'shuffle' | 'sink';
  /** A source stream that exists without the job (see `kinesisSource`'s `existing`): never created or deleted by a deployment. */
  readonly existing?: { readonly arn?: string };
}

export interface TableResource {
  readonly name: string;
  readonly role: 'state' | 'sink' | 'dead-letter';
}

/** Every output of a stage: its flows' shuffles and sinks, side flows' too. */
export function stageOutputs(stage: Stage): StageOutput[] {
  return [stage.flow, ...Object.values(stage.sideFlows)].flatMap(flowOutputs);
}

/** Every sink of a stage: its flows' and, for windows, the late-data output. */
export function stageSinks(stage: Stage): SinkSpec[] {
  const sinks = stageOutputs(stage).flatMap((o) => (o.kind === 'sink' ? [o.sink] : []));
  if (stage.keyed?.kind === 'window' && stage.keyed.lateSink) sinks.push(stage.keyed.lateSink);
  return sinks;
}

/** The output of a stage whose flow is a line (no branches), else undefined. */
export const soleOutput = (stage: Stage): StageOutput | undefined => (stage.flow.next.length === 1 && !isFlow(stage.flow.next[0]!) ? stage.flow.next[0] : undefined);

/** The stage with every output changed by `fn` (flows and side flows alike). */
export function mapStageOutputs(stage: Stage, fn: (output: StageOutput) => StageOutput): Stage {
  const mapFlow = (f: Flow): Flow => ({ ops: f.ops, next: f.next.map((n) => (isFlow(n) ? mapFlow(n) : fn(n))) });
  return { ...stage, flow: mapFlow(stage.flow), sideFlows: Object.fromEntries(Object.entries(stage.sideFlows).map(([tag, f]) => [tag, mapFlow(f)])) };
}

/** The DynamoDB tables a stage's calls read (its mapAsync operators' `readsTables`). */
export function tablesReadBy(stage: Stage): string[] {
  const flowOps = (f: Flow): StatelessOperator[] => [...f.ops, ...f.next.flatMap((n) => (isFlow(n) ? flowOps(n) : []))];
  const ops = [...stage.pre, ...flowOps(stage.flow), ...Object.values(stage.sideFlows).flatMap(flowOps)];
  return [...new Set(ops.flatMap((o) => (o.kind === 'mapAsync' ? o.readsTables : [])))];
}

/** The streams a stage puts shuffled records on. */
export const shuffleStreamsOf = (stage: Stage): string[] => [...new Set(stageOutputs(stage).flatMap((o) => (o.kind === 'shuffle' ? [o.stream] : [])))];

/** The stages whose routes feed a keyed stage's shuffle stream. */
export const upstreamStagesOf = (plan: Plan, stage: Stage): Stage[] =>
  stage.input.kind === 'shuffle' ? [...new Set(stage.input.lanes.map((l) => l.fromStage))].map((id) => plan.stages.find((s) => s.id === id)!) : [];

/** The lanes of a keyed stage that come from a source stage. */
export const sourceLanesOf = (plan: Plan, stage: Stage): Lane[] =>
  stage.input.kind === 'shuffle' ? stage.input.lanes.filter((l) => plan.stages.find((s) => s.id === l.fromStage)?.input.kind === 'source') : [];
