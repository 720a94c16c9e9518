import type { AsyncCallContext, KeyedProcessFunction, WindowFunctionSpec } from '../api/functions';
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
      readonly fn: KeyedProcessFunction<unknown, Record<string, StateDescriptor>, object>;
      readonly ttlMs: Readonly<Record<string, number>>;
    };

export type StageInput =
  | { readonly kind: 'source'; readonly stream: string; readonly shards: number; readonly source: SourceSpec }
  | {
      readonly kind: 'shuffle';
      readonly stream: string;
      readonly shards: number;
      readonly fromStage: string;
      /** A windowAll: every record has the one key, on a one-shard stream (parallelism 1). */
      readonly global?: true;
    };

export type StageOutput =
  | { readonly kind: 'shuffle'; readonly stream: string; readonly toStage: string; readonly keyBy: KeySelector<unknown>; readonly keyById: string }
  | { readonly kind: 'sink'; readonly sink: SinkSpec };

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

/** One Lambda function fed by one stream: a chain of operators between two shuffles. */
export interface Stage {
  readonly id: string;
  readonly input: StageInput;
  /** Stateless operators before the keyed one (source stages only: a keyed stage's successors go in its `post`). */
  readonly pre: readonly StatelessOperator[];
  /** Set when the stage keys its records itself (a source declared partitioned by the key: no shuffle). */
  readonly keyBy: KeySelector<unknown> | undefined;
  readonly keyed: KeyedOperator | undefined;
  /** Stateless operators after the keyed one. */
  readonly post: readonly StatelessOperator[];
  readonly output: StageOutput;
  readonly batch: BatchSettings;
  /** Memory, timeout, reserved concurrency (`.settings({...})`, lib/plan/stage-settings.ts). */
  readonly function: FunctionSettings;
}

export interface StreamResource {
  readonly name: string;
  readonly shards: number;
  readonly role: 'source' | 'shuffle' | 'sink';
  /** A source stream that exists without the job (see `kinesisSource`'s `existing`): never created or deleted by a deployment. */
  readonly existing?: { readonly arn?: string };
}

export interface TableResource {
  readonly name: string;
  readonly role: 'state' | 'sink' | 'dead-letter';
}

/** Every sink of a stage: its main output and, for windows, the late-data output. */
export function stageSinks(stage: Stage): SinkSpec[] {
  const sinks: SinkSpec[] = [];
  if (stage.output.kind === 'sink') sinks.push(stage.output.sink);
  if (stage.keyed?.kind === 'window' && stage.keyed.lateSink) sinks.push(stage.keyed.lateSink);
  return sinks;
}
