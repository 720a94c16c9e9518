import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Origin } from '../runtime/records';
import { NO_WATERMARK } from '../time/watermark';

/** A position in one upstream shard (the shard is the map key it sits under). */
export type Position = Omit<Origin, 'shardId'>;

/** What a keyed shard knows of one upstream input (an upstream shard heard through envelopes and markers). */
export interface InputState {
  /** The highest watermark it has sent. */
  readonly watermarkMs: number;
  /**
   * When its last record arrived (Kinesis' ApproximateArrivalTimestamp): idleness is decided from the
   * stream itself, so a replay decides it the same way.
   */
  readonly heardAtMs: number;
  readonly idle: boolean;
  /**
   * The sender's position as of its latest marker (see Marker's `at`): for a keyed stage's shard, what its
   * status is as of; for a source stage's shard, the last source record it has read.
   */
  readonly statusAt?: string;
  /**
   * A source stage's shard silent for `idleAfter`, not yet idle: it goes idle once the watermark function has
   * found nothing in its source shard after `statusAt` (a stalled reader is not a quiet shard). The log's
   * head names such inputs for the watermark function (see LogEntry's `awaiting`).
   */
  readonly awaiting?: true;
  /** An idle keyed stage's shard: the earliest event time it may still emit at (see Marker's `owes`). */
  readonly owes?: number;
}

/**
 * Everything one keyed shard holds — per key the operator's state (open windows, sessions, count
 * windows, process state and timers), per upstream shard the last position applied and what it said of
 * event time, and the shard's watermark — in memory, as of log slot `slot`.
 *
 * A batch changes it in place and `takeDelta` packs what changed into the next log entry. A batch that
 * fails half-way leaves it half-changed: the caller then drops the whole state and reloads it from the
 * log ({@link ShardStates}), which is rare and keeps the hot path free of undo bookkeeping.
 */
export class ShardState {
  slot = 0;
  private watermark = NO_WATERMARK;
  private processingTime = 0;
  private readonly keyed = new Map<string, unknown>();
  private readonly marks = new Map<string, Position>();
  private readonly inputs = new Map<string, InputState>();
  /** What the open batch changed. */
  private readonly dirtyKeys = new Set<string>();
  private readonly dirtyMarks = new Set<string>();
  private readonly dirtyInputs = new Set<string>();
  private watermarkChanged = false;
  private processingTimeChanged = false;
  /**
   * Keys that log entries applied since the last `takeAppliedKeys` changed ('all' after a snapshot, or for a
   * fresh state): whoever keeps an index over the keys (which are due when) brings it up to date with them.
   */
  private appliedKeys: Set<string> | 'all' = 'all';
  /** Packed size of each key's state when last written: the state's size, for limits and metrics. */
  private readonly keyBytes = new Map<string, number>();
  private totalKeyBytes = 0;

  get watermarkMs(): number {
    return this.watermark;
  }

  /** The key's state, to read. */
  get(key: string): unknown {
    return this.keyed.get(key);
  }

  /** The key's state, to change in place: the batch's delta will carry it. */
  forUpdate(key: string): unknown {
    this.dirtyKeys.add(key);
    return this.keyed.get(key);
  }

  /** Sets (or, with undefined, removes) a key's state. */
  put(key: string, value: unknown): void {
    if (value === undefined) this.keyed.delete(key);
    else this.keyed.set(key, value);
    this.dirtyKeys.add(key);
  }

  keys(): IterableIterator<string> {
    return this.keyed.keys();
  }

  get keyCount(): number {
    return this.keyed.size;
  }

  mark(upstreamShard: string): Position | undefined {
    return this.marks.get(upstreamShard);
  }

  /** Every mark, by name (an upstream shard, or an inherited mark: lib/runtime/keyed/inheritance.ts). */
  allMarks(): IterableIterator<[string, Position]> {
    return this.marks.entries();
  }

  setMark(upstreamShard: string, position: Position): void {
    const before = this.marks.get(upstreamShard);
    if (before?.sequenceNumber === position.sequenceNumber && before.subIndex === position.subIndex) return;
    this.marks.set(upstreamShard, { sequenceNumber: position.sequenceNumber, subIndex: position.subIndex });
    this.dirtyMarks.add(upstreamShard);
  }

  input(upstreamShard: string): InputState | undefined {
    return this.inputs.get(upstreamShard);
  }

