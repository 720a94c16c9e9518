import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';

/** Where a failed batch lies in its stream: the `KinesisBatchInfo` of Lambda's on-failure record. */
export interface FailedRange {
  readonly streamArn: string;
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
}

/** The stream no longer holds a failed batch's first record: it is past the stream's retention. */
export class RecordsExpiredError extends Error {
  constructor(readonly range: FailedRange) {
    super(
      `${range.shardId} ${range.startSequenceNumber}..${range.endSequenceNumber}: the stream no longer holds these records (past its retention) — ` +
        'they cannot be read again; raise the stream\'s retention (IncreaseStreamRetentionPeriod) to keep failed batches redrivable longer',
    );
    this.name = 'RecordsExpiredError';
  }
}

/** GetRecords calls on one shard before giving up on reaching the end of the range. */
const MAX_READS = 1_000;

/**
 * Reads a failed batch's records back from its stream, as AWS says to ("use the streamArn, shardId,
 * startSequenceNumber, and endSequenceNumber fields to obtain the full original record",
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html): from the first
 * sequence number to the last, inclusive, in shard order.
 *
 * @throws RecordsExpiredError when the first record has been trimmed from the stream.
 */
export async function readFailedRecords(kinesis: KinesisClient, range: FailedRange): Promise<_Record[]> {
  const start = BigInt(range.startSequenceNumber);
  const end = BigInt(range.endSequenceNumber);
  let iterator: string | undefined;
  try {
    const out = await kinesis.send(
      new GetShardIteratorCommand({ StreamARN: range.streamArn, ShardId: range.shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: range.startSequenceNumber }),
    );
    iterator = out.ShardIterator;
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name === 'InvalidArgumentException' || name === 'ResourceNotFoundException') throw new RecordsExpiredError(range);
    throw e;
  }
  const records: _Record[] = [];
  for (let reads = 0; iterator !== undefined && reads < MAX_READS; reads++) {
    const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    for (const r of out.Records ?? []) {
      const seq = BigInt(r.SequenceNumber ?? '0');
      if (records.length === 0 && seq !== start) throw new RecordsExpiredError(range);
      if (seq > end) return records;
      records.push(r);
    }
    if (records.length > 0 && BigInt(records[records.length - 1]!.SequenceNumber!) === end) return records;
    // An empty page with nothing behind it: the range's end is not (or no longer) in the shard.
    if ((out.Records ?? []).length === 0 && (out.MillisBehindLatest ?? 0) === 0) break;
    iterator = out.NextShardIterator;
  }
  if (records.length === 0) throw new RecordsExpiredError(range);
  return records;
}
