/**
 * Test support: fills a kinesis-local stream with many records and counts them back, for tests of
 * the emulator's persistence (its data file grows with every record, and so does each save).
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../../lib/io/aws-clients';

const SHARDS = 8;
/** Records per PutRecords call (the API's limit is 500 records and 5 MB). */
const BATCH = 500;

/** Waits until `streamName` is ACTIVE; rejects after 10 s. */
export async function waitForActive(client: KinesisClient, streamName: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { StreamDescriptionSummary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`stream ${streamName} not ACTIVE after 10 s`);
}

/**
 * Puts records `first` .. `first + count - 1`, each `bytes` long and carrying its number, into
 * `stream` (created first when `create`); retries the entries a call refuses, so that every one is
 * acknowledged when it resolves.
 */
export async function putAll(endpoint: string, stream: string, range: { first: number; count: number; bytes: number; create: boolean }): Promise<void> {
  const client = kinesisClient({ endpoint });
  try {
    if (range.create) {
      await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: SHARDS }));
      await waitForActive(client, stream);
    }
    for (let start = range.first; start < range.first + range.count; start += BATCH) {
      let pending = Array.from({ length: Math.min(BATCH, range.first + range.count - start) }, (_, i) => start + i);
      while (pending.length > 0) {
        const batch = pending;
        const { Records = [] } = await client.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: batch.map((n) => ({ PartitionKey: `k${n}`, Data: Buffer.from(String(n).padEnd(range.bytes)) })),
          }),
        );
        pending = batch.filter((_, i) => Records[i]?.ErrorCode !== undefined);
      }
    }
  } finally {
    client.destroy();
  }
}

/** The distinct record numbers in every shard of `stream`, read from TRIM_HORIZON to the end. */
export async function recordNumbers(endpoint: string, stream: string): Promise<Set<number>> {
  const client = kinesisClient({ endpoint });
  try {
    const numbers = new Set<number>();
    const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: stream }));
    for (const shard of Shards) {
      let { ShardIterator } = await client.send(
        new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      while (ShardIterator !== undefined) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator }));
        const records = page.Records ?? [];
        for (const record of records) numbers.add(Number(Buffer.from(record.Data ?? []).toString('utf8')));
        ShardIterator = records.length > 0 ? page.NextShardIterator : undefined;
      }
    }
    return numbers;
  } finally {
    client.destroy();
  }
}
