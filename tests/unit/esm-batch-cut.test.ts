import { MAX_INVOKE_PAYLOAD_BYTES, cutBatch, eventBytesOf } from '../../lib/local/esm/batch-cut';
import { toLambdaRecord } from '../../lib/local/lambda-event';

const queue = (...sizes: number[]): { eventBytes: number }[] => sizes.map((eventBytes) => ({ eventBytes }));

/** `{"Records":[` … `]}` */
const ENVELOPE = 14;

describe('where a batch ends', () => {
  test('at batchSize records', () => {
    expect(cutBatch(queue(1, 1, 1, 1), 3)).toEqual({ count: 3, full: true });
  });

  test('fewer queued records than batchSize make a batch that is not full (the window may wait for more)', () => {
    expect(cutBatch(queue(1, 1), 3)).toEqual({ count: 2, full: false });
  });

  test("before the record that would take the event's JSON past 6 MB: envelope and commas count", () => {
    const first = 3 * 1024 * 1024;
    const rest = MAX_INVOKE_PAYLOAD_BYTES - ENVELOPE - first - 1; // the second record, after its comma, fills 6 MB exactly
    expect(cutBatch(queue(first, rest, 1), 100)).toEqual({ count: 2, full: true });
    expect(cutBatch(queue(first, rest + 1, 1), 100)).toEqual({ count: 1, full: true });
  });

  test('a single oversized record still goes alone', () => {
    expect(cutBatch(queue(MAX_INVOKE_PAYLOAD_BYTES + 1, 1), 10)).toEqual({ count: 1, full: true });
  });

  test('small records: the batch is as large as the AWS-shaped event that fits in 6 MB, not 10,000 records', () => {
    // Records as Kinesis returns them: 56-digit sequence numbers, a UUID partition key, 250 bytes of JSON data.
    const streamArn = 'arn:aws:kinesis:us-east-1:123456789012:stream/clicks';
    const records = Array.from({ length: 10_000 }, (_, i) =>
      toLambdaRecord(
        {
          SequenceNumber: (49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n + BigInt(i)).toString(),
          PartitionKey: `5f0c6a8e-9b7d-4a57-8a0e-${String(i).padStart(12, '0')}`,
          Data: Buffer.from(JSON.stringify({ user: `u${i}`, page: '/p'.padEnd(200, 'x'), ts: 1_700_000_000_000 + i })),
          ApproximateArrivalTimestamp: new Date(1_700_000_000_000 + i),
        },
        'shardId-000000000000',
        streamArn,
        'arn:aws:iam::123456789012:role/clicks-s0',
      ),
    );
    const { count, full } = cutBatch(records.map((r) => ({ eventBytes: eventBytesOf(r) })), 10_000);
    const eventBytes = (n: number): number => Buffer.byteLength(JSON.stringify({ Records: records.slice(0, n) }));
    expect(full).toBe(true);
    expect(count).toBeLessThan(10_000);
    expect(eventBytes(count)).toBeLessThanOrEqual(MAX_INVOKE_PAYLOAD_BYTES);
    expect(eventBytes(count + 1)).toBeGreaterThan(MAX_INVOKE_PAYLOAD_BYTES);
  });
});
