/**
 * The design a Lambda tutorial would build for "clicks per user per 5 seconds", for comparison: a
 * Kinesis-triggered function that, for every record, adds the clicks to the (user, window) item with
 * one conditional UpdateItem. Idempotent under Lambda's retries by a per-item, per-shard
 * processed-sequence attribute: the update applies only if the record's sequence number is above the
 * one last applied for its shard (Kinesis sequence numbers of one shard have the same length, so
 * string order is their order).
 *
 * It has no event-time semantics: no watermark, no "this window is complete", and a late record
 * silently changes a result already read. Its cost is one write per record, whatever the key count.
 */
import { ConditionalCheckFailedException, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { sinkTableDefinition } from '../infra/tables';
import { createTable } from '../lib/local/resources';
import type { KinesisStreamEvent } from '../lib/io/kinesis-event';

const WINDOW_MS = 5000;
/** Records applied at once (per-key order is kept: one key's records go one after another). */
const CONCURRENCY = 16;

/** The naive design's table: shaped as shardflow's results tables (key + windowStart), so both write alike items. */
export async function createNaiveTable(ddb: DynamoDBClient, table: string): Promise<void> {
  await createTable(ddb, sinkTableDefinition(table));
}

/** The naive handler: one conditional UpdateItem per record. */
export function naiveClickCounter(ddb: DynamoDBClient, table: string): (event: KinesisStreamEvent) => Promise<{ applied: number; skipped: number }> {
  return async (event) => {
    let applied = 0;
    let skipped = 0;
    const byUser = new Map<string, { userId: string; clicks: number; ts: number; shard: string; seq: string }[]>();
    for (const r of event.Records) {
      const click = JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString('utf8')) as { userId: string; clicks: number; ts: number };
      const shard = r.eventID.slice(0, r.eventID.lastIndexOf(':'));
      const list = byUser.get(click.userId) ?? [];
      list.push({ ...click, shard, seq: r.kinesis.sequenceNumber });
      byUser.set(click.userId, list);
    }
    const queues = [...byUser.values()];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let q = next++; q < queues.length; q = next++) {
        for (const c of queues[q]!) {
          try {
            await ddb.send(
              new UpdateItemCommand({
                TableName: table,
                Key: { key: { S: c.userId }, windowStart: { N: String(c.ts - (c.ts % WINDOW_MS)) } },
                UpdateExpression: 'ADD clicks :c SET #seq = :seq',
                ConditionExpression: 'attribute_not_exists(#seq) OR #seq < :seq',
                ExpressionAttributeNames: { '#seq': `seq_${c.shard}` },
                ExpressionAttributeValues: { ':c': { N: String(c.clicks) }, ':seq': { S: c.seq } },
              }),
            );
            applied += 1;
          } catch (e) {
            // Already applied: a retried batch.
            if (!(e instanceof ConditionalCheckFailedException) && (e as { name?: string }).name !== 'ConditionalCheckFailedException') throw e;
            skipped += 1;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queues.length) }, worker));
    return { applied, skipped };
  };
}
