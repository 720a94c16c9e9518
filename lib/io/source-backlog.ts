import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';

/** Whether a source shard holds records after a position: true, false, or undefined when Kinesis could not tell now. */
export type SourceBacklog = (stream: string, shardId: string, after: string) => Promise<boolean | undefined>;

/**
 * Whether shard `shardId` of `stream` holds records after sequence number `after` ('' for the shard's start) —
 * for the watermark function telling a quiet source shard from one whose reader has stalled: one
 * GetShardIterator and one GetRecords of at most one record, only for shards silent for `idleAfter`.
 * Undefined when Kinesis could not answer (throttled, an error): the shard stays as it was, and the next tick
 * asks again.
 */
export const sourceBacklogOf =
  (kinesis: KinesisClient): SourceBacklog =>
  async (stream, shardId, after) => {
    try {
      const position = after === '' ? { ShardIteratorType: 'TRIM_HORIZON' as const } : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: after };
      const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ...position }));
      if (!ShardIterator) return undefined;
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }));
      // An empty page may still lie behind the shard's tip: Kinesis says so in MillisBehindLatest.
      return (page.Records ?? []).length > 0 || (page.MillisBehindLatest ?? 0) > 0;
    } catch (e) {
      // A shard gone past the stream's retention holds nothing a reader could still deliver.
      if ((e as Error).name === 'ResourceNotFoundException') return false;
      return undefined;
    }
  };
