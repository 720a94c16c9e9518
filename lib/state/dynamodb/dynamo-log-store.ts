import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, PutItemCommand, QueryCommand, ScanCommand, type AttributeValue, type DynamoDBClient, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { TTL_ATTRIBUTE } from '../../../infra/tables';
import { forEachConcurrently } from '../../runtime/concurrently';
import { readLayoutRecord } from './dynamo-layout-record';
import { logKey, writeUnitsOf, type LogEntry, type LogHead, type LogId, type ShardLogStore } from '../shard-log';

export interface DynamoLogStoreOptions {
  /**
   * How long an entry stays before DynamoDB's TTL removes it (free, unlike a delete, which bills the
   * item's size). The shard state must write a snapshot well within it, so catch-up never needs an
   * expired entry. Default 7 days.
   */
  retentionSeconds?: number;
  /** Bytes of body per item; DynamoDB's item limit is 400 KB including names. Default 350,000. */
  chunkBytes?: number;
  clock?: () => number;
}

/** What the store sent, for metrics and the cost model. Write units follow bytes: DynamoDB bills per started KB. */
export interface LogStoreCounters {
  appends: number;
  refused: number;
  chunkPuts: number;
  queries: number;
  /** Write units billed: per item, its size in started KB (a refused append bills too; see {@link DynamoLogStore.append}). */
  writeUnits: number;
}

const SLOT_DIGITS = 12;
const pad = (slot: number): string => String(slot).padStart(SLOT_DIGITS, '0');
const isConditionFailure = (e: unknown): boolean =>
  e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

/**
 * Shard logs in the job's state table. An entry is one item `l#{stage}#{shard}` / slot, put under
 * `attribute_not_exists`: one writer wins a slot. A body larger than one item goes first into chunk items
 * under a key no other writer uses (a fresh nonce), and the slot's item, written last, names them: a
 * writer that loses the slot leaves only unreferenced chunks behind, which TTL removes.
 */
