import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { forEachConcurrently } from '../../runtime/concurrently';
import type { KeyedLogic } from '../../runtime/keyed-logic';
import { comparePositions, decodePosition, encodePosition, originKey, type Element } from '../../runtime/records';
import { NO_WATERMARK } from '../../time/watermark';
import type { InputRow, ItemOutcome, ItemRef, ItemUpdate, StateBackend, StoredItem } from '../backend';
import { planFire, planUpdate, type PlannedWrite } from '../item-update';
import { FIRE_INDEX } from '../../../infra/tables';
import { faultPoint } from '../../io/fault-points';
import { ACC_PREFIX, decodeItem, dueKey, encodeItem, FIRE_BUCKETS, itemPk, MARK_PREFIX, metaPk, refOf, type Item } from './item-codec';

export interface DynamoBackendOptions {
  /** Item writes in flight at once per batch. Default 16. */
  concurrency?: number;
  /** Items kept in the warm-container cache. Default 20,000. */
  cacheSize?: number;
  /** How long finished items stay before TTL removes them; must exceed any replay. Default 2 days. */
  retentionSeconds?: number;
  /** Processing time, for TTL. */
  clock?: () => number;
}

/** What the backend sent, for benchmarks, metrics and the cost model. */
export interface DynamoCounters {
  addUpdates: number;
  puts: number;
  conditionFailures: number;
  reads: number;
  queries: number;
  metaWrites: number;
}

const MAX_ATTEMPTS = 8;
const isConditionFailure = (e: unknown): boolean =>
  e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

/**
 * Keyed and window state in one DynamoDB table, exactly once with conditional writes only (no
 * transactions, so it runs on dynalite too). One write per item per batch:
 * - an item this process has not seen, of an additive operator (count, sum, avg), gets a blind `ADD`
 *   under the condition that every origin's mark is below the batch's first position;
 * - otherwise read-modify-write under a version condition, from a warm cache that a failed condition
 *   invalidates.
 */
