import { writtenAt } from '../api/call-site';
import type { OperatorNode } from '../api/graph';
import type { StageSettings, StreamMode } from '../api/settings';
import { formatMs, toMs } from '../time/duration';
import type { BatchSettings, FunctionSettings } from './plan';
import { PlanError } from './plan-error';

/**
 * A stage's settings: Lambda's function and event source mapping settings, from `.settings({...})` over the
 * defaults, checked against the limits Lambda itself enforces, so a plan that passes is one AWS accepts
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html, gettingstarted-limits.html).
 */

/** Lambda's event source mapping settings for every stage unless the job says otherwise. */
export const DEFAULT_BATCH: BatchSettings = {
  batchSize: 500,
  maxBatchingWindowMs: 1000,
  parallelizationFactor: 1,
  maxRetryAttempts: 1000,
  maxRecordAgeSeconds: 86_400,
  bisectOnError: true,
};

/** Every stage function's memory and timeout unless the job says otherwise. */
export const DEFAULT_FUNCTION: FunctionSettings = { memoryMb: 512, timeoutSeconds: 60 };

/** What the stage does, for the settings that depend on it. */
export interface StageShape {
  /** It keeps keyed state (a window or process function): one log per shard. */
  readonly keepsState: boolean;
  /** It sends its output on to another keyed stage through a shuffle stream. */
  readonly shuffles: boolean;
  /** It reads a source stream (a source stage), not a shuffle stream. */
  readonly readsSource: boolean;
  /** Its input stream: one the job creates, one that exists without it (`existing`), or a windowAll's one-shard stream. */
  readonly input: 'created' | 'existing' | 'windowAll';
}

/** The stream modes, as `streamMode` takes them. */
export const STREAM_MODES: readonly StreamMode[] = ['provisioned', 'on-demand'];

/** A `streamMode` as written, checked: the hint says what to write. */
export function checkStreamMode(where: () => string, value: unknown): StreamMode {
  if ((STREAM_MODES as readonly unknown[]).includes(value)) return value as StreamMode;
  throw new PlanError(where(), `streamMode is ${JSON.stringify(value)}`, "use 'provisioned' (the shards the job declares) or 'on-demand' (Kinesis scales the stream by itself)");
}

const FIELDS: readonly (keyof StageSettings)[] = [
  'memoryMb',
  'timeout',
  'batchSize',
  'batchingWindow',
  'retries',
  'maxRecordAge',
  'bisectOnError',
  'parallelizationFactor',
  'keyGroups',
  'reservedConcurrency',
  'streamMode',
];

/**
 * A plan refuses `.settings(...)` anywhere but right after the operator that starts a stage: the source (the
 * source stage) or a keyed operator — a window, a process or co-process function, a join (its keyed stage).
 */
export function checkSettingsPlace(node: OperatorNode): void {
  if (node.settings === undefined || ['source', 'window', 'process', 'coProcess', 'intervalJoin', 'windowJoin'].includes(node.kind)) return;
  throw new PlanError(settingsLabel(node), `.settings(...) follows ${node.kind}`, "set a stage's settings right after .source(...) or after its keyed operator: .window(...).sum('x').settings({...}) or .process(...).settings({...})");
}

/**
 * The settings a stage runs with: those of `node` (the operator whose `.settings` apply), over the defaults;
 * `streamMode` only when the settings give one (the job's applies otherwise).
 */
