/**
 * The per-(stage, shard) log that keyed state is moving to (docs/state-log.md): a keyed stage's shard is
 * the unit of state; each batch appends one packed entry — a delta of what it changed, or now and then a
 * snapshot of everything — at the next slot, under a condition that the slot is still free. One writer
 * wins a slot; a retry or a zombie invocation that loses catches up from the log instead.
 *
 * The store keeps entries as opaque bytes: what is inside (and how it is packed) is the shard state's
 * business, not the store's.
 */

/** Which log: a keyed stage's input shard. */
export interface LogId {
  readonly stageId: string;
  readonly shardId: string;
}

/** One entry of a shard's log. */
export interface LogEntry {
  /** 1, 2, 3, …: contiguous; the entry at slot n was computed from the state after slot n − 1. */
  readonly slot: number;
  /** A delta applies on top of the state before it; a snapshot replaces it (catch-up starts at the latest one). */
  readonly kind: 'delta' | 'snapshot';
  /** The packed entry. Any size: a store splits what does not fit one of its items. */
  readonly body: Uint8Array;
  /** Processing time of the write: how old a snapshot is, for the policy that refreshes it before it expires. */
  readonly writtenAtMs: number;
  /**
   * Every input of the shard was idle after this entry: nothing fires until data comes. Readable without the
   * body ({@link ShardLogStore.readHead}), for the watermark function deciding whether to sleep.
   */
  readonly idle?: boolean;
  /**
   * The earliest processing-time timer or window end pending on the shard after this entry, if any: the
   * watermark function ticks the shard then, and does not sleep while one is pending. Readable without the body.
   */
  readonly processingTimerMs?: number;
  /**
   * Source stages' shards silent for `idleAfter` that the shard does not take for idle until the watermark
   * function has looked in their source shard after the position given ('' from its start; see InputState's
   * `awaiting`). Readable without the body.
   */
  readonly awaiting?: Readonly<Record<string, string>>;
}

/** The latest entry of a log, without its body. */
export interface LogHead {
  readonly slot: number;
  readonly idle: boolean;
  readonly writtenAtMs: number;
  readonly processingTimerMs?: number;
  readonly awaiting?: Readonly<Record<string, string>>;
}

/** Where shard logs live: DynamoDB deployed, process memory in tests and the harness. */
export interface ShardLogStore {
  /**
   * Writes `entry` at its slot if that slot is free. False when another writer won it: the caller's state
   * is stale (or a zombie wrote first), and it must catch up with {@link readAfter} before trying again.
   */
  append(log: LogId, entry: LogEntry): Promise<boolean>;
  /** Every entry after `slot`, in slot order, as of now (strongly consistent). */
  readAfter(log: LogId, slot: number): Promise<LogEntry[]>;
  /** The latest snapshot and every entry after it, in slot order; the whole log when it has no snapshot; [] when empty. */
  readLatest(log: LogId): Promise<LogEntry[]>;
  /** The latest entry's slot and flags, without its body; undefined for an empty log. */
  readHead(log: LogId): Promise<LogHead | undefined>;
  /** The state format's version the state's owner recorded (the table's layout record), and where; undefined when none. */
  recordedSchemaVersion?(): Promise<{ readonly version: number; readonly holder: string } | undefined>;
}

export const logKey = (log: LogId): string => `${log.stageId}#${log.shardId}`;

/** DynamoDB bills a write per started KB of the item; a log item's keys and attributes add ~100 bytes. */
export const writeUnitsOf = (bodyBytes: number): number => Math.max(1, Math.ceil((bodyBytes + 100) / 1024));
