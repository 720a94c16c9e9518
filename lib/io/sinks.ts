import { BatchWriteItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { SinkSpec } from '../api/sink';
import type { Plan } from '../plan/plan';
import type { DeadLetter, Output } from '../runtime/records';
import type { SinkOutput } from '../runtime/stage-executor';
import { KinesisWriter } from './kinesis-writer';

const BATCH_WRITE_LIMIT = 25;
const MAX_ROUNDS = 10;

/** Everything a job's outputs go to: sinks by name, and the dead-letter table. */
export class SinkWriter {
  readonly counters = { dynamoWrites: 0, kinesisRecords: 0, deadLetters: 0 };
  private readonly sinks = new Map<string, SinkSpec>();
  private readonly kinesisWriters = new Map<string, KinesisWriter>();

  constructor(
    private readonly plan: Plan,
    private readonly ddb: DynamoDBClient,
    private readonly kinesis: KinesisClient,
    private readonly log: (line: string) => void = (line) => console.log(line),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    for (const sink of plan.sinks) this.sinks.set(sink.name, sink);
  }

  /** Delivers outputs to their sinks. Idempotent for DynamoDB (deterministic keys); at least once for Kinesis. */
  async write(outputs: readonly SinkOutput[]): Promise<void> {
    const bySink = new Map<string, Output[]>();
    for (const { sink, output } of outputs) bySink.set(sink, [...(bySink.get(sink) ?? []), output]);
    await Promise.all(
      [...bySink].map(async ([name, list]) => {
        const sink = this.sinks.get(name);
        if (!sink) throw new Error(`no sink named '${name}' in job ${this.plan.job}`);
        switch (sink.kind) {
          case 'dynamodb':
            await this.batchWrite(sink.table, list.map((o) => dynamoItem(sink, o)));
            this.counters.dynamoWrites += list.length;
            return;
          case 'kinesis': {
            let writer = this.kinesisWriters.get(sink.stream);
            if (!writer) this.kinesisWriters.set(sink.stream, (writer = new KinesisWriter(this.kinesis, sink.stream, this.sleep)));
            await writer.put(list.map((o) => [{ partitionKey: String(o.record.key ?? o.id), data: Buffer.from(JSON.stringify({ id: o.id, ...o.record })) }]));
            this.counters.kinesisRecords += list.length;
            return;
          }
          case 'log':
            for (const o of list) this.log(JSON.stringify({ sink: name, id: o.id, ...o.record }));
            return;
        }
      }),
    );
  }

  /** Dead letters, one item per (shard, sequence number, operator): a replay rewrites the same item. */
  async deadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const items = letters.map((l) => ({
      id: l.id ?? `${l.shardId}/${l.sequenceNumber}/${l.operator ?? 'source'}`,
      reason: l.reason,
      shardId: l.shardId,
      sequenceNumber: l.sequenceNumber,
      operator: l.operator ?? 'source',
      data: l.data,
    }));
    await this.batchWrite(this.plan.deadLetterTable, items);
    this.counters.deadLetters += letters.length;
  }

  /** BatchWriteItem in groups of 25, resending unprocessed items with backoff. Repeated keys in one call are refused by DynamoDB, so the last write per key wins first. */
  private async batchWrite(table: string, items: Record<string, unknown>[]): Promise<void> {
    const keyOf = (i: Record<string, unknown>): string => ('windowStart' in i ? `${String(i.key)}\u0000${String(i.windowStart)}` : String(i.id));
    const latest = new Map<string, Record<string, unknown>>();
    for (const item of items) latest.set(keyOf(item), item);
    let requests: WriteRequest[] = [...latest.values()].map((item) => ({ PutRequest: { Item: marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: true }) } }));
    for (let round = 0; requests.length > 0; round++) {
      if (round >= MAX_ROUNDS) throw new Error(`DynamoDB table ${table} kept refusing ${requests.length} writes (throttled)`);
      const unprocessed: WriteRequest[] = [];
      for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) {
        const response = await this.ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests.slice(i, i + BATCH_WRITE_LIMIT) } }));
        unprocessed.push(...(response.UnprocessedItems?.[table] ?? []));
      }
      requests = unprocessed;
      if (requests.length > 0) await this.sleep(Math.min(2000, 50 * 2 ** round));
    }
  }
}

/** A sink table item: window results by key + windowStart; other records by the sink's key or their id. */
function dynamoItem(sink: Extract<SinkSpec, { kind: 'dynamodb' }>, o: Output): Record<string, unknown> {
  const r = o.record;
  if (typeof r.key === 'string' && typeof r.windowStart === 'number') return { ...r, id: o.id };
  const key = sink.options.key ? sink.options.key(r) : o.id;
  return { ...r, key, windowStart: 0, id: o.id };
}
