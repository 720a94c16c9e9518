import { ListShardsCommand, PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { ShardRange } from './shard-map';

/** One record to put. */
export interface PutEntry {
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Picks the shard directly (markers address every shard). */
  readonly explicitHashKey?: string;
}

/** A list of entries that must land in this order (pieces of a split envelope). */
export type Chain = readonly PutEntry[];

const MAX_RECORDS_PER_CALL = 500;
const MAX_BYTES_PER_CALL = 5 * 1024 * 1024;
/** Rounds in a row with nothing accepted before {@link KinesisWriter.put} gives up. */
const MAX_STALLED_ROUNDS = 12;

/** What the writer sent, for metrics and the cost model. */
export interface KinesisCounters {
  calls: number;
  records: number;
  bytes: number;
  throttled: number;
}

/**
 * Puts records with PutRecords, retrying only the entries that failed (throttling or internal errors)
 * with jittered exponential backoff, until {@link MAX_STALLED_ROUNDS} rounds in a row land nothing. Each chain's entries land in order: a chain's next entry is sent only
 * after the previous one was accepted.
 */
export class KinesisWriter {
  readonly counters: KinesisCounters = { calls: 0, records: 0, bytes: 0, throttled: 0 };
  private shardCache: { at: number; ranges: ShardRange[] } | undefined;

  constructor(
    private readonly kinesis: KinesisClient,
    readonly stream: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Puts every chain; returns, per chain and entry, the shard it landed on (Kinesis' answer). */
  async put(chains: readonly Chain[]): Promise<string[][]> {
    const next = chains.map(() => 0);
    const landed: string[][] = chains.map(() => []);
    // Rounds in a row in which the stream accepted nothing. A round that lands anything resets it: a long
    // chain needs one round per entry and must not run out of retries without a single refusal.
    let stalledRounds = 0;
    for (;;) {
      const pending: { chain: number; entry: PutEntry }[] = [];
      chains.forEach((chain, i) => {
        const entry = chain[next[i]!];
        if (entry) pending.push({ chain: i, entry });
      });
      if (pending.length === 0) return landed;
      let accepted = 0;
      const errorCodes = new Map<string, number>();
      for (const call of callsOf(pending)) {
        const entries: PutRecordsRequestEntry[] = call.map(({ entry }) => ({
          PartitionKey: entry.partitionKey,
          Data: entry.data,
          ...(entry.explicitHashKey !== undefined && { ExplicitHashKey: entry.explicitHashKey }),
        }));
        this.counters.calls += 1;
        const response = await this.kinesis.send(new PutRecordsCommand({ StreamName: this.stream, Records: entries }));
        call.forEach((p, i) => {
          // An entry the response has no result for did not land as far as we know: send it again.
          const result = response.Records?.[i];
          const code = result ? result.ErrorCode : 'NoResultForEntry';
          if (code) {
            errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
            if (code === 'ProvisionedThroughputExceededException') this.counters.throttled += 1;
          } else {
            accepted += 1;
            landed[p.chain]!.push(result?.ShardId ?? '');
            next[p.chain]! += 1;
            this.counters.records += 1;
            this.counters.bytes += p.entry.data.length;
          }
        });
      }
      if (errorCodes.size === 0) continue;
      stalledRounds = accepted > 0 ? 0 : stalledRounds + 1;
      if (stalledRounds >= MAX_STALLED_ROUNDS) {
        const codes = [...errorCodes].map(([code, n]) => `${code} ×${n}`).join(', ');
        throw new Error(
          `Kinesis stream ${this.stream} refused all ${pending.length} pending records in ${stalledRounds} rounds in a row (last errors: ${codes}); ` +
            'if it is throttling, give the stream more shards or send less at once',
        );
      }
      await this.sleep(backoffMs(stalledRounds));
    }
  }

  /**
   * The stream's open shards and their hash ranges, cached for a minute. A reshard makes the cache stale:
   * a record addressed to a closed shard's hash key lands on the open shard that owns it now, which the
   * shards `put` reports show; {@link forgetShards} then makes the next call list them again.
   */
  async openShards(nowMs = Date.now()): Promise<ShardRange[]> {
    if (this.shardCache && nowMs - this.shardCache.at < 60_000) return this.shardCache.ranges;
    const ranges: ShardRange[] = [];
    let token: string | undefined;
    do {
      const page = await this.kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: this.stream }));
      for (const shard of page.Shards ?? []) {
        const range = shard.HashKeyRange;
        if (shard.SequenceNumberRange?.EndingSequenceNumber === undefined && range?.StartingHashKey && range.EndingHashKey) {
          ranges.push({ shardId: shard.ShardId!, startingHashKey: BigInt(range.StartingHashKey), endingHashKey: BigInt(range.EndingHashKey) });
        }
      }
      token = page.NextToken;
    } while (token);
    this.shardCache = { at: nowMs, ranges };
    return ranges;
  }

  /** Drops the cached shard list: the stream was resharded since it was read. */
  forgetShards(): void {
    this.shardCache = undefined;
  }
}

/**
 * Exponential backoff with jitter (half to full), doubling with each round in a row that landed nothing;
 * a round that landed some entries waits the least. AWS: "retry the failed records with backoff".
 */
const backoffMs = (stalledRounds: number): number => Math.min(2000, 50 * 2 ** Math.max(0, stalledRounds - 1)) * (0.5 + Math.random() / 2);

/** Packs entries into PutRecords calls within Kinesis' limits (500 records, 5 MiB). */
function callsOf<T extends { entry: PutEntry }>(pending: readonly T[]): T[][] {
  const calls: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const p of pending) {
    const size = p.entry.data.length + p.entry.partitionKey.length;
    if (current.length === MAX_RECORDS_PER_CALL || (bytes + size > MAX_BYTES_PER_CALL && current.length > 0)) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    current.push(p);
    bytes += size;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}
