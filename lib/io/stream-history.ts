import { DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';

// A stream's history for `shardflow run --from-stream`: a bounded read, in the order Lambda's event source
// mapping delivered it live. Only the CLI imports this; nothing in a stage function does.

/** Where a backfill starts: the oldest record the stream keeps, or the first that arrived at or after `ms`. */
export type HistoryStart = { readonly kind: 'trim-horizon' } | { readonly kind: 'at-timestamp'; readonly ms: number };

/** One record of the stream, as Kinesis gives it back. */
export interface HistoryRecord {
  readonly kind: 'record';
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** ApproximateArrivalTimestamp, epoch ms. */
  readonly arrivalMs: number;
}

/**
 * A shard a reshard closed, read to its end: its children come next. Live, the watermark function's ticks
 * say so, and the stages after it stop waiting for it.
 */
export interface ShardEnd {
  readonly kind: 'end';
  readonly shardId: string;
  /** Its last record's arrival (0 when none was read): where it falls among other streams' records. */
  readonly arrivalMs: number;
}

/** Options of {@link StreamHistory.open}. */
export interface HistoryOptions {
  readonly from: HistoryStart;
  /** Records that arrived after this (epoch ms) are left out: the end of the bounded input. */
  readonly untilMs: number;
  /** Where the stream is, for messages ('http://localhost:4566', 'AWS'). */
  readonly where: string;
  /** After each GetRecords page: the shard and how many of its records were kept. */
  readonly onPage?: (shardId: string, records: number) => void;
  /** A call was throttled; the read waits `waitMs` before trying it again. */
  readonly onThrottled?: (shardId: string | undefined, waitMs: number) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly nowMs?: () => number;
}

/** A stream that cannot be read as asked: one line that says what to do. */
export class StreamHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamHistoryError';
  }
}

/** GetRecords' largest page. */
const PAGE_LIMIT = 10_000;
/** Kinesis' answers to a reader over its limits (5 GetRecords calls and 2 MB a second per shard). */
const THROTTLED = new Set(['ProvisionedThroughputExceededException', 'LimitExceededException']);
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;
/** Throttled calls in a row before giving up: about a minute of backing off. */
const MAX_THROTTLED = 15;

/** A shard being read: its records fetched and not yet handed on, and where to go on from. */
interface ShardCursor {
  readonly id: string;
  /** Its parents among the listed shards (a split's one, a merge's two): read before it, as Lambda does. */
  readonly parents: readonly string[];
  iterator: string | undefined;
  /** The last sequence number fetched, to start again after an expired iterator. */
  lastSequence: string | undefined;
  page: HistoryRecord[];
  next: number;
  /** Nothing more to fetch: a closed shard read to its end, or an open one read up to `untilMs` or its tip. */
  fetchedAll: boolean;
  /** Kinesis said it is closed and read to its end (no next iterator). */
  closed: boolean;
  endReported: boolean;
  lastArrivalMs: number;
}

const exhausted = (c: ShardCursor): boolean => c.fetchedAll && c.next >= c.page.length;

/**
 * A stream's records from a start position up to a moment, every shard — closed parents included, each
 * before its children (ListShards' ParentShardId / AdjacentParentShardId), as Lambda's event source mapping
 * orders them. The shards whose parents are done are read side by side and merged by arrival time, as
 * concurrent shards were delivered live; each shard's own order is kept.
 * @example
 * const history = await StreamHistory.open(kinesis, 'clicks', { from: { kind: 'trim-horizon' }, untilMs: Date.now(), where: 'AWS' });
 * for await (const record of history.records()) console.log(record.partitionKey, Buffer.from(record.data).toString());
 */
export class StreamHistory {
  private constructor(
    private readonly kinesis: Pick<KinesisClient, 'send'>,
    readonly stream: string,
    /** Every shard, in ListShards' order. */
    readonly shards: readonly Shard[],
    private readonly options: HistoryOptions,
  ) {}

