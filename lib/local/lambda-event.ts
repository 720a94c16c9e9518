import type { _Record as KinesisRecord } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from '../io/kinesis-event';

/**
 * One record of the event Lambda's Kinesis event source mapping passes to a function, with every key
 * AWS sends (the example event in https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, and
 * LocalStack's snapshot recorded against AWS, test_lambda_integration_kinesis.snapshot.json): code that
 * validates with Powertools' KinesisDataStreamSchema, or reads `awsRegion`, works the same locally.
 */
export interface LambdaKinesisRecord extends KinesisStreamRecord {
  kinesis: {
    kinesisSchemaVersion: '1.0';
    partitionKey: string;
    sequenceNumber: string;
    data: string;
    approximateArrivalTimestamp: number;
  };
  eventSource: 'aws:kinesis';
  eventVersion: '1.0';
  eventID: string;
  eventName: 'aws:kinesis:record';
  invokeIdentityArn: string;
  awsRegion: string;
  eventSourceARN: string;
}

/** The event as AWS sends it. */
export interface LambdaKinesisEvent extends KinesisStreamEvent {
  Records: LambdaKinesisRecord[];
}

/** The region and account of an ARN (`arn:aws:kinesis:us-east-1:000000000000:stream/clicks`). */
export function arnParts(arn: string): { region: string; account: string } {
  const [, , , region = '', account = ''] = arn.split(':');
  return { region, account };
}

/** The role an event source mapping reads with, as `invokeIdentityArn` names it; locally one per function. */
export function localInvokeIdentityArn(streamArn: string, functionName: string): string {
  return `arn:aws:iam::${arnParts(streamArn).account}:role/${functionName}`;
}

/** One record read with GetRecords, as the function receives it. `arrivalMs` stands in when Kinesis gave no arrival time. */
export function toLambdaRecord(r: KinesisRecord, shardId: string, streamArn: string, invokeIdentityArn: string, arrivalMs = Date.now()): LambdaKinesisRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: r.PartitionKey!,
      sequenceNumber: r.SequenceNumber!,
      data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
      // Seconds with milliseconds as the fraction, as in AWS's example (1545084650.987).
      approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? arrivalMs) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${r.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn,
    awsRegion: arnParts(streamArn).region,
    eventSourceARN: streamArn,
  };
}

/** Records read with GetRecords, as the event Lambda's event source mapping would pass to a function. */
export function toKinesisEvent(records: readonly KinesisRecord[], shardId: string, streamArn: string, invokeIdentityArn = localInvokeIdentityArn(streamArn, 'function')): LambdaKinesisEvent {
  return { Records: records.map((r) => toLambdaRecord(r, shardId, streamArn, invokeIdentityArn)) };
}
