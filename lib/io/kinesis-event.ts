import type { Stage } from '../plan/plan';
import { recordDeadLetterId, type DeadLetter } from '../runtime/records';
import type { ShuffleInput, SourceRecord, StageBatch } from '../runtime/stage-executor';
import { decodeShuffleRecord } from './envelope';
import { decodeRedrivenSourceRecord } from './redrive';

/** The parts of Lambda's Kinesis event that a stage reads (aws-lambda's KinesisStreamEvent). */
export interface KinesisStreamEvent {
  Records: KinesisStreamRecord[];
}
export interface KinesisStreamRecord {
  eventID: string;
  eventSourceARN?: string;
  kinesis: { data: string; sequenceNumber: string; partitionKey: string; approximateArrivalTimestamp?: number };
}

/** Lambda's partial batch response: the checkpoint moves to just before the lowest failed sequence number. */
export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** Records larger than this are refused (Kinesis' own limit is 1 MiB). */
export const MAX_RECORD_BYTES = 1_048_576;

/** Lambda gives the arrival time in seconds, with milliseconds as decimals. */
const arrivalMsOf = (r: KinesisStreamRecord): number => Math.round((r.kinesis.approximateArrivalTimestamp ?? 0) * 1000);

/** The shard a record came from: Lambda's eventID is `shardId-000000000000:<sequence number>`. */
export const shardOf = (r: KinesisStreamRecord): string => r.eventID.slice(0, r.eventID.lastIndexOf(':'));

/**
 * A Lambda Kinesis event as one stage batch. Records that cannot be read become dead letters with the
 * reason; the rest of the batch goes on. Shuffle records keep their Kinesis arrival time: a keyed shard
 * decides idleness from it, so the decision is part of the stream and a replay makes it again.
 */
export function toStageBatch(stage: Stage, event: KinesisStreamEvent): { batch: StageBatch; deadLetters: DeadLetter[] } {
  const deadLetters: DeadLetter[] = [];
  const first = event.Records[0];
  const shardId = first ? shardOf(first) : 'unknown';
  const readable = event.Records.filter((r) => {
    const bytes = Math.floor((r.kinesis.data.length * 3) / 4);
    if (bytes <= MAX_RECORD_BYTES) return true;
    deadLetters.push({ id: recordDeadLetterId({ shardId: shardOf(r), sequenceNumber: r.kinesis.sequenceNumber, subIndex: 0 }, 'source'), reason: `record of ${bytes} bytes is over the ${MAX_RECORD_BYTES}-byte limit`, shardId: shardOf(r), sequenceNumber: r.kinesis.sequenceNumber, operator: 'source', data: '' });
    return false;
  });
  if (stage.input.kind === 'source') {
    const records: SourceRecord[] = readable.map((r) => {
      const data = Buffer.from(r.kinesis.data, 'base64').toString('utf8');
      // A redriven record comes back under its redrive's input, at the position it had (lib/io/redrive.ts).
      const redriven = decodeRedrivenSourceRecord(data);
      const at = { shardId: shardOf(r), sequenceNumber: r.kinesis.sequenceNumber, arrivalMs: arrivalMsOf(r) };
      return redriven ? { ...at, data: redriven.data, redriven: { input: redriven.input, sequenceNumber: redriven.sequenceNumber } } : { ...at, data };
    });
    return { batch: { kind: 'source', shardId, records }, deadLetters };
  }
  const inputs: ShuffleInput[] = [];
  for (const r of readable) {
    const data = Buffer.from(r.kinesis.data, 'base64');
    const arrivalMs = arrivalMsOf(r);
    const sequenceNumber = r.kinesis.sequenceNumber;
    try {
      const record = decodeShuffleRecord(data);
      if (record.kind !== 'envelope') inputs.push({ ...record, sequenceNumber, arrivalMs });
      else inputs.push({ kind: 'envelope', sequenceNumber, from: record.from, arrivalMs, elements: record.elements, ...(record.to !== undefined && { to: record.to }) });
    } catch (e) {
      deadLetters.push({ id: recordDeadLetterId({ shardId: shardOf(r), sequenceNumber: r.kinesis.sequenceNumber, subIndex: 0 }, 'shuffle'), reason: `unreadable envelope: ${(e as Error).message}`, shardId: shardOf(r), sequenceNumber: r.kinesis.sequenceNumber, operator: 'shuffle', data: data.toString('utf8').slice(0, 1024) });
    }
  }
  return { batch: { kind: 'shuffled', shardId, inputs }, deadLetters };
}
