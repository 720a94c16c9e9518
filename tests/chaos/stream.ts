/**
 * The chaos run's Kinesis side: a producer that puts records and remembers where each one landed,
 * resharding (SplitShard, MergeShards, UpdateShardCount), and reading a stream back from every shard, parents and
 * children, from TRIM_HORIZON.
 */
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
  UpdateShardCountCommand,
  type KinesisClient,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type { PlannedRecord } from './workload';

/** A record Kinesis accepted, where it landed, and the keyed stage's fired watermark seen before it was put. */
export interface PutReceipt {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly record: PlannedRecord;
  readonly watermarkBeforeMs: number;
}

/** A record as read back from the stream. */
export interface StreamRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly data: string;
}

export interface ShardInfo {
  readonly shardId: string;
  readonly parents: readonly string[];
  readonly open: boolean;
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Puts records in order with PutRecords; a call the edge throttled (after the SDK's own retries) is
 * sent again whole, records refused one by one are sent again. Returns what Kinesis accepted.
 */
export async function putRecords(
  kinesis: KinesisClient,
  stream: string,
  records: readonly (PlannedRecord & { readonly explicitHashKey?: string })[],
  watermarkBeforeMs: number,
): Promise<PutReceipt[]> {
  const receipts: PutReceipt[] = [];
  let pending = [...records];
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > 30) throw new Error(`producer: ${stream} kept refusing ${pending.length} records`);
    let out;
    try {
      out = await kinesis.send(
        new PutRecordsCommand({
          StreamName: stream,
          Records: pending.map((r) => ({ PartitionKey: r.partitionKey, Data: Buffer.from(r.data), ...(r.explicitHashKey && { ExplicitHashKey: r.explicitHashKey }) })),
        }),
      );
    } catch {
      // Throttled (injected) or the stream is being resharded: nothing of this call was accepted.
      await sleep(Math.min(1000, 50 * attempt));
      continue;
    }
    const refused: typeof pending = [];
    (out.Records ?? []).forEach((result, i) => {
      const record = pending[i]!;
      if (result.ErrorCode || !result.ShardId || !result.SequenceNumber) refused.push(record);
      else receipts.push({ shardId: result.ShardId, sequenceNumber: result.SequenceNumber, record, watermarkBeforeMs });
    });
    pending = refused;
    if (pending.length > 0) await sleep(Math.min(1000, 50 * attempt));
  }
  return receipts;
}

export async function listShards(kinesis: KinesisClient, stream: string): Promise<ShardInfo[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const page = await kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }));
    shards.push(...(page.Shards ?? []));
    token = page.NextToken;
  } while (token);
  return shards.map((s) => ({
    shardId: s.ShardId!,
    parents: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p),
    open: s.SequenceNumberRange?.EndingSequenceNumber === undefined,
    startingHashKey: BigInt(s.HashKeyRange!.StartingHashKey!),
    endingHashKey: BigInt(s.HashKeyRange!.EndingHashKey!),
  }));
}

/** Splits an open shard at the middle of its hash range. Returns the shard split. */
export async function splitShard(kinesis: KinesisClient, stream: string, pick: <T>(items: readonly T[]) => T): Promise<string> {
  const open = (await listShards(kinesis, stream)).filter((s) => s.open && s.endingHashKey > s.startingHashKey);
  const shard = pick(open);
  const middle = (shard.startingHashKey + shard.endingHashKey + 1n) / 2n;
  await kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: shard.shardId, NewStartingHashKey: middle.toString() }));
  await untilActive(kinesis, stream);
  return shard.shardId;
}

/** Merges two adjacent open shards, if there are any. Returns the pair merged. */
export async function mergeShards(kinesis: KinesisClient, stream: string, pick: <T>(items: readonly T[]) => T): Promise<[string, string] | undefined> {
  const open = (await listShards(kinesis, stream)).filter((s) => s.open).sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
  const pairs: [ShardInfo, ShardInfo][] = [];
  for (let i = 0; i + 1 < open.length; i++) if (open[i]!.endingHashKey + 1n === open[i + 1]!.startingHashKey) pairs.push([open[i]!, open[i + 1]!]);
  if (pairs.length === 0) return undefined;
  const [a, b] = pick(pairs);
  await kinesis.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: a.shardId, AdjacentShardToMerge: b.shardId }));
  await untilActive(kinesis, stream);
  return [a.shardId, b.shardId];
}

/** UpdateShardCount (UNIFORM_SCALING) to `target` open shards, as `shardflow rescale` calls it. Returns the count before. */
export async function updateShardCount(kinesis: KinesisClient, stream: string, target: number): Promise<number> {
  const before = (await listShards(kinesis, stream)).filter((s) => s.open).length;
  await kinesis.send(new UpdateShardCountCommand({ StreamName: stream, TargetShardCount: target, ScalingType: 'UNIFORM_SCALING' }));
  await untilActive(kinesis, stream);
  return before;
}

async function untilActive(kinesis: KinesisClient, stream: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (s?.StreamStatus === 'ACTIVE') return;
    await sleep(50);
  }
  throw new Error(`stream ${stream} did not become ACTIVE after resharding`);
}

/** Every record of every shard (closed parents included), each shard in sequence order. */
export async function readBack(kinesis: KinesisClient, stream: string): Promise<{ shards: ShardInfo[]; records: StreamRecord[] }> {
  const shards = await listShards(kinesis, stream);
  const records: StreamRecord[] = [];
  for (const shard of shards) {
    let { ShardIterator: iterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.shardId, ShardIteratorType: 'TRIM_HORIZON' }));
    while (iterator) {
      const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of out.Records ?? []) records.push({ shardId: shard.shardId, sequenceNumber: r.SequenceNumber!, data: Buffer.from(r.Data ?? new Uint8Array()).toString('utf8') });
      iterator = out.NextShardIterator;
      // An open shard read to its end: nothing more to come.
      if ((out.Records ?? []).length === 0 && (out.MillisBehindLatest ?? 0) === 0) break;
    }
  }
  return { shards, records };
}
