/**
 * Where a batch ends. Lambda stops gathering a batch when it has BatchSize records or when the
 * event would pass the 6 MB payload limit of a synchronous invocation ("until it has gathered a full
 * batch, the batching window expires, or the batch reaches the payload limit of 6 MB",
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html).
 */

/** Lambda's synchronous invocation payload limit. */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** JSON around one record in the event: eventID, field names, timestamp (the ARN is counted separately). */
const RECORD_OVERHEAD_BYTES = 256;

/**
 * Estimated size of one record in the event the function receives: its data base64-encoded, plus
 * its partition key, sequence number and stream ARN, plus the JSON around them.
 */
export function eventBytesOf(dataBytes: number, partitionKey: string, sequenceNumber: string, streamArn: string): number {
  return Math.ceil(dataBytes / 3) * 4 + Buffer.byteLength(partitionKey) + 2 * sequenceNumber.length + streamArn.length + RECORD_OVERHEAD_BYTES;
}

/**
 * How many queued records the next batch takes, and whether that batch is full (by count or by
 * payload) — a full batch is invoked without waiting for the batching window. A batch always takes
 * at least one record, even one larger than the limit, as a single Kinesis record (≤ 1 MiB) always fits.
 *
 * @example cutBatch([{ eventBytes: 4e6 }, { eventBytes: 4e6 }], 100) // { count: 1, full: true }
 */
export function cutBatch(queue: readonly { readonly eventBytes: number }[], batchSize: number, maxPayloadBytes = MAX_INVOKE_PAYLOAD_BYTES): { count: number; full: boolean } {
  let total = 0;
  const limit = Math.min(batchSize, queue.length);
  for (let i = 0; i < limit; i++) {
    const bytes = queue[i]!.eventBytes;
    if (i > 0 && total + bytes > maxPayloadBytes) return { count: i, full: true };
    total += bytes;
  }
  return { count: limit, full: limit === batchSize };
}