  allInputs(): IterableIterator<[string, InputState]> {
    return this.inputs.entries();
  }

  /** Sets what the shard knows of an input; the same again changes nothing (a replay must not append an entry). */
  setInput(upstreamShard: string, input: InputState): void {
    const before = this.inputs.get(upstreamShard);
    if (before && before.watermarkMs === input.watermarkMs && before.heardAtMs === input.heardAtMs && before.idle === input.idle && before.statusAt === input.statusAt && before.awaiting === input.awaiting && before.owes === input.owes) return;
    this.inputs.set(upstreamShard, input);
    this.dirtyInputs.add(upstreamShard);
  }

  /** Inputs awaiting the watermark function's word on their source shard, with the position to look after ('' for the shard's start). */
  awaitingInputs(): Record<string, string> | undefined {
    let awaiting: Record<string, string> | undefined;
    for (const [u, input] of this.inputs) if (input.awaiting) (awaiting ??= {})[u] = input.statusAt ?? '';
    return awaiting;
  }

  /** Whether the shard has inputs and every one is idle: nothing fires until data comes. */
  get allInputsIdle(): boolean {
    if (this.inputs.size === 0) return false;
    for (const input of this.inputs.values()) if (!input.idle) return false;
    return true;
  }

  setWatermark(watermarkMs: number): void {
    if (watermarkMs === this.watermark) return;
    this.watermark = watermarkMs;
    this.watermarkChanged = true;
  }

  /**
   * The shard's processing time: the highest Kinesis arrival time among the records that moved it (see
   * KeyedShardRun). Kept in the log, so that processing time never goes back, on any container.
   */
  get processingTimeMs(): number {
    return this.processingTime;
  }

  setProcessingTime(processingTimeMs: number): void {
    if (processingTimeMs <= this.processingTime) return;
    this.processingTime = processingTimeMs;
    this.processingTimeChanged = true;
  }

  /** Whether the open batch changed anything. */
  get changed(): boolean {
    return this.watermarkChanged || this.processingTimeChanged || this.dirtyKeys.size > 0 || this.dirtyMarks.size > 0 || this.dirtyInputs.size > 0;
  }

  /**
   * The state's size as JSON (before compression), as of the last packing: about a third of what it takes
   * in memory. A batch's own changes count once `takeDelta` has packed them.
   */
  get bytes(): number {
    return this.totalKeyBytes + 64 * (this.marks.size + this.inputs.size);
  }

  /** The open batch's changes, packed, or undefined when it changed nothing. Ends the batch. */
  takeDelta(): Uint8Array | undefined {
    if (!this.changed) return undefined;
    const wire: Wire = { w: this.watermark, ...(this.processingTime !== 0 && { p: this.processingTime }) };
    if (this.dirtyMarks.size > 0) wire.m = Object.fromEntries([...this.dirtyMarks].map((s) => [s, packPosition(this.marks.get(s)!)]));
    if (this.dirtyInputs.size > 0) wire.i = Object.fromEntries([...this.dirtyInputs].map((s) => [s, packInput(this.inputs.get(s)!)]));
    const keys = this.dirtyKeys.size > 0 ? [...this.dirtyKeys].map((key) => this.packKey(key)) : undefined;
    this.clearDirty();
    return pack(wire, keys);
  }

  /** Everything, packed: a snapshot. Ends the open batch too. */
  takeSnapshot(): Uint8Array {
    this.clearDirty();
    return pack(
      {
        w: this.watermark,
        ...(this.processingTime !== 0 && { p: this.processingTime }),
        m: Object.fromEntries([...this.marks].map(([s, p]) => [s, packPosition(p)])),
        i: Object.fromEntries([...this.inputs].map(([s, input]) => [s, packInput(input)])),
      },
      [...this.keyed.keys()].map((key) => this.packKey(key)),
    );
  }

  /** The keys log entries changed since the last call (see `appliedKeys`). */
  takeAppliedKeys(): ReadonlySet<string> | 'all' {
    const applied = this.appliedKeys;
    this.appliedKeys = new Set();
    return applied;
  }

