import { ShardState } from './shard-state';
import { logKey, type LogEntry, type LogId, type ShardLogStore } from './shard-log';
import { STATE_SCHEMA_VERSION, StateSchemaTooNewError } from './state-schema';

export interface ShardStatesOptions {
  /**
   * Bytes of state (as JSON, before compression) this container keeps across all the shards it has served (Lambda sends a
   * shard's next batch to any warm container, so one container may hold several). Least recently used
   * shards go first; they reload from the log when they come back. Default 64 MiB.
   */
  maxCachedBytes?: number;
  /**
   * One shard's state may not grow past this (bytes as JSON, before compression; memory holds about three times as much). A
   * batch that would pass it fails with {@link ShardStateTooLargeError} before anything is delivered.
   * Default 96 MiB, for a 512 MB function.
   */
  maxShardBytes?: number;
  /**
   * A snapshot replaces a delta once the deltas since the last snapshot outweigh it this many times (both
   * packed, as stored): catch-up then reads at most about (1 + this) snapshots' worth. Default 2.
   */
  snapshotAfterDeltaRatio?: number;
  /** A snapshot older than this is written again, so it never nears the store's retention. Default {@link SNAPSHOT_MAX_AGE_MS}. */
  snapshotMaxAgeMs?: number;
  clock?: () => number;
}

/**
 * A shard's latest snapshot is written again once it is this old, by the next batch — changed or not — so
 * it never nears the log's 7-day retention (TTL). A shard that runs no batch for this long gets one: the
 * watermark function ticks a shard whose log head is this old.
 */
export const SNAPSHOT_MAX_AGE_MS = 3 * 86_400_000;

/**
 * What a function of `memoryMb` may hold: its cache an eighth of the memory, one shard's state a fifth (as
 * JSON; in memory it takes about three times that), leaving room for the batch itself. 512 MB: 64 MiB of
 * cache, 102 MiB per shard. The deployment's alarm uses the same figure.
 */
export function stateLimitsFor(memoryMb: number): { maxCachedBytes: number; maxShardBytes: number } {
  return { maxCachedBytes: (memoryMb * 1_048_576) / 8, maxShardBytes: (memoryMb * 1_048_576) / 5 };
}

/** How the cache fared and what the log cost, for metrics and the catch-up benchmark. */
export interface ShardStateCounters {
  /** Batches whose cached state was already at the log's head. */
  hits: number;
  /** Batches whose cached state was behind and caught up with the entries after it. */
  caughtUp: number;
  /** Batches that found no cached state and loaded the latest snapshot and what follows. */
  loads: number;
  /** Log entries read to catch up or load. */
  entriesRead: number;
  bytesRead: number;
  appends: number;
  snapshots: number;
  bytesAppended: number;
  /** Appends that lost their slot to another writer (a zombie, or a container with a newer state). */
  lostSlots: number;
}

/** A shard whose state has outgrown what a function may hold. */
export class ShardStateTooLargeError extends Error {
  constructor(
    readonly log: LogId,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `keyed state of stage ${log.stageId}, shard ${log.shardId} is ${mb(bytes)} as JSON, over the ${mb(limit)} one shard may hold: ` +
        'give the stage more shards (its keys spread over them) or its function more memory, or keep less state per key (a TTL, smaller windows)',
    );
    this.name = 'ShardStateTooLargeError';
  }
}

