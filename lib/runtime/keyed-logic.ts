import type { Element, Output } from './records';

/**
 * What a keyed operator does to one state item: pure functions from the stored data and new elements
 * (or a new watermark) to the new data and what to emit. The state backend wraps them with the
 * exactly-once mechanics (per-origin marks, versions, replay outbox), so every backend behaves alike.
 */
export interface KeyedLogic {
  readonly operator: string;
  /**
   * The item slots an element goes to (a window start, the key's sessions, …), given the stage's
   * watermark; 'late' when every window it belongs to is past its allowed lateness.
   */
  route(key: string, element: Element, watermarkMs: number): readonly string[] | 'late';
  /** Applies new elements, in order, to an item. */
  onElements(item: ItemContext, data: unknown, elements: readonly Element[]): ItemStep;
  /** Fires what the watermark makes due: windows, timers. */
  onWatermark(item: ItemContext, data: unknown): ItemStep;
  /** Present when the item's accumulator is numbers merged by addition, so a store may use an atomic ADD. */
  readonly additive?: AdditiveLogic;
}

/**
 * The contract for stores with an atomic ADD: an item's data is `{ acc: numbers, ...rest }`; while `rest`
 * equals `initial(slot)`'s, new elements may be added blind (no read), as `delta(elements)`.
 */
export interface AdditiveLogic {
  initial(slot: string): { acc: Record<string, number> } & Record<string, unknown>;
  /** The numbers to add, or undefined when some element would be refused (then the store reads and applies). */
  delta(elements: readonly Element[]): Record<string, number> | undefined;
  /** The fire time of a fresh item. */
  fireAtMs(slot: string): number | null;
}

/** Which item, at what version, under which watermark. */
export interface ItemContext {
  readonly key: string;
  readonly slot: string;
  /** The version the item will have once this step is written: output ids name it, so they are deterministic. */
  readonly nextVersion: number;
  readonly watermarkMs: number;
}

/** A record a user function or a field check refused, for the dead-letter output. */
export interface FailedElement {
  readonly element: Element;
  readonly operator: string;
  readonly reason: string;
  /**
   * The dead letter's id when the failure is a firing's (a window function, a timer) rather than an input
   * record's: it names the firing, so each firing's failure is its own dead letter.
   */
  readonly deadLetterId?: string;
}

/** The outcome of one step on one item. */
export interface ItemStep {
  /** The item's new data; null when nothing is left to keep (the marks stay). */
  readonly data: unknown;
  /** When the watermark function must look at the item again, or null. */
  readonly fireAtMs: number | null;
  /** A closed item refuses later elements: they are late. */
  readonly closed: boolean;
  readonly outputs: readonly Output[];
  /** Elements this item refused as late. */
  readonly late: readonly Element[];
  readonly failed: readonly FailedElement[];
}

export const emptyStep = (data: unknown, fireAtMs: number | null): ItemStep => ({
  data,
  fireAtMs,
  closed: false,
  outputs: [],
  late: [],
  failed: [],
});
