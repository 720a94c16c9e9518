import { logKey, writeUnitsOf, type LogEntry, type LogHead, type LogId, type ShardLogStore } from '../shard-log';

/**
 * Shard logs in process memory, for tests, the harness and benchmarks: the same one-winner-per-slot rule
 * as DynamoDB's conditional put. Entries are copied in and out, so no caller can change a written entry.
 */
export class MemoryLogStore implements ShardLogStore {
  private readonly logs = new Map<string, Map<number, LogEntry>>();
  /** What DynamoDB would bill: appends that won, appends refused (billed too), bytes, write units (per started KB). */
  readonly counters = { appends: 0, refused: 0, bytes: 0, writeUnits: 0 };

  async append(log: LogId, entry: LogEntry): Promise<boolean> {
    const key = logKey(log);
    let entries = this.logs.get(key);
    if (!entries) this.logs.set(key, (entries = new Map()));
    this.counters.writeUnits += writeUnitsOf(entry.body.byteLength);
    if (entries.has(entry.slot)) {
      this.counters.refused += 1;
      return false;
    }
    entries.set(entry.slot, copy(entry));
    this.counters.appends += 1;
    this.counters.bytes += entry.body.byteLength;
    return true;
  }

  async readAfter(log: LogId, slot: number): Promise<LogEntry[]> {
    return this.sorted(log)
      .filter((e) => e.slot > slot)
      .map(copy);
  }

  async readLatest(log: LogId): Promise<LogEntry[]> {
    const entries = this.sorted(log);
    let from = 0;
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i]!.kind === 'snapshot') {
        from = i;
        break;
      }
    }
    return entries.slice(from).map(copy);
  }

  async readHead(log: LogId): Promise<LogHead | undefined> {
    const last = this.sorted(log).at(-1);
    return last && { slot: last.slot, idle: last.idle === true, writtenAtMs: last.writtenAtMs, ...(last.processingTimerMs !== undefined && { processingTimerMs: last.processingTimerMs }), ...(last.awaiting && { awaiting: last.awaiting }) };
  }

  private sorted(log: LogId): LogEntry[] {
    return [...(this.logs.get(logKey(log))?.values() ?? [])].sort((a, b) => a.slot - b.slot);
  }
}

/** A copy of the bytes too (`Buffer#slice` would share them). */
const copy = (e: LogEntry): LogEntry => ({ ...e, body: Uint8Array.from(e.body) });
