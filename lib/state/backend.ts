import type { FailedElement, KeyedLogic } from '../runtime/keyed-logic';
import type { Element, Origin, Output } from '../runtime/records';

/** A position in one shard (the shard is the map key it sits under). */
export type Position = Omit<Origin, 'shardId'>;

/** One state item: a key's window, sessions, count window or process state, in one stage. */
export interface ItemRef {
  readonly stageId: string;
  readonly key: string;
  readonly slot: string;
}

/**
 * An item as stored. `hwm` (high-water marks) holds, per origin shard, the last position applied: an
 * update applies only elements above it and moves it in the same conditional write, so a replayed
 * batch changes nothing twice. `outbox` keeps what the last update emitted, with the origins it
 * covered, so a replay that finds its elements already applied can still emit what a crash lost.
 */
export interface StoredItem {
  readonly data: unknown;
  readonly hwm: Readonly<Record<string, Position>>;
  readonly version: number;
  readonly fireAtMs: number | null;
  readonly closed: boolean;
  readonly outbox: Outbox;
}

/**
 * The last update's outputs and, per origin shard, the span of positions it covered; and the elements
 * it refused (late, or failed with a reason) by origin (`originKey`), so a replay that finds them already
 * applied still reports them: the update moved the marks past them, and a crash may have lost the report.
 */
export interface Outbox {
  readonly spans: Readonly<Record<string, readonly [Position, Position]>>;
  readonly outputs: readonly Output[];
  readonly late?: readonly string[];
  readonly failed?: readonly { readonly origin: string; readonly operator: string; readonly reason: string }[];
}

/** One item's elements in a batch. */
export interface ItemUpdate {
  readonly ref: ItemRef;
  readonly elements: readonly Element[];
}

/** What applying a batch (or a watermark) to an item produced. */
export interface ItemOutcome {
  readonly outputs: readonly Output[];
  /** Elements the item refused because it is closed or past lateness. */
  readonly late: readonly Element[];
  readonly failed: readonly FailedElement[];
}

/** What a stage knows of one input: a source shard, or an upstream shard heard through a downstream shard. */
export interface InputRow {
  /** `shardId` for a source shard; `inputShard<upstreamShard` for a shuffled input. */
  readonly input: string;
  readonly watermarkMs: number;
  /** The highest event time seen (source shards only). */
  readonly maxEventTimeMs: number;
  /** Processing time the input was last heard from, for idleness. */
  readonly lastActiveMs: number;
  /**
   * The last origin position whose batch was fully delivered (state, outputs, envelopes). A retried
   * batch skips elements at or below it: everything they caused has happened.
   */
  readonly committed?: Position;
}

/**
 * Where keyed and window state lives. Written so DynamoDB conditional writes fit it: every method is
 * one item or a small set of items, and every update is idempotent under replay. The runtime never
 * sees how a backend stores things.
 */
export interface StateBackend {
  /**
   * Applies one batch's elements to each item, exactly once per (origin shard, position). The
   * backend chooses how many item writes it runs at once. Outcomes come back in the order given.
   */
  update(updates: readonly ItemUpdate[], logic: KeyedLogic, watermarkMs: number): Promise<ItemOutcome[]>;
  /**
   * Fires what is due on an item at this watermark (windows, timers): hands the outputs to `deliver`
   * first, then records the firing under the item's version. A crash in between fires again with the
   * same output ids; a concurrent change re-fires from the new version (new ids: an updated result).
   */
  fire(ref: ItemRef, logic: KeyedLogic, watermarkMs: number, deliver: (outcome: ItemOutcome) => Promise<void>): Promise<void>;
  /** Items whose fire time is at or below the watermark, earliest first, at most `limit`. */
  dueItems(stageId: string, watermarkMs: number, limit: number): Promise<ItemRef[]>;

  /** Input rows of a stage, fresh; watermarks and event times only ever move forward. */
  readInputs(stageId: string): Promise<InputRow[]>;
  /** One input row, as this process last wrote or read it (a store may cache it: a stale row is only lower). */
  readInput(stageId: string, input: string): Promise<InputRow | undefined>;
  writeInputs(stageId: string, rows: readonly InputRow[]): Promise<void>;
  /** The watermark up to which the stage's windows and timers have fired (monotonic). */
  readStageWatermark(stageId: string): Promise<number>;
  writeStageWatermark(stageId: string, watermarkMs: number): Promise<void>;

  /**
   * The watermark function stops looping while every input is idle (nothing can fire until data comes)
   * and says so here first; the stage function that next finds its input idle wakes it. The flag is
   * one item: setting it is a plain write, taking it back is conditional, so of several stage functions
   * waking at once exactly one sees `true` and invokes the watermark function.
   */
  markWatermarkAsleep(): Promise<void>;
  /** Clears the flag; true only for the call that found it set. */
  claimWatermarkWake(): Promise<boolean>;

  /**
   * One watermark function ticks at a time when it loops (as deployed): it takes this lease for its
   * loop, `holder` naming the invocation. False when another holder's lease has not expired by `nowMs`.
   */
  acquireWatermarkLease(holder: string, nowMs: number, untilMs: number): Promise<boolean>;
  /** Gives the lease up; false when `holder` no longer held it (it expired and another took it). */
  releaseWatermarkLease(holder: string): Promise<boolean>;
}
