import type { _Record as KinesisRecord } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from '../io/kinesis-event';

/** Records read with GetRecords, as the event Lambda's event source mapping would pass to a function. */
export function toKinesisEvent(records: readonly KinesisRecord[], shardId: string, streamArn: string): KinesisStreamEvent {
  return {
    Records: records.map((r) => ({
      eventID: `${shardId}:${r.SequenceNumber}`,
      eventSourceARN: streamArn,
      kinesis: {
        data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
        sequenceNumber: r.SequenceNumber!,
        partitionKey: r.PartitionKey!,
        ...(r.ApproximateArrivalTimestamp && { approximateArrivalTimestamp: r.ApproximateArrivalTimestamp.getTime() / 1000 }),
      },
    })),
  };
}