export class DynamoLogStore implements ShardLogStore {
  readonly counters: LogStoreCounters = { appends: 0, refused: 0, chunkPuts: 0, queries: 0, writeUnits: 0 };
  private readonly retentionSeconds: number;
  private readonly chunkBytes: number;
  private readonly clock: () => number;

  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly table: string,
    options: DynamoLogStoreOptions = {},
  ) {
    this.retentionSeconds = options.retentionSeconds ?? 7 * 86_400;
    this.chunkBytes = options.chunkBytes ?? 350_000;
    this.clock = options.clock ?? Date.now;
  }

  async append(log: LogId, entry: LogEntry): Promise<boolean> {
    const expires = { N: String(Math.floor(this.clock() / 1000) + this.retentionSeconds) };
    const item: Record<string, AttributeValue> = {
      pk: { S: logPk(log) },
      sk: { S: pad(entry.slot) },
      kind: { S: entry.kind },
      at: { N: String(entry.writtenAtMs) },
      [TTL_ATTRIBUTE]: expires,
      ...(entry.idle && { idle: { BOOL: true } }),
      ...(entry.processingTimerMs !== undefined && { pt: { N: String(entry.processingTimerMs) } }),
      ...(entry.awaiting && { aw: { S: JSON.stringify(entry.awaiting) } }),
    };
    if (entry.body.byteLength <= this.chunkBytes) {
      item.body = { B: entry.body };
    } else {
      const nonce = randomUUID();
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < entry.body.byteLength; at += this.chunkBytes) chunks.push(entry.body.subarray(at, at + this.chunkBytes));
      await forEachConcurrently(chunks, 4, async (chunk, i) => {
        await this.ddb.send(
          new PutItemCommand({
            TableName: this.table,
            Item: { pk: { S: chunkPk(log, entry.slot, nonce) }, sk: { S: pad(i) }, body: { B: chunk }, [TTL_ATTRIBUTE]: expires },
          }),
        );
        this.counters.chunkPuts += 1;
        this.counters.writeUnits += writeUnitsOf(chunk.byteLength);
      });
      item.chunks = { N: String(chunks.length) };
      item.nonce = { S: nonce };
    }
    try {
      await this.ddb.send(new PutItemCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
      this.counters.appends += 1;
      this.counters.writeUnits += writeUnitsOf(item.body?.B?.byteLength ?? 0);
      return true;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      // AWS bills the existing item's size; the winner wrote from the same state, so ours is the estimate.
      this.counters.refused += 1;
      this.counters.writeUnits += writeUnitsOf(item.body?.B?.byteLength ?? 0);
      return false;
    }
  }

  async readAfter(log: LogId, slot: number): Promise<LogEntry[]> {
    const heads = await this.query({
      KeyConditionExpression: 'pk = :pk AND sk > :after',
      ExpressionAttributeValues: { ':pk': { S: logPk(log) }, ':after': { S: pad(slot) } },
    });
    return Promise.all(heads.map((h) => this.entryOf(log, h)));
  }

  async readLatest(log: LogId): Promise<LogEntry[]> {
    // Newest first, page by page, until a snapshot: catch-up reads nothing older than it needs.
    const heads: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    let found = false;
    do {
      const page = await this.newestFirst(log, {}, start);
      for (const h of page.Items ?? []) {
        heads.push(h);
        if (h.kind?.S === 'snapshot') {
          found = true;
          break;
        }
      }
      start = page.LastEvaluatedKey;
    } while (start && !found);
    return Promise.all(heads.reverse().map((h) => this.entryOf(log, h)));
  }

  async recordedSchemaVersion(): Promise<{ version: number; holder: string } | undefined> {
    const record = await readLayoutRecord(this.ddb, this.table);
    return record && { version: record.schemaVersion, holder: `the state table ${this.table}` };
  }

  /**
   * Every log the table holds of the given stages (state ids). A scan of the whole table, which reads every
   * item: for the dashboard (a local table) and `shardflow deploy`, never for a stage function.
   */
  async listLogs(stageIds: readonly string[]): Promise<LogId[]> {
    // Longest first: a stage id that is another's prefix (`a`, `a#b`) does not take the other's logs.
    const prefixes = [...stageIds].sort((a, b) => b.length - a.length).map((stageId) => ({ stageId, prefix: `l#${stageId}#` }));
    const logs = new Map<string, LogId>();
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.ddb.send(new ScanCommand({ TableName: this.table, ProjectionExpression: 'pk', FilterExpression: 'begins_with(pk, :l)', ExpressionAttributeValues: { ':l': { S: 'l#' } }, ...(start && { ExclusiveStartKey: start }) }));
      for (const item of page.Items ?? []) {
        const pk = item.pk?.S ?? '';
        const of = prefixes.find((p) => pk.startsWith(p.prefix));
        if (of && !logs.has(pk)) logs.set(pk, { stageId: of.stageId, shardId: pk.slice(of.prefix.length) });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return [...logs.values()];
  }

  async readHead(log: LogId): Promise<LogHead | undefined> {
    const page = await this.newestFirst(log, { ProjectionExpression: 'sk, idle, #at, #pt, aw', ExpressionAttributeNames: { '#at': 'at', '#pt': 'pt' }, Limit: 1 });
    const head = page.Items?.[0];
    return head && { slot: Number(head.sk!.S), idle: head.idle?.BOOL === true, writtenAtMs: Number(head.at?.N ?? 0), ...headFlagsOf(head) };
  }

  /** One page of a log's items, newest first, strongly consistent. */
  private newestFirst(log: LogId, extra: Partial<QueryCommandInput>, start?: Record<string, AttributeValue>) {
    this.counters.queries += 1;
    return this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: logPk(log) } },
        ScanIndexForward: false,
        ConsistentRead: true,
        ...extra,
        ...(start && { ExclusiveStartKey: start }),
      }),
    );
  }

  /** Every item of a query, all pages, strongly consistent. */
  private async query(input: { KeyConditionExpression: string; ExpressionAttributeValues: Record<string, AttributeValue> }): Promise<Record<string, AttributeValue>[]> {
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      this.counters.queries += 1;
      const page = await this.ddb.send(new QueryCommand({ TableName: this.table, ConsistentRead: true, ...input, ...(start && { ExclusiveStartKey: start }) }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  private async entryOf(log: LogId, head: Record<string, AttributeValue>): Promise<LogEntry> {
    const slot = Number(head.sk!.S);
    const kind = head.kind?.S === 'snapshot' ? 'snapshot' : 'delta';
    const writtenAtMs = Number(head.at?.N ?? 0);
    const flags = { ...(head.idle?.BOOL === true && { idle: true }), ...headFlagsOf(head) };
    if (head.body?.B) return { slot, kind, body: head.body.B, writtenAtMs, ...flags };
    const count = Number(head.chunks?.N ?? 0);
    const chunks = await this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: chunkPk(log, slot, head.nonce!.S!) } } });
    if (chunks.length !== count) throw new Error(`log ${logKey(log)} slot ${slot}: ${chunks.length} of its ${count} chunks found (expired, or the table was changed by hand)`);
    return { slot, kind, body: Buffer.concat(chunks.map((c) => c.body!.B!)), writtenAtMs, ...flags };
  }
}

const logPk = (log: LogId): string => `l#${logKey(log)}`;
const chunkPk = (log: LogId, slot: number, nonce: string): string => `lc#${logKey(log)}#${pad(slot)}#${nonce}`;

/** An entry's flags for the watermark function, as its item keeps them beside the body. */
const headFlagsOf = (item: Record<string, AttributeValue>): Pick<LogEntry, 'processingTimerMs' | 'awaiting'> => ({
  ...(item.pt?.N !== undefined && { processingTimerMs: Number(item.pt.N) }),
  ...(item.aw?.S !== undefined && { awaiting: JSON.parse(item.aw.S) as Record<string, string> }),
});
