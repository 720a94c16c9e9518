/**
 * What flows through a stage. Every element remembers its origin — the upstream shard and the position
 * in it — because exactly-once rests on it: state items keep, per origin shard, the last position applied.
 */

/** Kinesis sequence numbers are decimal strings of up to 129 digits: never compare them as JS numbers. */
export const POSITION_DIGITS = 130;

/**
 * Where an element came from: the shard, the record's sequence number there, and which of the records
 * a flatMap made from it. Positions are compared exactly with {@link comparePositions}.
 */
export interface Origin {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly subIndex: number;
}

/** A record inside a stage, with its event time. */
export interface Element {
  readonly origin: Origin;
  readonly timestampMs: number;
  readonly value: unknown;
}

/** A keyed element: what a keyed operator receives. */
export interface KeyedElement extends Element {
  readonly key: string;
}

/** A record on its way to a sink, with the deterministic id that makes repeats recognisable. */
export interface Output {
  readonly id: string;
  readonly record: Record<string, unknown>;
  /**
   * Where this output stands among the outputs for the same sink item (fixed width, compared as strings): a
   * sink never replaces an item with an output of a lower order — an older firing of the same window, a
   * retry or a zombie invocation arriving late. Window results carry how many results their key has emitted (see `resultOrder` in lib/runtime/keyed/window-operator.ts).
   * Without it, the last write wins.
   */
  readonly order?: string;
}

/**
 * What a keyed operator emitted, with the event time it carries downstream (a window's last millisecond,
 * Flink's `window.maxTimestamp()`; a process function's element or timer time) and the sequence number of
 * the shard's input record whose processing produced it: a keyed stage that feeds another one makes its
 * elements' origins from it (see StageExecutor).
 */
export interface KeyedOutput {
  readonly output: Output;
  readonly timestampMs: number;
  readonly inputSequenceNumber: string;
  /** A side output's tag (`ctx.output(tag, …)`); none for the main output. */
  readonly tag?: string;
}

/** Digits of a version as an output order: Number.MAX_SAFE_INTEGER has 16. */
const VERSION_DIGITS = 16;

/** An item version as an {@link Output.order}: zero-padded, so string order is version order. */
export const versionOrder = (version: number): string => String(version).padStart(VERSION_DIGITS, '0');

/** A record that could not be processed, with why and where it came from. */
export interface DeadLetter {
  /**
   * Unique per failure and deterministic: a replay rewrites the same dead-letter item, a different failure
   * never overwrites it. See {@link recordDeadLetterId}; failures of a firing are named after the firing.
   */
  readonly id: string;
  readonly reason: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** The operator that refused it, when one did. */
  readonly operator?: string;
  /** The record as received (truncated). */
  readonly data: string;
}

/** Orders two positions in one shard: by sequence number (as a decimal string), then sub-index. */
export function comparePositions(a: Omit<Origin, 'shardId'>, b: Omit<Origin, 'shardId'>): number {
  const x = a.sequenceNumber;
  const y = b.sequenceNumber;
  if (x.length !== y.length) return x.length - y.length;
  if (x !== y) return x < y ? -1 : 1;
  return a.subIndex - b.subIndex;
}

/**
 * A position as one string whose string order is the position order (zero-padded), for stores that
 * compare in conditions, e.g. DynamoDB `hwm.#shard < :position`.
 */
export function encodePosition(o: Omit<Origin, 'shardId'>): string {
  return `${o.sequenceNumber.padStart(POSITION_DIGITS, '0')}.${String(o.subIndex).padStart(6, '0')}`;
}

export function decodePosition(encoded: string): Omit<Origin, 'shardId'> {
  const [seq = '0', sub = '0'] = encoded.split('.');
  return { sequenceNumber: seq.replace(/^0+(?=\d)/, ''), subIndex: Number(sub) };
}

/** The dead-letter id of an input record (or one element a flatMap made from it) refused by an operator. */
export const recordDeadLetterId = (o: Origin, operator: string): string =>
  `${o.shardId}/${o.sequenceNumber}${o.subIndex ? `.${o.subIndex}` : ''}/${operator}`;

/** The origin as one string, for output ids. */
export const originKey = (o: Origin): string => `${o.shardId}@${o.sequenceNumber}.${o.subIndex}`;

/** Plain objects stay as they are; anything else becomes `{ value }`, so results are always records. */
export const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };

/** An error about one record (bad field, user function threw): the record goes to the dead-letter output. */
export class RecordError extends Error {
  constructor(
    readonly operator: string,
    reason: string,
  ) {
    super(reason);
    this.name = 'RecordError';
  }
}

/**
 * What a marker says: the sender's watermark and, from a keyed stage's shard, its status — Flink's
 * WatermarkStatus. A keyed shard whose inputs are all idle says so (`idle`), and says again when one is
 * active: the stage downstream takes it for idle on its word only, never for being silent — a keyed shard is
 * silent because it is slow, failing or down (its own inputs' idleness is decided before it, at the stage
 * that reads a source), and taking it for idle would make its backlog late. `at`: the sequence number of the
 * sender's last input record in the batch, so a status from an older batch (a zombie's, sent late) cannot
 * overrule a newer one. A source stage's markers have no status: its shards' silence is what idleness means
 * (`idleAfter`), once the watermark function has found nothing in the source shard after their `at` (see
 * KeyedShardRun's markIdle); as for a keyed stage reading a source `partitionedBy` its key (no ticks reach it).
 *
 * `owes` (with `idle`): the earliest event time the idle shard may still emit at — a window or timer it holds
 * that its watermark has not reached. Idle, it holds no watermark back, but the stage after it keeps its own
 * below that time, so what it owes is on time when its inputs speak again (chaos chained 4013: an idle shard's
 * open windows came a batch after its peers' markers had carried the next stage past them, late).
 */
export interface Marker {
  readonly watermarkMs: number;
  readonly idle?: true;
  readonly at?: string;
  readonly owes?: number;
}

/**
 * What a tick of the watermark function says. `upstream`: every upstream shard that exists, heard from or
 * not. `ended`: upstream shards a reshard closed and that are done (their children have started): they hold no
 * watermark back. `resumed`: the first tick after the runtime started again on its data — its inputs were
 * silent because nothing ran, not because they are idle. `caughtUp`: source stages' shards whose source
 * shard holds nothing after the position given ('' from its start), when the watermark function looked.
 * `startAt`: for a keyed stage an upgrade added, where the version before it had read each source shard (see
 * lib/state/upgrade-start.ts): an input the shard has not heard yet starts there.
 */
export interface Tick {
  readonly upstream: readonly string[];
  readonly ended?: readonly string[];
  readonly resumed?: true;
  readonly caughtUp?: Readonly<Record<string, string>>;
  readonly startAt?: Readonly<Record<string, string>>;
}
