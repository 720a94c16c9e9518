/**
 * Lookup joins (Flink's `JOIN t FOR SYSTEM_TIME AS OF x.proc_time ON … = t.key`): each row of the query's
 * table is enriched with the item a DynamoDB table holds for its key when the row is read — processing
 * time, as in Flink: a later change of the item changes the rows read after it, never those before. The
 * table is the user's, read with GetItem from the stage's `mapAsync` (its calls batched by the stage, its
 * failures retried, a row whose lookups all fail a dead letter with the reason); the deployment lets the
 * stage read that table only (`readsTables`).
 */
import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoClient } from '../io/aws-clients';
import type { Expr } from './ast';
import { decimalText } from './decimal';
import type { SourcePosition } from './sql-error';
import { decodeValue, RowError, type Column, type SqlValue } from './types';

type Row = Record<string, SqlValue>;

/** A table declared with 'connector' = 'dynamodb' and read FOR SYSTEM_TIME AS OF: what a lookup reads. */
export interface LookupTable {
  /** Its name in the script. */
  readonly name: string;
  /** The DynamoDB table ('table-name', default the name). */
  readonly tableName: string;
  readonly columns: readonly Column[];
  /** 'lookup.cache' = 'PARTIAL': items kept per function instance, at most `maxRows`, each for `ttlMs` after it was read. */
  readonly cache?: { readonly maxRows: number; readonly ttlMs: number } | undefined;
}

/** `FROM x JOIN t FOR SYSTEM_TIME AS OF x.p AS s ON f(x) = s.k`, for the compiler: the table, and the key each row looks up. */
export interface LookupJoin {
  readonly table: LookupTable;
  /** The name its columns are qualified with (the alias, else the table's name). */
  readonly alias: string;
  /** LEFT keeps a row without an item, the table's columns NULL; INNER drops it. */
  readonly type: 'INNER' | 'LEFT';
  /**
   * The table's key columns (its DynamoDB key attributes), each with the expression of the row it equals:
   * in the terms of the row's table (through its subqueries), and as written, for messages.
   */
  readonly keys: readonly { readonly column: Column; readonly expr: Expr; readonly written: Expr }[];
  readonly pos: SourcePosition;
}

/** The field a looked-up column has in the joined row: `s.value`, beside the row's own columns. */
export const lookupField = (join: LookupJoin, column: string): string => `${join.alias}.${column}`;

/** A row whose key is NULL or has no item, in an INNER lookup join: dropped after the lookup. */
export const NO_MATCH = Symbol('no item');

/**
 * The call that enriches a row: its key values (as the key columns' types; a NULL key matches nothing) are
 * looked up, and the item's columns added under `lookupField` names. A client per function instance.
 */
export function lookupRow(join: LookupJoin, keyValues: (row: Row) => readonly SqlValue[]): (row: Row) => Promise<Row | typeof NO_MATCH> {
  let client: DynamoDBClient | undefined;
  const cache = join.table.cache && new ItemCache(join.table.cache.maxRows, join.table.cache.ttlMs);
  const absent = Object.fromEntries(join.table.columns.map((c) => [lookupField(join, c.name), null]));
  return async (row) => {
    const values = keyValues(row);
    if (values.some((v) => v === null)) return join.type === 'LEFT' ? { ...row, ...absent } : NO_MATCH;
    const key = Object.fromEntries(join.keys.map((k, i) => [k.column.name, attributeOf(k.column, values[i]!)]));
    const cacheKey = JSON.stringify(key);
    let item = cache?.get(cacheKey);
    if (item === undefined) {
      client ??= dynamoClient();
      item = await getItem(client, join.table, key);
      cache?.set(cacheKey, item);
    }
    if (item === null) return join.type === 'LEFT' ? { ...row, ...absent } : NO_MATCH;
    const found: Row = {};
    for (const c of join.table.columns) found[lookupField(join, c.name)] = decodeValue(c, valueOf(item[c.name]));
    return { ...row, ...found };
  };
}

async function getItem(client: DynamoDBClient, table: LookupTable, key: Record<string, AttributeValue>): Promise<Record<string, AttributeValue> | null> {
  try {
    const out = await client.send(new GetItemCommand({ TableName: table.tableName, Key: key }));
    return out.Item ?? null;
  } catch (e) {
    const name = (e as { name?: string }).name;
    const message = e instanceof Error ? e.message : String(e);
    if (name === 'ResourceNotFoundException') throw new Error(`the lookup table ${table.name} reads the DynamoDB table ${table.tableName}, which does not exist: create it, or name another with 'table-name'`);
    if (name === 'ValidationException') {
      throw new Error(`looking up ${JSON.stringify(key)} in the DynamoDB table ${table.tableName} failed: ${message} — the ON equalities must name the table's key attributes (its partition key, and its sort key if it has one), as the types its key has`);
    }
    throw e;
  }
}

/** A key value as the DynamoDB attribute of its column's type: numbers as N (DynamoDB compares them by value), text as S. */
function attributeOf(column: Column, value: SqlValue): AttributeValue {
  switch (column.type) {
    case 'STRING':
      return { S: String(value) };
    case 'DECIMAL':
      return { N: typeof value === 'bigint' ? decimalText(value, column.decimal?.scale ?? 0) : String(value) };
    case 'INT':
    case 'DOUBLE':
    case 'TIMESTAMP':
      return { N: String(value) };
    default:
      throw new RowError(`the key column ${column.name} ${column.declared} cannot be a DynamoDB key`);
  }
}

/** An attribute as the JSON value a column reads (decodeValue takes numbers as their text, exactly). */
function valueOf(a: AttributeValue | undefined): unknown {
  if (a === undefined || a.NULL) return null;
  if (a.S !== undefined) return a.S;
  if (a.N !== undefined) return a.N;
  if (a.BOOL !== undefined) return a.BOOL;
  throw new RowError(`the lookup table's attribute ${JSON.stringify(a).slice(0, 60)} is not a string, number, boolean or null`);
}

/** Items by key, the oldest read first out (Flink's PARTIAL cache: max rows, expire after write). */
class ItemCache {
  private readonly items = new Map<string, { readonly item: Record<string, AttributeValue> | null; readonly at: number }>();

  constructor(
    private readonly maxRows: number,
    private readonly ttlMs: number,
  ) {}

  get(key: string): Record<string, AttributeValue> | null | undefined {
    const entry = this.items.get(key);
    if (entry === undefined) return undefined;
    if (Date.now() - entry.at >= this.ttlMs) {
      this.items.delete(key);
      return undefined;
    }
    return entry.item;
  }

  set(key: string, item: Record<string, AttributeValue> | null): void {
    this.items.delete(key);
    this.items.set(key, { item, at: Date.now() });
    if (this.items.size > this.maxRows) this.items.delete(this.items.keys().next().value!);
  }
}
