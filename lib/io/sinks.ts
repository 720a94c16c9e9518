import { BatchWriteItemCommand, ConditionalCheckFailedException, PutItemCommand, type AttributeValue, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { SinkSpec } from '../api/sink';
import type { Plan } from '../plan/plan';
import { forEachConcurrently } from '../runtime/concurrently';
import type { DeadLetter, Output } from '../runtime/records';
import type { SinkOutput } from '../runtime/stage-executor';
import { KinesisWriter } from './kinesis-writer';

const BATCH_WRITE_LIMIT = 25;
const MAX_ROUNDS = 10;
/** Conditional puts in flight per sink write (one request per result: latency-bound, not bandwidth-bound). */
const ORDERED_PUT_CONCURRENCY = 16;
/** The sink-table attribute holding an output's {@link Output.order}. */
export const RESULT_ORDER_ATTRIBUTE = 'resultOrder';

type Item = Record<string, unknown>;

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

  /**
   * Delivers outputs to their sinks. Idempotent for DynamoDB (deterministic keys), where an output with an
   * order never replaces a higher one; at least once for Kinesis.
   */
  async write(outputs: readonly SinkOutput[]): Promise<void> {
    const bySink = new Map<string, Output[]>();
    for (const { sink, output } of outputs) {
      const list = bySink.get(sink);
      if (list) list.push(output);
      else bySink.set(sink, [output]);
    }
    await Promise.all(
      [...bySink].map(async ([name, list]) => {
        const sink = this.sinks.get(name);
        if (!sink) throw new Error(`no sink named '${name}' in job ${this.plan.job}`);
        switch (sink.kind) {
          case 'dynamodb': {
            const items = latestPerKey(list.map((o) => dynamoItem(sink, o)));
            await Promise.all([this.batchWrite(sink.table, items.filter((i) => !isOrdered(i))), this.putUnlessNewer(sink.table, items.filter(isOrdered))]);
            this.counters.dynamoWrites += list.length;
            return;
          }
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

  /** Dead letters, one item per failure (its id): a replay rewrites the same item. */
  async deadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const items = letters.map((l) => ({
      id: l.id,
      reason: l.reason,
      shardId: l.shardId,
      sequenceNumber: l.sequenceNumber,
      operator: l.operator ?? 'source',
      data: l.data,
    }));
    await this.batchWrite(this.plan.deadLetterTable, items);
    this.counters.deadLetters += letters.length;
  }

  /**
   * Puts each item unless the table holds one with the same or a higher order: a conditional PutItem each,
   * so an older firing (a retry, a zombie invocation) that lands last does not win. A failed condition
   * means an equal or newer result is there already: done, not an error.
   */
  private async putUnlessNewer(table: string, items: readonly Item[]): Promise<void> {
    await forEachConcurrently(items, ORDERED_PUT_CONCURRENCY, async (item) => {
      try {
        await this.ddb.send(
          new PutItemCommand({
            TableName: table,
            Item: marshallItem(item),
            ConditionExpression: 'attribute_not_exists(#order) OR #order < :order',
            ExpressionAttributeNames: { '#order': RESULT_ORDER_ATTRIBUTE },
            ExpressionAttributeValues: { ':order': { S: item[RESULT_ORDER_ATTRIBUTE] as string } },
          }),
        );
      } catch (e) {
        if (!(e instanceof ConditionalCheckFailedException) && (e as { name?: string }).name !== 'ConditionalCheckFailedException') throw e;
      }
    });
  }

  /** BatchWriteItem in groups of 25, resending unprocessed items with backoff. Repeated keys in one call are refused by DynamoDB, so the last write per key wins first. */
  private async batchWrite(table: string, items: readonly Item[]): Promise<void> {
    let requests: WriteRequest[] = latestPerKey(items).map((item) => ({ PutRequest: { Item: marshallItem(item) } }));
    // Rounds in a row that wrote nothing: a round that made progress is not a failed retry (as KinesisWriter).
    for (let stalled = 0; requests.length > 0; ) {
      const unprocessed: WriteRequest[] = [];
      for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) {
        const response = await this.ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests.slice(i, i + BATCH_WRITE_LIMIT) } }));
        unprocessed.push(...(response.UnprocessedItems?.[table] ?? []));
      }
      stalled = unprocessed.length === requests.length ? stalled + 1 : 0;
      requests = unprocessed;
      if (requests.length === 0) return;
      if (stalled >= MAX_ROUNDS) throw new Error(`DynamoDB table ${table} refused all ${requests.length} pending writes in ${MAX_ROUNDS} rounds in a row (throttled)`);
      await this.sleep(Math.min(2000, 50 * 2 ** stalled) * (0.5 + Math.random() / 2));
    }
  }
}

/**
 * A sink table item: window results by key + windowStart; other records by the sink's key or their id. An
 * output's order is kept beside the record, for the next write's condition.
 */
function dynamoItem(sink: Extract<SinkSpec, { kind: 'dynamodb' }>, o: Output): Item {
  const r = o.record;
  const order = o.order === undefined ? {} : { [RESULT_ORDER_ATTRIBUTE]: o.order };
  if (typeof r.key === 'string' && typeof r.windowStart === 'number') return { ...r, id: o.id, ...order };
  const key = sink.options.key ? sink.options.key(r) : o.id;
  return { ...r, key, windowStart: 0, id: o.id, ...order };
}

const isOrdered = (item: Item): boolean => typeof item[RESULT_ORDER_ATTRIBUTE] === 'string';

/** One item per table key: the last one, unless it has a lower order than the one kept. */
function latestPerKey(items: readonly Item[]): Item[] {
  const keyOf = (i: Item): string => ('windowStart' in i ? `${String(i.key)}\u0000${String(i.windowStart)}` : String(i.id));
  const latest = new Map<string, Item>();
  for (const item of items) {
    const key = keyOf(item);
    const kept = latest.get(key);
    if (kept && isOrdered(kept) && isOrdered(item) && (item[RESULT_ORDER_ATTRIBUTE] as string) < (kept[RESULT_ORDER_ATTRIBUTE] as string)) continue;
    latest.set(key, item);
  }
  return [...latest.values()];
}

const marshallItem = (item: Item): Record<string, AttributeValue> => marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: true });
