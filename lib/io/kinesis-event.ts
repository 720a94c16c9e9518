import type { Stage } from '../plan/plan';
import { recordDeadLetterId, type DeadLetter, type KeyedElement } from '../runtime/records';
import type { SourceRecord, StageBatch } from '../runtime/stage-executor';
import { decodeShuffleRecord } from './envelope';

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

/** The shard a record came from: Lambda's eventID is `shardId-000000000000:<sequence number>`. */
export const shardOf = (r: KinesisStreamRecord): string => r.eventID.slice(0, r.eventID.lastIndexOf(':'));

/** Where a record the stage cannot read came from, as its dead letter names it. */
function recordDeadLetter(r: KinesisStreamRecord, operator: 'source' | 'shuffle'): Pick<DeadLetter, 'id' | 'shardId' | 'sequenceNumber' | 'operator'> {
  const origin = { shardId: shardOf(r), sequenceNumber: r.kinesis.sequenceNumber, subIndex: 0 };
  return { id: recordDeadLetterId(origin, operator), shardId: origin.shardId, sequenceNumber: origin.sequenceNumber, operator };
}

/**
 * A Lambda Kinesis event as one stage batch. Records that cannot be read become dead letters with the
 * reason; the rest of the batch goes on.
 */
export function toStageBatch(stage: Stage, event: KinesisStreamEvent, nowMs: number): { batch: StageBatch; deadLetters: DeadLetter[] } {
  const deadLetters: DeadLetter[] = [];
  const first = event.Records[0];
  const shardId = first ? shardOf(first) : 'unknown';
  const readable = event.Records.filter((r) => {
    const bytes = Math.floor((r.kinesis.data.length * 3) / 4);
    if (bytes <= MAX_RECORD_BYTES) return true;
    deadLetters.push({ ...recordDeadLetter(r, 'source'), reason: `record of ${bytes} bytes is over the ${MAX_RECORD_BYTES}-byte limit`, data: '' });
    return false;
  });
  if (stage.input.kind === 'source') {
    const records: SourceRecord[] = readable.map((r) => ({
      shardId: shardOf(r),
      sequenceNumber: r.kinesis.sequenceNumber,
      data: Buffer.from(r.kinesis.data, 'base64').toString('utf8'),
    }));
    return { batch: { kind: 'source', shardId, nowMs, records }, deadLetters };
  }
  const elements: KeyedElement[] = [];
  const heard = new Map<string, number>();
  for (const r of readable) {
    const data = Buffer.from(r.kinesis.data, 'base64');
    try {
      const record = decodeShuffleRecord(data);
      heard.set(record.from, Math.max(heard.get(record.from) ?? Number.MIN_SAFE_INTEGER, record.watermarkMs));
      if (record.kind === 'envelope') elements.push(...record.elements);
    } catch (e) {
      deadLetters.push({ ...recordDeadLetter(r, 'shuffle'), reason: `unreadable envelope: ${(e as Error).message}`, data: data.toString('utf8').slice(0, 1024) });
    }
  }
  return {
    batch: { kind: 'shuffled', shardId, nowMs, elements, heard: [...heard].map(([upstreamShard, watermarkMs]) => ({ upstreamShard, watermarkMs })) },
    deadLetters,
  };
}
