/**
 * Where a batch ends. Lambda stops gathering a batch when it has BatchSize records or when the
 * event would pass the 6 MB payload limit of a synchronous invocation ("until it has gathered a full
 * batch, the batching window expires, or the batch reaches the payload limit of 6 MB",
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html). The limit is on the event as sent:
 * the JSON of every record with all of AWS's keys (about 125 bytes of envelope per record beyond the
 * data, partition key, sequence number and ARNs), so the size counted here is that JSON's, exactly.
 */

/** Lambda's synchronous invocation payload limit. */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** `{"Records":[` and `]}` around the records. */
const EVENT_ENVELOPE_BYTES = Buffer.byteLength('{"Records":[]}');

/** The bytes one record adds to the event: its JSON, as the function receives it. */
export function eventBytesOf(record: unknown): number {
  return Buffer.byteLength(JSON.stringify(record));
}

/**
 * How many queued records the next batch takes, and whether that batch is full (by count or by
 * payload) — a full batch is invoked without waiting for the batching window. A batch always takes
 * at least one record, even one larger than the limit, as a single Kinesis record (≤ 1 MiB) always fits.
 *
 * @example cutBatch([{ eventBytes: 4e6 }, { eventBytes: 4e6 }], 100) // { count: 1, full: true }
 */
export function cutBatch(queue: readonly { readonly eventBytes: number }[], batchSize: number, maxPayloadBytes = MAX_INVOKE_PAYLOAD_BYTES): { count: number; full: boolean } {
  let total = EVENT_ENVELOPE_BYTES;
  const limit = Math.min(batchSize, queue.length);
  for (let i = 0; i < limit; i++) {
    // Records after the first are preceded by a comma.
    const bytes = queue[i]!.eventBytes + (i > 0 ? 1 : 0);
    if (i > 0 && total + bytes > maxPayloadBytes) return { count: i, full: true };
    total += bytes;
  }
  return { count: limit, full: limit === batchSize };
}
