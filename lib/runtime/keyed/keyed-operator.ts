import type { ShardState } from '../../state/shard-state';
import type { Element, Output } from '../records';

/** A record a user function or a field check refused, for the dead-letter output. */
export interface Failure {
  /** Unique and deterministic: a replay rewrites the same dead letter, another failure never collides. */
  readonly id: string;
  readonly operator: string;
  readonly reason: string;
  /** The element (or, for a window or timer, what stands for it) as it was refused. */
  readonly value: unknown;
  /** Where it came from, when it came from a record. */
  readonly element?: Element;
}

/** What a keyed operator may do while it runs on a shard: change its keys' state, and emit. */
export interface OperatorContext {
  readonly state: ShardState;
  /** The shard's watermark as the stream has moved it so far (stream order, not batch order). */
  readonly watermarkMs: number;
  /** The shard's processing time at the record being processed: its Kinesis arrival time, never going back. */
  readonly processingTimeMs: number;
  /**
   * Names a firing of `key`'s timers uniquely and the same on every replay: the shard's input record being
   * processed and how many of the key's firings that record has caused so far.
   */
  firingId(key: string): string;
  /** An output with its event time (a window's end − 1, a process function's element or timer time), and its side output's tag if it goes to one. */
  emit(output: Output, timestampMs: number, tag?: string): void;
  /** An element too late for every window it belongs to. */
  late(element: Element): void;
  fail(failure: Failure): void;
}

/**
 * A keyed operator on a shard's in-memory state, in Flink's terms: elements come in stream order, each
 * with the shard's watermark at that point; when the watermark reaches a key's next fire time (a window's
 * end, its cleanup, a timer), the key fires. Operators keep their state JSON-plain (it is packed into the
 * shard's log), change it through `state.forUpdate`/`state.put`, and are deterministic: a replay of the same
 * input produces the same state and outputs, ids included.
 */
export interface KeyedOperatorRuntime {
  readonly id: string;
  /** `input`: which of the operator's inputs the element came on (0, or 1 for a co-process function's second). */
  onElement(key: string, element: Element, ctx: OperatorContext, input: number): void;
  /** Fires everything of `key` due at `ctx.watermarkMs`, and drops what is closed. */
  onWatermark(key: string, ctx: OperatorContext): void;
  /** When the key next needs the watermark, given its state; undefined: never (until an element comes). */
  nextFireAt(keyState: unknown): number | undefined;
  /**
   * Operators with processing-time timers or windows: fires everything of `key` due at
   * `ctx.processingTimeMs`, and when the key next needs processing time to reach a value.
   */
  onProcessingTime?(key: string, ctx: OperatorContext): void;
  nextProcessingTimeAt?(keyState: unknown): number | undefined;
  /** What the key's state waits for (its open windows, its timers), for the dashboard. */
  pending(keyState: unknown): PendingFiring[];
}

/** A window or timer waiting for the watermark, described for people. */
export interface PendingFiring {
  /** For a window: [startMs, endMs). */
  readonly startMs?: number;
  readonly endMs?: number;
  readonly fireAtMs: number;
  /** The accumulator so far, short (`sum=12`), or what the state holds. */
  readonly value: string;
}

/** A value, short enough for a table cell. */
export function shortText(value: unknown): string {
  const text =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value)
          .map(([k, v]) => `${k}=${typeof v === 'number' ? v : JSON.stringify(v)}`)
          .join(' ')
      : (JSON.stringify(value) ?? '');
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/**
 * Which keys have something due when: a binary min-heap of (fire time, key), ties by key so firing order is
 * deterministic, with stale entries skipped on the way out (a key's current time is in `at`). Rebuilt from
 * the keys' state whenever a shard's state is loaded, so it is never persisted.
 */
export class DueIndex {
  private readonly at = new Map<string, number>();
  private readonly heap: [number, string][] = [];

  set(key: string, fireAtMs: number | undefined): void {
    if (fireAtMs === undefined) {
      this.at.delete(key);
      return;
    }
    if (this.at.get(key) === fireAtMs) return;
    this.at.set(key, fireAtMs);
    this.push([fireAtMs, key]);
  }

  /** The earliest time any key is due at, or undefined when none is. */
  earliest(): number | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top) return undefined;
      if (this.at.get(top[1]) === top[0]) return top[0];
      this.pop();
    }
  }

  /** The next key due at or before `watermarkMs`, earliest first, or undefined. Leaves it in the index. */
  peekDue(watermarkMs: number): string | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top || top[0] > watermarkMs) return undefined;
      if (this.at.get(top[1]) === top[0]) return top[1];
      this.pop();
    }
  }

  private less(a: [number, string], b: [number, string]): boolean {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  private push(entry: [number, string]): void {
    const h = this.heap;
    h.push(entry);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