const mb = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MiB`;

interface Cached {
  state: ShardState;
  /** The latest snapshot's size and time, and the bytes of the deltas written since (all as stored: packed). */
  snapshotBytes: number;
  snapshotAtMs: number;
  deltaBytesSinceSnapshot: number;
}

/**
 * A container's keyed shards: their state in memory, kept current with the log. `current` reads the
 * entries after the cached slot first (a strongly consistent query, usually empty): a batch must never
 * run on a stale state, since what it delivers before committing would be wrong. A batch then goes
 * `prepare` (pack, check the size) → deliver its outputs → `commit` (append at the next slot). Losing the
 * slot means another writer got there first, and the caller runs the batch again on the state `current`
 * then returns: outputs are a function of the log, so what it delivered was right.
 */
export class ShardStates {
  readonly counters: ShardStateCounters = { hits: 0, caughtUp: 0, loads: 0, entriesRead: 0, bytesRead: 0, appends: 0, snapshots: 0, bytesAppended: 0, lostSlots: 0 };
  /** Insertion order is recency order: a use moves a shard to the end. */
  private readonly cache = new Map<string, Cached>();
  /** The state's schema version was read and is one this shardflow reads (see checkSchema). */
  private schemaChecked = false;
  private readonly maxCachedBytes: number;
  private readonly maxShardBytes: number;
  private readonly snapshotAfterDeltaRatio: number;
  private readonly snapshotMaxAgeMs: number;
  private readonly clock: () => number;

  constructor(
    private readonly store: ShardLogStore,
    private readonly options: ShardStatesOptions = {},
  ) {
    this.maxCachedBytes = options.maxCachedBytes ?? 64 * 1_048_576;
    this.maxShardBytes = options.maxShardBytes ?? 96 * 1_048_576;
    this.snapshotAfterDeltaRatio = options.snapshotAfterDeltaRatio ?? 2;
    this.snapshotMaxAgeMs = options.snapshotMaxAgeMs ?? SNAPSHOT_MAX_AGE_MS;
    this.clock = options.clock ?? Date.now;
  }

  /** The shard's state at the log's head. */
  async current(log: LogId): Promise<ShardState> {
    const key = logKey(log);
    const cached = this.cache.get(key);
    if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      const after = await this.store.readAfter(log, cached.state.slot);
      if (after.length === 0) {
        this.counters.hits += 1;
        return cached.state;
      }
      if (after[0]!.slot === cached.state.slot + 1) {
        this.counters.caughtUp += 1;
        this.applyAll(cached, after);
        return cached.state;
      }
      // The entries right after the cached slot are gone (expired): start again from the latest snapshot.
      this.cache.delete(key);
    }
    this.counters.loads += 1;
    await this.checkSchema();
    const entries = await this.store.readLatest(log);
    // Without a snapshot yet, the log's first entry is what must not reach the store's retention.
    const loaded: Cached = { state: new ShardState(), snapshotBytes: 0, snapshotAtMs: entries[0]?.writtenAtMs ?? this.clock(), deltaBytesSinceSnapshot: 0 };
    this.applyAll(loaded, entries);
    this.cache.set(key, loaded);
    this.evictBeyondLimit(key);
    return loaded.state;
  }

  /**
   * Packs what the batch changed as the next entry — a delta, or a snapshot when the deltas since the
   * last one outweigh it (catch-up then never reads much more than the state) or it has grown old — and
   * checks the shard's size: call it before delivering the batch's outputs, so a shard past its limit
   * fails before anything leaves. Undefined when the batch changed nothing. `processingTimerMs`: the
   * shard's earliest pending processing-time timer, for the entry's head (see {@link LogEntry}).
   */
  prepare(log: LogId, state: ShardState, processingTimerMs?: number): LogEntry | undefined {
    const cached = this.cached(log, state);
    const now = this.clock();
    const snapshotTooOld = now - cached.snapshotAtMs >= this.snapshotMaxAgeMs;
    // A batch that changed nothing still refreshes an old snapshot (an idle shard's state must outlive the TTL).
    if (!state.changed && !(snapshotTooOld && state.slot > 0)) return undefined;
    let snapshot = !state.changed;
    const awaiting = state.awaitingInputs();
    let body: Uint8Array;
    if (snapshot) body = state.takeSnapshot();
    else {
      // Packing the delta also sizes the keys it names: the limit is checked on the state after the batch.
      body = state.takeDelta()!;
      if (state.bytes > this.maxShardBytes) {
        this.drop(log);
        throw new ShardStateTooLargeError(log, state.bytes, this.maxShardBytes);
      }
      snapshot = cached.deltaBytesSinceSnapshot + body.byteLength >= this.snapshotAfterDeltaRatio * Math.max(cached.snapshotBytes, 4096) || snapshotTooOld;
      if (snapshot) body = state.takeSnapshot();
    }
    return {
      slot: state.slot + 1,
      kind: snapshot ? 'snapshot' : 'delta',
      body,
      writtenAtMs: now,
      ...(state.allInputsIdle && { idle: true }),
      ...(processingTimerMs !== undefined && { processingTimerMs }),
      ...(awaiting && { awaiting }),
    };
  }

  /**
   * Appends a prepared entry at its slot. 'lost': another writer took the slot; the cached state is
   * dropped, and `current` reloads it for the batch to run again.
   */
  async commit(log: LogId, state: ShardState, entry: LogEntry | undefined): Promise<'appended' | 'unchanged' | 'lost'> {
    const cached = this.cached(log, state);
    if (!entry) return 'unchanged';
    if (!(await this.store.append(log, entry))) {
      this.counters.lostSlots += 1;
      this.drop(log);
      return 'lost';
    }
    state.slot = entry.slot;
    this.counters.appends += 1;
    this.counters.bytesAppended += entry.body.byteLength;
    if (entry.kind === 'snapshot') {
      this.counters.snapshots += 1;
      cached.snapshotBytes = entry.body.byteLength;
      cached.snapshotAtMs = entry.writtenAtMs;
      cached.deltaBytesSinceSnapshot = 0;
    } else {
      cached.deltaBytesSinceSnapshot += entry.body.byteLength;
    }
    this.evictBeyondLimit(logKey(log));
    return 'appended';
  }

  private cached(log: LogId, state: ShardState): Cached {
    const cached = this.cache.get(logKey(log));
    if (!cached || cached.state !== state) throw new Error(`a state not taken from current() for ${logKey(log)}, or dropped since`);
    return cached;
  }

  /**
   * Another container's cache over the same logs, empty: what a second warm container or a zombie
   * invocation holds (the chaos runs put batches there, lib/io/container-faults.ts).
   */
  /**
   * Before this container first loads a shard: the state's recorded schema version must be one this
   * shardflow reads (a newer one is refused with {@link StateSchemaTooNewError}). Checked once per container
   * when it passes; a refusal is checked again at the next load (the batch is retried).
   */
  private async checkSchema(): Promise<void> {
    if (this.schemaChecked || !this.store.recordedSchemaVersion) return;
    const recorded = await this.store.recordedSchemaVersion();
    if (recorded && recorded.version > STATE_SCHEMA_VERSION) throw new StateSchemaTooNewError(recorded.holder, recorded.version);
    this.schemaChecked = true;
  }

  another(): ShardStates {
    return new ShardStates(this.store, this.options);
  }

  /** The slot of the log's latest entry, 0 for an empty log: whether anyone appended since a given slot. */
  async headSlot(log: LogId): Promise<number> {
    return (await this.store.readHead(log))?.slot ?? 0;
  }

  /** Forgets a shard's state (a batch failed half-way through changing it): the next `current` reloads it. */
  drop(log: LogId): void {
    this.cache.delete(logKey(log));
  }

  /** Bytes (as JSON) of a cached shard's state (0 when not cached), for metrics. */
  bytesOf(log: LogId): number {
    return this.cache.get(logKey(log))?.state.bytes ?? 0;
  }

  /** Bytes (as JSON) of every cached shard, for metrics and the dashboard. */
  cachedBytes(): { shard: string; bytes: number; keys: number }[] {
    return [...this.cache].map(([shard, c]) => ({ shard, bytes: c.state.bytes, keys: c.state.keyCount }));
  }

  private applyAll(cached: Cached, entries: readonly LogEntry[]): void {
    for (const e of entries) {
      cached.state.apply(e.kind, e.slot, e.body);
      this.counters.entriesRead += 1;
      this.counters.bytesRead += e.body.byteLength;
      if (e.kind === 'snapshot') {
        cached.snapshotBytes = e.body.byteLength;
        cached.snapshotAtMs = e.writtenAtMs;
        cached.deltaBytesSinceSnapshot = 0;
      } else {
        cached.deltaBytesSinceSnapshot += e.body.byteLength;
      }
    }
  }

  /** Drops least recently used shards until the cache fits, never the one in use. */
  private evictBeyondLimit(inUse: string): void {
    let total = 0;
    for (const c of this.cache.values()) total += c.state.bytes;
    for (const [key, c] of this.cache) {
      if (total <= this.maxCachedBytes) break;
      if (key === inUse) continue;
      this.cache.delete(key);
      total -= c.state.bytes;
    }
  }
}