export class DynamoBackend implements StateBackend {
  readonly counters: DynamoCounters = { addUpdates: 0, puts: 0, conditionFailures: 0, reads: 0, queries: 0, metaWrites: 0 };
  private readonly cache = new Map<string, StoredItem | null>();
  private readonly inputCache = new Map<string, InputRow>();
  private readonly concurrency: number;
  private readonly cacheSize: number;
  private readonly retentionSeconds: number;
  private readonly clock: () => number;

  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly table: string,
    options: DynamoBackendOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 16;
    this.cacheSize = options.cacheSize ?? 20_000;
    this.retentionSeconds = options.retentionSeconds ?? 2 * 86_400;
    this.clock = options.clock ?? Date.now;
  }

  async update(updates: readonly ItemUpdate[], logic: KeyedLogic, watermarkMs: number): Promise<ItemOutcome[]> {
    const outcomes: ItemOutcome[] = new Array(updates.length);
    await forEachConcurrently(updates, this.concurrency, async (u, i) => {
      outcomes[i] = await this.updateOne(u.ref, u.elements, logic, watermarkMs);
      // Chaos runs only: a crash with some of the batch's items written and others not.
      faultPoint('between-state-writes', `${u.ref.stageId}/${u.ref.key}/${u.ref.slot}/${u.elements[0] ? originKey(u.elements[0].origin) : ''}`);
    });
    return outcomes;
  }

  private async updateOne(ref: ItemRef, elements: readonly Element[], logic: KeyedLogic, watermarkMs: number): Promise<ItemOutcome> {
    const id = cacheId(ref);
    const dueAt = logic.additive?.fireAtMs(ref.slot);
    // Blind ADD only into items not yet due: a due window must be read, so it fires in-band.
    if (logic.additive && !this.cache.has(id) && (dueAt === null || dueAt === undefined || dueAt > watermarkMs)) {
      const added = await this.tryAdd(ref, elements, logic);
      if (added) return { outputs: [], late: [], failed: [] };
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = this.cache.has(id) ? this.cache.get(id) ?? undefined : await this.read(ref, logic);
      const planned = planUpdate(stored, ref, elements, logic, watermarkMs);
      if (await this.write(ref, planned, logic)) return planned.outcome;
    }
    throw new Error(`state item ${id} kept changing under ${MAX_ATTEMPTS} attempts`);
  }

  /**
   * The blind fast path: ADD the batch's numbers, move the marks, and (re)set the fire time, if the item
   * is fresh to all of this batch, not fired (no `d`) and not closed. False when the condition fails.
   */
  private async tryAdd(ref: ItemRef, batch: readonly Element[], logic: KeyedLogic): Promise<boolean> {
    const additive = logic.additive!;
    const elements = eachOriginOnce(batch);
    const delta = additive.delta(elements);
    if (!delta) return false;
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = { ':one': { N: '1' } };
    const add: string[] = ['v :one'];
    const set: string[] = [];
    const conditions: string[] = ['attribute_not_exists(d)', 'attribute_not_exists(closed)'];
    Object.entries(delta).forEach(([name, value], i) => {
      names[`#a${i}`] = ACC_PREFIX + name;
      values[`:a${i}`] = { N: String(value) };
      add.push(`#a${i} :a${i}`);
    });
    const firstByShard = new Map<string, Element>();
    const lastByShard = new Map<string, Element>();
    for (const e of elements) {
      if (!firstByShard.has(e.origin.shardId)) firstByShard.set(e.origin.shardId, e);
      lastByShard.set(e.origin.shardId, e);
    }
    [...firstByShard.keys()].forEach((shard, i) => {
      names[`#h${i}`] = MARK_PREFIX + shard;
      values[`:f${i}`] = { S: encodePosition(firstByShard.get(shard)!.origin) };
      values[`:l${i}`] = { S: encodePosition(lastByShard.get(shard)!.origin) };
      conditions.push(`(attribute_not_exists(#h${i}) OR #h${i} < :f${i})`);
      set.push(`#h${i} = :l${i}`);
    });
    const fireAt = additive.fireAtMs(ref.slot);
    if (fireAt !== null) {
      values[':fireAt'] = { N: String(fireAt) };
      values[':due'] = { S: dueKey(ref) };
      set.push('fireAt = :fireAt', 'due = :due');
    }
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: { S: itemPk(ref) }, sk: { S: ref.slot } },
          UpdateExpression: `SET ${set.join(', ')} ADD ${add.join(', ')} REMOVE ob`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      this.counters.addUpdates += 1;
      return true;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      this.counters.conditionFailures += 1;
      return false;
    }
  }

  private async read(ref: ItemRef, logic: KeyedLogic): Promise<StoredItem | undefined> {
    this.counters.reads += 1;
    const { Item: raw } = await this.ddb.send(
      new GetItemCommand({ TableName: this.table, Key: { pk: { S: itemPk(ref) }, sk: { S: ref.slot } }, ConsistentRead: true }),
    );
    const item = raw ? decodeItem(raw, ref.slot, logic.additive) : undefined;
    this.remember(cacheId(ref), item ?? null);
    return item;
  }

  /** Writes a planned item under its version condition. False when someone else wrote first. */
  private async write(ref: ItemRef, planned: PlannedWrite, logic: KeyedLogic): Promise<boolean> {
    if (!planned.next) return true;
    const id = cacheId(ref);
    const item: Item = encodeItem(ref, planned.next, logic.additive, Math.floor(this.clock() / 1000), this.retentionSeconds);
    try {
      await this.ddb.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ...(planned.expectedVersion === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: 'v = :v', ExpressionAttributeValues: { ':v': { N: String(planned.expectedVersion) } } }),
        }),
      );
      this.counters.puts += 1;
      this.remember(id, planned.next);
      return true;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      this.counters.conditionFailures += 1;
      this.cache.delete(id);
      return false;
    }
  }

  private remember(id: string, item: StoredItem | null): void {
    this.cache.delete(id);
    this.cache.set(id, item);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }

  async fire(ref: ItemRef, logic: KeyedLogic, watermarkMs: number, deliver: (outcome: ItemOutcome) => Promise<void>): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      faultPoint('before-fire', `${ref.stageId}/${ref.key}/${ref.slot}/${watermarkMs}`);
      // Always read: stage functions change items in other processes.
      const planned = planFire(await this.read(ref, logic), ref, logic, watermarkMs);
      if (!planned.next) return;
      await deliver(planned.outcome);
      faultPoint('after-fire-deliver', `${ref.stageId}/${ref.key}/${ref.slot}/${watermarkMs}`);
      if (await this.write(ref, planned, logic)) return;
    }
    throw new Error(`state item ${cacheId(ref)} kept changing while firing`);
  }

  async dueItems(stageId: string, watermarkMs: number, limit: number): Promise<ItemRef[]> {
    const found: { ref: ItemRef; fireAt: number }[] = [];
    await Promise.all(
      Array.from({ length: FIRE_BUCKETS }, async (_, bucket) => {
        this.counters.queries += 1;
        const page = await this.ddb.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: FIRE_INDEX,
            KeyConditionExpression: 'due = :due AND fireAt <= :wm',
            ExpressionAttributeValues: { ':due': { S: `${stageId}#${bucket}` }, ':wm': { N: String(watermarkMs) } },
            Limit: limit,
          }),
        );
        for (const raw of page.Items ?? []) found.push({ ref: refOf(raw.pk!.S!, raw.sk!.S!), fireAt: Number(raw.fireAt!.N) });
      }),
    );
    return found.sort((a, b) => a.fireAt - b.fireAt).slice(0, limit).map((f) => f.ref);
  }

  async readInputs(stageId: string): Promise<InputRow[]> {
    this.counters.queries += 1;
    const rows: InputRow[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :in)',
          ExpressionAttributeValues: { ':pk': { S: metaPk(stageId) }, ':in': { S: 'in#' } },
          ConsistentRead: true,
          ...(start && { ExclusiveStartKey: start }),
        }),
      );
      for (const raw of page.Items ?? []) rows.push(inputRowOf(raw));
      start = page.LastEvaluatedKey;
    } while (start);
    return rows;
  }

  async readInput(stageId: string, input: string): Promise<InputRow | undefined> {
    const id = `${stageId}\u0000${input}`;
    const cached = this.inputCache.get(id);
    if (cached) return cached;
    this.counters.reads += 1;
    const { Item: raw } = await this.ddb.send(
      new GetItemCommand({ TableName: this.table, Key: { pk: { S: metaPk(stageId) }, sk: { S: `in#${input}` } }, ConsistentRead: true }),
    );
    const row = raw ? inputRowOf(raw) : undefined;
    if (row) this.inputCache.set(id, row);
    return row;
  }

  /** Watermark and event time only move forward; activity time is always refreshed. */
  async writeInputs(stageId: string, rows: readonly InputRow[]): Promise<void> {
    await Promise.all(
      rows.map(async (row) => {
        const Key = { pk: { S: metaPk(stageId) }, sk: { S: `in#${row.input}` } };
        const la = { ':la': { N: String(row.lastActiveMs) } };
        const pos = row.committed && { ':pos': { S: encodePosition(row.committed) } };
        this.counters.metaWrites += 1;
        try {
          await this.ddb.send(
            new UpdateItemCommand({
              TableName: this.table,
              Key,
              UpdateExpression: `SET wm = :wm, mx = :mx, la = :la${pos ? ', pos = :pos' : ''}`,
              ConditionExpression: `(attribute_not_exists(wm) OR wm <= :wm)${pos ? ' AND (attribute_not_exists(pos) OR pos <= :pos)' : ''}`,
              ExpressionAttributeValues: { ':wm': { N: String(row.watermarkMs) }, ':mx': { N: String(row.maxEventTimeMs) }, ...la, ...pos },
            }),
          );
          this.inputCache.set(`${stageId}\u0000${row.input}`, row);
        } catch (e) {
          if (!isConditionFailure(e)) throw e;
          this.inputCache.delete(`${stageId}\u0000${row.input}`);
          this.counters.metaWrites += 1;
          await this.ddb.send(new UpdateItemCommand({ TableName: this.table, Key, UpdateExpression: 'SET la = :la', ExpressionAttributeValues: la }));
        }
      }),
    );
  }

  async readStageWatermark(stageId: string): Promise<number> {
    this.counters.reads += 1;
    const { Item: raw } = await this.ddb.send(
      new GetItemCommand({ TableName: this.table, Key: { pk: { S: metaPk(stageId) }, sk: { S: 'watermark' } }, ConsistentRead: true }),
    );
    return raw?.wm?.N === undefined ? NO_WATERMARK : Number(raw.wm.N);
  }

  async writeStageWatermark(stageId: string, watermarkMs: number): Promise<void> {
    this.counters.metaWrites += 1;
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: { S: metaPk(stageId) }, sk: { S: 'watermark' } },
          UpdateExpression: 'SET wm = :wm',
          ConditionExpression: 'attribute_not_exists(wm) OR wm < :wm',
          ExpressionAttributeValues: { ':wm': { N: String(watermarkMs) } },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }

  async markWatermarkAsleep(): Promise<void> {
    this.counters.metaWrites += 1;
    await this.ddb.send(new PutItemCommand({ TableName: this.table, Item: { ...WATERMARK_FUNCTION_KEY, asleep: { BOOL: true } } }));
  }

  async claimWatermarkWake(): Promise<boolean> {
    return this.conditionalMeta(() =>
      this.ddb.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: WATERMARK_FUNCTION_KEY,
          UpdateExpression: 'SET asleep = :no',
          ConditionExpression: 'asleep = :yes',
          ExpressionAttributeValues: { ':no': { BOOL: false }, ':yes': { BOOL: true } },
        }),
      ),
    );
  }

  async acquireWatermarkLease(holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    return this.conditionalMeta(() =>
      this.ddb.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { ...WATERMARK_LEASE_KEY, holder: { S: holder }, untilMs: { N: String(untilMs) } },
          ConditionExpression: 'attribute_not_exists(untilMs) OR untilMs < :now',
          ExpressionAttributeValues: { ':now': { N: String(nowMs) } },
        }),
      ),
    );
  }

  async releaseWatermarkLease(holder: string): Promise<boolean> {
    return this.conditionalMeta(() =>
      this.ddb.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: WATERMARK_LEASE_KEY,
          UpdateExpression: 'SET untilMs = :zero',
          ConditionExpression: 'holder = :me',
          ExpressionAttributeValues: { ':zero': { N: '0' }, ':me': { S: holder } },
        }),
      ),
    );
  }

  /** A meta write under a condition: whether it held. */
  private async conditionalMeta(write: () => Promise<unknown>): Promise<boolean> {
    this.counters.metaWrites += 1;
    try {
      await write();
      return true;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      this.counters.conditionFailures += 1;
      return false;
    }
  }
}