  /** Checks that the stream exists and keeps `from`, and lists its shards. */
  static async open(kinesis: Pick<KinesisClient, 'send'>, stream: string, options: HistoryOptions): Promise<StreamHistory> {
    const reader = new StreamHistory(kinesis, stream, [], options);
    const summary = await reader.call(undefined, () => kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream })));
    const retentionHours = summary.StreamDescriptionSummary?.RetentionPeriodHours ?? 24;
    const now = (options.nowMs ?? Date.now)();
    const oldestKeptMs = now - retentionHours * 3_600_000;
    // Kinesis itself would quietly start at the oldest record it still has: say so instead.
    if (options.from.kind === 'at-timestamp' && options.from.ms < oldestKeptMs) {
      throw new StreamHistoryError(
        `--at ${new Date(options.from.ms).toISOString()} is before what stream '${stream}' keeps: its retention is ${retentionHours} hours (records since ${new Date(oldestKeptMs).toISOString()}); use a later --at, or --at TRIM_HORIZON for all it has`,
      );
    }
    const shards: Shard[] = [];
    let token: string | undefined;
    do {
      const page = await reader.call(undefined, () => kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream })));
      shards.push(...(page.Shards ?? []));
      token = page.NextToken;
    } while (token);
    return new StreamHistory(kinesis, stream, shards, options);
  }

  /** The shards without a listed parent: the first to read. */
  get roots(): string[] {
    const listed = new Set(this.shards.map((s) => s.ShardId!));
    return this.shards.filter((s) => ![s.ParentShardId, s.AdjacentParentShardId].some((p) => p !== undefined && listed.has(p))).map((s) => s.ShardId!);
  }

  /** The shards a split or merge of `shardId` made. */
  childrenOf(shardId: string): string[] {
    return this.shards.filter((s) => s.ParentShardId === shardId || s.AdjacentParentShardId === shardId).map((s) => s.ShardId!);
  }

  /** The records, parents before children, concurrent shards merged by arrival time; each closed shard's end after its last record. */
  async *records(): AsyncGenerator<HistoryRecord | ShardEnd> {
    const listed = new Set(this.shards.map((s) => s.ShardId!));
    const cursors = this.shards.map(
      (s): ShardCursor => ({
        id: s.ShardId!,
        // A parent past retention is no longer listed: nothing of it is left to wait for.
        parents: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p !== undefined && listed.has(p)),
        iterator: undefined,
        lastSequence: undefined,
        page: [],
        next: 0,
        fetchedAll: false,
        closed: false,
        endReported: false,
        lastArrivalMs: 0,
      }),
    );
    const byId = new Map(cursors.map((c) => [c.id, c]));
    for (;;) {
      for (const c of cursors) {
        if (!c.closed || c.endReported || !exhausted(c)) continue;
        c.endReported = true;
        yield { kind: 'end', shardId: c.id, arrivalMs: c.lastArrivalMs };
      }
      const ready = cursors.filter((c) => !exhausted(c) && c.parents.every((p) => exhausted(byId.get(p)!)));
      if (ready.length === 0) return;
      for (const c of ready) while (c.next >= c.page.length && !c.fetchedAll) await this.fetch(c);
      let earliest: ShardCursor | undefined;
      for (const c of ready) {
        if (c.next >= c.page.length) continue;
        if (!earliest || c.page[c.next]!.arrivalMs < earliest.page[earliest.next]!.arrivalMs) earliest = c;
      }
      // None left among these: their children may be ready now.
      if (!earliest) continue;
      const record = earliest.page[earliest.next++]!;
      earliest.lastArrivalMs = record.arrivalMs;
      yield record;
    }
  }

  /** One GetRecords page of a shard (a new iterator first, or again after one expired). */
  private async fetch(c: ShardCursor): Promise<void> {
    c.iterator ??= await this.iteratorOf(c);
    let page;
    try {
      page = await this.call(c.id, () => this.kinesis.send(new GetRecordsCommand({ ShardIterator: c.iterator, Limit: PAGE_LIMIT })));
    } catch (e) {
      // An iterator lasts 5 minutes: a slow job can outlive it. Start again after the last record fetched.
      if ((e as Error).name !== 'ExpiredIteratorException') throw e;
      c.iterator = undefined;
      return;
    }
    const records = (page.Records ?? []).map(
      (r): HistoryRecord => ({ kind: 'record', shardId: c.id, sequenceNumber: r.SequenceNumber!, partitionKey: r.PartitionKey!, data: r.Data ?? new Uint8Array(), arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0 }),
    );
    const kept = records.filter((r) => r.arrivalMs <= this.options.untilMs);
    c.page = kept;
    c.next = 0;
    c.lastSequence = records.at(-1)?.sequenceNumber ?? c.lastSequence;
    c.iterator = page.NextShardIterator;
    c.closed = c.iterator === undefined;
    // A shard's records arrive in sequence order, so one past `untilMs` ends it; a closed shard ends with no
    // next iterator; an open one ends at its tip (an empty page, nothing behind).
    c.fetchedAll = kept.length < records.length || c.iterator === undefined || (records.length === 0 && (page.MillisBehindLatest ?? 0) === 0);
    this.options.onPage?.(c.id, kept.length);
  }

  private async iteratorOf(c: ShardCursor): Promise<string | undefined> {
    const { from } = this.options;
    const position =
      c.lastSequence !== undefined
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: c.lastSequence }
        : from.kind === 'at-timestamp'
          ? { ShardIteratorType: 'AT_TIMESTAMP' as const, Timestamp: new Date(from.ms) }
          : { ShardIteratorType: 'TRIM_HORIZON' as const };
    const out = await this.call(c.id, () => this.kinesis.send(new GetShardIteratorCommand({ StreamName: this.stream, ShardId: c.id, ...position })));
    return out.ShardIterator;
  }

  /** A call, backing off while Kinesis throttles it; a missing stream or endpoint said plainly. */
  private async call<T>(shardId: string | undefined, send: () => Promise<T>): Promise<T> {
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (e) {
        const name = (e as Error).name;
        if (name === 'ResourceNotFoundException') throw new StreamHistoryError(`no stream '${this.stream}' at ${this.options.where}: name the stream to read, and start \`shardflow dev JOB\` first or pass --endpoint / --deployed`);
        if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') throw new StreamHistoryError(`nothing answers at ${this.options.where}: start \`shardflow dev JOB\` first, or pass --endpoint / --deployed`);
        if (!THROTTLED.has(name)) throw e;
        if (attempt === MAX_THROTTLED) {
          throw new StreamHistoryError(`stream '${this.stream}'${shardId ? ` shard ${shardId}` : ''} stayed throttled (${name}) through ${MAX_THROTTLED} tries: other readers use its limits (5 reads/s per shard); try again when they are quieter`);
        }
        const waitMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1));
        this.options.onThrottled?.(shardId, waitMs);
        await sleep(waitMs);
      }
    }
  }
}

/**
 * Several sequences, each in arrival order, as one in arrival order (ties: the earlier sequence first):
 * the records of several streams as the sources' functions read them side by side live.
 */
export async function* mergeByArrival<T extends { readonly arrivalMs: number }>(sequences: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sequences.map((s) => s[Symbol.asyncIterator]());
  const heads = await Promise.all(iterators.map((i) => i.next()));
  for (;;) {
    let earliest = -1;
    for (const [i, head] of heads.entries()) {
      if (!head.done && (earliest < 0 || head.value.arrivalMs < (heads[earliest]!.value as T).arrivalMs)) earliest = i;
    }
    if (earliest < 0) return;
    yield heads[earliest]!.value as T;
    heads[earliest] = await iterators[earliest]!.next();
  }
}