  /** Applies a log entry on top: a snapshot replaces everything, a delta sets what it names. */
  apply(kind: 'delta' | 'snapshot', slot: number, body: Uint8Array): void {
    const wire = unpack(body);
    if (kind === 'snapshot') {
      this.appliedKeys = 'all';
      this.keyed.clear();
      this.marks.clear();
      this.inputs.clear();
      this.keyBytes.clear();
      this.totalKeyBytes = 0;
    }
    this.watermark = wire.w;
    this.processingTime = wire.p ?? 0;
    for (const [s, p] of Object.entries(wire.m ?? {})) this.marks.set(s, unpackPosition(p));
    for (const [s, i] of Object.entries(wire.i ?? {})) this.inputs.set(s, unpackInput(i));
    for (const [key, value, bytes] of wire.k ?? []) {
      if (value === null) this.keyed.delete(key);
      else this.keyed.set(key, value);
      this.sizeKey(key, value === null ? 0 : bytes);
      if (this.appliedKeys !== 'all') this.appliedKeys.add(key);
    }
    this.slot = slot;
    this.clearDirty();
  }

  /** A key as its {@link WireKey}'s JSON text: the value is stringified once, for its size and the entry alike. */
  private packKey(key: string): string {
    const value = this.keyed.get(key);
    const json = value === undefined ? undefined : JSON.stringify(value);
    // The size rides along, so a reader learns it without packing every key again.
    const bytes = json === undefined ? 0 : key.length + json.length;
    this.sizeKey(key, bytes);
    return `[${JSON.stringify(key)},${json ?? 'null'},${bytes}]`;
  }

  private sizeKey(key: string, bytes: number): void {
    this.totalKeyBytes += bytes - (this.keyBytes.get(key) ?? 0);
    if (bytes === 0) this.keyBytes.delete(key);
    else this.keyBytes.set(key, bytes);
  }

  private clearDirty(): void {
    this.dirtyKeys.clear();
    this.dirtyMarks.clear();
    this.dirtyInputs.clear();
    this.watermarkChanged = false;
    this.processingTimeChanged = false;
  }
}

/** One key on the wire: its state (null: removed) and packed size. */
type WireKey = [key: string, value: unknown, bytes: number];
/** An entry on the wire, before compression: watermark, processing time (absent: 0), marks, inputs, keys. */
interface Wire {
  w: number;
  p?: number;
  m?: Record<string, string>;
  /** idle: 0 active, 1 idle, 2 active and awaiting (see InputState). */
  i?: Record<string, [watermarkMs: number, heardAtMs: number, idle: 0 | 1 | 2, statusAt?: string, owes?: number]>;
  k?: WireKey[];
}

/**
 * JSON, then raw deflate: keys and sequence numbers repeat a lot, and DynamoDB bills per started KB. The
 * keys come as their JSON text already (see `packKey`), spliced in as the `k` array.
 */
function pack(wire: Omit<Wire, 'k'>, keys: readonly string[] | undefined): Uint8Array {
  const head = JSON.stringify(wire);
  const text = keys ? `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"k":[${keys.join(',')}]}` : head;
  return deflateRawSync(Buffer.from(text), { level: 6 });
}
const unpack = (body: Uint8Array): Wire => JSON.parse(inflateRawSync(body).toString('utf8')) as Wire;
const packPosition = (p: Position): string => `${p.sequenceNumber}.${p.subIndex}`;
function unpackPosition(packed: string): Position {
  const dot = packed.lastIndexOf('.');
  return { sequenceNumber: packed.slice(0, dot), subIndex: Number(packed.slice(dot + 1)) };
}
// The status position and the owed time came later (an older shardflow reads the first three and ignores the
// rest). An input owes only after a marker, which has a position: without one the time is not kept.
function packInput(i: InputState): [number, number, 0 | 1 | 2, string?, number?] {
  const idle = i.idle ? 1 : i.awaiting ? 2 : 0;
  if (i.statusAt === undefined) return [i.watermarkMs, i.heardAtMs, idle];
  return i.owes === undefined ? [i.watermarkMs, i.heardAtMs, idle, i.statusAt] : [i.watermarkMs, i.heardAtMs, idle, i.statusAt, i.owes];
}
const unpackInput = ([watermarkMs, heardAtMs, idle, statusAt, owes]: [number, number, 0 | 1 | 2, string?, number?]): InputState => ({
  watermarkMs,
  heardAtMs,
  idle: idle === 1,
  ...(statusAt !== undefined && { statusAt }),
  ...(idle === 2 && { awaiting: true as const }),
  ...(owes !== undefined && { owes }),
});