/** The watermark function's own meta rows: the flag of {@link DynamoBackend.markWatermarkAsleep}, and its lease. */
const WATERMARK_FUNCTION_KEY = { pk: { S: metaPk('watermark-function') }, sk: { S: 'asleep' } };
const WATERMARK_LEASE_KEY = { pk: { S: metaPk('watermark-function') }, sk: { S: 'lease' } };

const cacheId = (ref: ItemRef): string => `${ref.stageId}\u0000${ref.key}\u0000${ref.slot}`;

/**
 * The batch without repeats: an element at or below an earlier one of its origin shard is dropped. A
 * downstream batch can hold a retried upstream batch's envelopes twice (the first attempt sent them, then
 * died), and a blind ADD, unlike `planUpdate`, has no marks moving element by element to drop them.
 */
function eachOriginOnce(elements: readonly Element[]): readonly Element[] {
  const last = new Map<string, Element>();
  let kept: Element[] | undefined;
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i]!;
    const before = last.get(e.origin.shardId);
    if (before && comparePositions(e.origin, before.origin) <= 0) {
      kept ??= elements.slice(0, i);
      continue;
    }
    last.set(e.origin.shardId, e);
    kept?.push(e);
  }
  return kept ?? elements;
}

function inputRowOf(raw: Item): InputRow {
  return {
    input: raw.sk!.S!.slice(3),
    watermarkMs: Number(raw.wm?.N ?? NO_WATERMARK),
    maxEventTimeMs: Number(raw.mx?.N ?? NO_WATERMARK),
    lastActiveMs: Number(raw.la?.N ?? 0),
    ...(raw.pos?.S !== undefined && { committed: decodePosition(raw.pos.S) }),
  };
}