export function stageSettings(node: OperatorNode | undefined, shape: StageShape): { batch: BatchSettings; keyGroups: number; function: FunctionSettings; streamMode: StreamMode | undefined } {
  const given = node?.settings;
  if (!node || given === undefined) return { batch: DEFAULT_BATCH, keyGroups: 1, function: DEFAULT_FUNCTION, streamMode: undefined };
  const where = (): string => settingsLabel(node);
  if (typeof given !== 'object' || given === null) throw new PlanError(where(), 'the settings are not an object', 'write .settings({ memoryMb: 1024 })');
  const unknown = Object.keys(given).find((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown !== undefined) throw new PlanError(where(), `'${unknown}' is not a stage setting`, `use ${FIELDS.join(', ')}`);

  const wholeIn = (field: keyof StageSettings, value: unknown, min: number, max: number, hint: string): number => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    throw new PlanError(where(), `${field} is ${JSON.stringify(value)}`, hint);
  };
  /** A duration Lambda takes in whole seconds, within [minS, maxS]. */
  const seconds = (field: keyof StageSettings, value: unknown, minS: number, maxS: number, example: string): number => {
    let ms: number;
    try {
      ms = toMs(value as never);
    } catch {
      throw new PlanError(where(), `${field} ${JSON.stringify(value)} is not a duration`, `write it as '${example}' (or a number of ms)`);
    }
    const range = `${formatMs(minS * 1000)} to ${formatMs(maxS * 1000)}`;
    if (ms % 1000 !== 0) throw new PlanError(where(), `${field} ${formatMs(ms)} is not whole seconds`, `Lambda takes it in whole seconds: use ${range}`);
    if (ms < minS * 1000 || ms > maxS * 1000) throw new PlanError(where(), `${field} ${formatMs(ms)} is out of range`, `use ${range}`);
    return ms / 1000;
  };

  const s = given;
  const batch: BatchSettings = {
    batchSize: s.batchSize === undefined ? DEFAULT_BATCH.batchSize : wholeIn('batchSize', s.batchSize, 1, 10_000, "use 1 to 10000 records (Lambda's BatchSize for Kinesis)"),
    maxBatchingWindowMs: s.batchingWindow === undefined ? DEFAULT_BATCH.maxBatchingWindowMs : seconds('batchingWindow', s.batchingWindow, 0, 300, '2s') * 1000,
    parallelizationFactor: s.parallelizationFactor === undefined ? DEFAULT_BATCH.parallelizationFactor : wholeIn('parallelizationFactor', s.parallelizationFactor, 1, 10, 'use 1 to 10 concurrent batches per shard'),
    maxRetryAttempts: s.retries === undefined ? DEFAULT_BATCH.maxRetryAttempts : wholeIn('retries', s.retries, -1, 10_000, 'use 0 to 10000, or -1 to retry until the records expire'),
    maxRecordAgeSeconds: s.maxRecordAge === undefined ? DEFAULT_BATCH.maxRecordAgeSeconds : s.maxRecordAge === -1 ? -1 : seconds('maxRecordAge', s.maxRecordAge, 60, 604_800, '1h'),
    bisectOnError: s.bisectOnError === undefined ? DEFAULT_BATCH.bisectOnError : checkBoolean(where, 'bisectOnError', s.bisectOnError),
  };
  if (batch.parallelizationFactor > 1 && shape.readsSource && (shape.keepsState || shape.shuffles)) {
    // Lanes of one source shard run side by side, split by the producers' partition keys: a keyed shard's log
    // would have two writers racing for its slots, and a shuffling stage's lanes would send one shard's
    // positions out of order, so the next stage's marks would drop the lower ones as repeats. A keyed stage
    // after a shuffle is split into key groups instead (lib/runtime/keyed/key-groups.ts).
    const why = shape.keepsState ? "keeps keyed state on a source stream, whose partition keys are the producers': its shard's log takes one batch at a time" : "shuffles from a source stream: the next stage drops a shard's positions that arrive out of order";
    throw new PlanError(where(), `parallelizationFactor is ${batch.parallelizationFactor}, but the stage ${why}`, "leave it at 1 and give the stage more shards (the source's shards), or key by the records after a shuffle: a keyed stage after a shuffle takes parallelizationFactor 2 to 10");
  }
  if (batch.parallelizationFactor > 1 && shape.input === 'windowAll') {
    throw new PlanError(where(), `parallelizationFactor is ${batch.parallelizationFactor}, but a windowAll has one key, so one key group: no batch could run beside another`, 'leave it at 1');
  }
  const keyGroups = keyGroupsFor(where, s.keyGroups, batch.parallelizationFactor, shape);
  const fn: FunctionSettings = {
    memoryMb: s.memoryMb === undefined ? DEFAULT_FUNCTION.memoryMb : wholeIn('memoryMb', s.memoryMb, 128, 10_240, "use 128 to 10240 MB (Lambda's MemorySize)"),
    timeoutSeconds: s.timeout === undefined ? DEFAULT_FUNCTION.timeoutSeconds : seconds('timeout', s.timeout, 1, 900, '2m'),
    ...(s.reservedConcurrency !== undefined && {
      reservedConcurrency: wholeIn('reservedConcurrency', s.reservedConcurrency, 1, Number.MAX_SAFE_INTEGER, 'use a whole number of at least 1 (0 would stop the stage: its records would wait until they expire)'),
    }),
  };
  const streamMode = s.streamMode === undefined ? undefined : checkStreamMode(where, s.streamMode);
  if (streamMode !== undefined && shape.input === 'existing') {
    throw new PlanError(where(), `streamMode is '${streamMode}', but the stage reads a stream that exists without the job`, "drop streamMode: the stream's mode is set where the stream is owned");
  }
  if (streamMode === 'on-demand' && shape.input === 'windowAll') {
    throw new PlanError(where(), "streamMode is 'on-demand', but a windowAll has one key, so one shard", 'drop streamMode: Kinesis would give the stream shards that no record reaches');
  }
  return { batch, keyGroups, function: fn, streamMode };
}

/**
 * A stage's key groups: only a keyed stage after a shuffle splits its shards (by the partition key the
 * shuffle gives each group), and its Lambda lanes must not outnumber them, or a lane would have no group.
 */
function keyGroupsFor(where: () => string, given: unknown, parallelizationFactor: number, shape: StageShape): number {
  const splits = shape.keepsState && !shape.readsSource && shape.input !== 'windowAll';
  if (given === undefined) return splits ? parallelizationFactor : 1;
  if (!splits) {
    const why = !shape.keepsState ? 'the stage keeps no keyed state' : shape.readsSource ? "the stage keeps its state on a source stream, whose partition keys are the producers'" : 'a windowAll has one key';
    throw new PlanError(where(), `keyGroups is ${JSON.stringify(given)}, but ${why}`, 'drop keyGroups: only a keyed stage after a shuffle splits its shards into key groups');
  }
  if (typeof given !== 'number' || !Number.isInteger(given) || given < 1 || given > 10) {
    throw new PlanError(where(), `keyGroups is ${JSON.stringify(given)}`, 'use 1 to 10 key groups per shard (at least the parallelizationFactor, which may then change up to it)');
  }
  if (parallelizationFactor > given) {
    throw new PlanError(where(), `parallelizationFactor is ${parallelizationFactor}, above keyGroups ${given}`, `a batch takes whole key groups: raise keyGroups to ${parallelizationFactor} (a new state layout) or keep parallelizationFactor at most ${given}`);
  }
  return given;
}

function checkBoolean(where: () => string, field: keyof StageSettings, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  throw new PlanError(where(), `${field} is ${JSON.stringify(value)}`, 'use true or false');
}

/** How errors name a `.settings(...)` call: where and as written, or the operator's id and the call. */
export function settingsLabel(node: OperatorNode): string {
  return node.settingsAt ? writtenAt(node.settingsAt, 'settings') : `${node.id} .settings(…)`;
}
