/**
 * Checkpoint arithmetic for one shard. Records finish out of order once a shard has several lanes
 * (ParallelizationFactor), but a Kinesis checkpoint is one sequence number: "everything up to here is
 * done". So the checkpoint may only move to the end of the longest prefix of finished records — the
 * record just before the lowest sequence number still pending in any lane.
 */

interface Entry {
  readonly sequenceNumber: string;
  readonly arrivalMs: number;
  done: boolean;
}

/**
 * Tracks the records of one shard from the moment they are read until they are checkpointed.
 *
 * @example
 * ```ts
 * const t = new CheckpointTracker();
 * t.add('1', 0); t.add('2', 0); t.add('3', 0);
 * t.markDone(['2', '3']); t.checkpoint // undefined: '1' is still pending
 * t.markDone(['1']);      t.checkpoint // '3'
 * ```
 */
export class CheckpointTracker {
  private entries: Entry[] = [];
  private head = 0;
  private readonly bySequence = new Map<string, Entry>();
  private last: string | undefined;

  /** @param initial - the checkpoint the shard resumed from, if any. */
  constructor(initial?: string) {
    this.last = initial;
  }

  /** Registers a record just read; records must be added in shard order. */
  add(sequenceNumber: string, arrivalMs: number): void {
    const entry: Entry = { sequenceNumber, arrivalMs, done: false };
    this.entries.push(entry);
    this.bySequence.set(sequenceNumber, entry);
  }

  /** Marks records finished (processed or discarded) and moves the checkpoint as far as the finished prefix reaches. */
  markDone(sequenceNumbers: Iterable<string>): void {
    for (const sequenceNumber of sequenceNumbers) {
      const entry = this.bySequence.get(sequenceNumber);
      if (entry) entry.done = true;
    }
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!;
      if (!entry.done) break;
      this.last = entry.sequenceNumber;
      this.bySequence.delete(entry.sequenceNumber);
      this.head++;
    }
    // Drop the checkpointed prefix now and then, so a long-running shard does not keep every record.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** The last sequence number of the finished prefix: what may be saved as the shard's checkpoint. */
  get checkpoint(): string | undefined {
    return this.last;
  }

  /** Records read but not yet behind the checkpoint. */
  get pending(): number {
    return this.entries.length - this.head;
  }

  /** Arrival time of the oldest record not yet behind the checkpoint, if any. */
  oldestPendingArrivalMs(): number | undefined {
    return this.entries[this.head]?.arrivalMs;
  }
}
