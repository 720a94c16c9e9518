/**
 * Redriven records: a batch that Lambda gave up on (`shardflow failures --redrive`) goes back on its
 * stream, and the stage takes it like any batch — exactly once, even if the redrive itself is run twice.
 *
 * A stage remembers, per input, the last position it applied, and the event source mapping carried it
 * past the discarded batch: the batch's records at their old positions would be taken for replays. So a
 * redriven record names an input of its own — `redrive:<input>@<the failed batch>` — under which its old
 * positions are new, and under which a second redrive of the same batch is a replay. Such an input holds
 * no watermark and never goes idle (it is not heard from again): its records are simply applied — late, if
 * the watermark has passed them, as Flink treats any late record.
 */

export const REDRIVE_PREFIX = 'redrive:';
const PREFIX = REDRIVE_PREFIX;

/** The input a failed batch's records come back under: one per batch (its shard and first position) and original input. */
export const redriveInputOf = (input: string, failedShardId: string, startSequenceNumber: string): string => `${PREFIX}${input}@${failedShardId}/${startSequenceNumber}`;

/** Whether an input (an envelope's sender, a source record's shard) is a redrive's. */
export const isRedriveInput = (input: string): boolean => input.startsWith(PREFIX);

/** A source record put back on its stream by a redrive: the original text, and the position it had. */
interface RedriveWire {
  readonly shardflowRedrive: { readonly input: string; readonly sequenceNumber: string };
  readonly data: string;
}
const WIRE_START = '{"shardflowRedrive":';

export function encodeRedrivenSourceRecord(input: string, sequenceNumber: string, data: string): Buffer {
  const wire: RedriveWire = { shardflowRedrive: { input, sequenceNumber }, data };
  return Buffer.from(JSON.stringify(wire));
}

/**
 * A source record's text as a redriven record, or undefined for any other record. A user's record that
 * happens to start the same way but is not one is left alone.
 */
export function decodeRedrivenSourceRecord(text: string): { input: string; sequenceNumber: string; data: string } | undefined {
  if (!text.startsWith(WIRE_START)) return undefined;
  try {
    const wire = JSON.parse(text) as Partial<RedriveWire>;
    const r = wire.shardflowRedrive;
    if (typeof r?.input !== 'string' || !isRedriveInput(r.input) || typeof r.sequenceNumber !== 'string' || typeof wire.data !== 'string') return undefined;
    return { input: r.input, sequenceNumber: r.sequenceNumber, data: wire.data };
  } catch {
    return undefined;
  }
}
