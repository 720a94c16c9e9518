/**
 * Counts the DynamoDB requests a client sends and the request units AWS would bill for them, from the
 * requests and responses themselves (a middleware on the client), so a benchmark can run against
 * dynalite and still report what DynamoDB on-demand would charge.
 *
 * Billing rules applied (https://aws.amazon.com/dynamodb/pricing/on-demand/):
 * - a standard write of an item up to 1 KB is one write request unit (WRU); larger items one WRU per
 *   started KB; each item of a BatchWriteItem counts as its own write;
 * - a write whose condition fails still consumes the write units (it is metered as attempted);
 * - a strongly consistent read of up to 4 KB is one read request unit (RRU), eventually consistent half;
 *   a Query is metered on the total size of the items it returns, rounded up to 4 KB, at least one unit.
 * The size of an UpdateItem's item is not in the request: it is counted as one WRU, and
 * `maxItemBytes` (from the items read back) says whether that holds.
 */
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** What a metered client sent. */
export interface DynamoMeterCounts {
  /** Requests by operation (`UpdateItem`, `PutItem`, `BatchWriteItem`, `GetItem`, `Query`, …). */
  readonly requests: Record<string, number>;
  /** Item writes: UpdateItem + PutItem + DeleteItem + each item of a BatchWriteItem (attempted, including failed conditions). */
  itemWrites: number;
  /** Writes refused by their condition (still billed). */
  conditionFailures: number;
  /** Write request units AWS would bill. */
  wru: number;
  /** Read request units AWS would bill. */
  rru: number;
  /** The largest item seen in a request or a response, in bytes. */
  maxItemBytes: number;
}

export function emptyCounts(): DynamoMeterCounts {
  return { requests: {}, itemWrites: 0, conditionFailures: 0, wru: 0, rru: 0, maxItemBytes: 0 };
}

/** Adds `b` into `a` (for totals over runs or clients). */
export function addCounts(a: DynamoMeterCounts, b: DynamoMeterCounts): DynamoMeterCounts {
  for (const [op, n] of Object.entries(b.requests)) a.requests[op] = (a.requests[op] ?? 0) + n;
  a.itemWrites += b.itemWrites;
  a.conditionFailures += b.conditionFailures;
  a.wru += b.wru;
  a.rru += b.rru;
  a.maxItemBytes = Math.max(a.maxItemBytes, b.maxItemBytes);
  return a;
}

/** DynamoDB's item size: attribute names plus values (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html). */
export function itemBytes(item: Record<string, AttributeValue> | undefined): number {
  if (!item) return 0;
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

function valueBytes(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\.|e.*$/gi, '').replace(/^0+/, '').length / 2) + 1;
  if (v.B !== undefined) return v.B.byteLength;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS !== undefined) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (v.NS !== undefined) return v.NS.reduce((n, s) => n + Math.ceil(s.length / 2) + 1, 0);
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((n, [k, x]) => n + Buffer.byteLength(k) + valueBytes(x) + 1, 0);
  if (v.L !== undefined) return 3 + v.L.reduce((n, x) => n + valueBytes(x) + 1, 0);
  return 0;
}

const writeUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / 1024));
const readUnits = (bytes: number, consistent: boolean): number => Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5);

type Input = {
  Item?: Record<string, AttributeValue>;
  ConsistentRead?: boolean;
  RequestItems?: Record<string, { PutRequest?: { Item?: Record<string, AttributeValue> }; DeleteRequest?: unknown }[]>;
};
type Output = { Item?: Record<string, AttributeValue>; Items?: Record<string, AttributeValue>[] };

/**
 * Adds the meter to a client; every request it sends from now on is counted into the returned counts
 * (reset them with {@link emptyCounts} by taking a new meter per run, or read differences).
 */
export function meterDynamo(client: DynamoDBClient): DynamoMeterCounts {
  const counts = emptyCounts();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = String((context as { commandName?: string }).commandName ?? 'Unknown').replace(/Command$/, '');
      const input = (args as { input: Input }).input;
      counts.requests[op] = (counts.requests[op] ?? 0) + 1;
      try {
        const result = await next(args);
        const output = (result as { output: Output }).output;
        meterRead(op, input, output);
        return result;
      } catch (e) {
        if ((e as { name?: string }).name === 'ConditionalCheckFailedException') counts.conditionFailures += 1;
        throw e;
      } finally {
        meterWrite(op, input);
      }
    },
    { step: 'initialize', name: 'benchDynamoMeter' },
  );
  const meterWrite = (op: string, input: Input): void => {
    if (op === 'PutItem' || op === 'UpdateItem' || op === 'DeleteItem') {
      const bytes = itemBytes(input.Item);
      counts.maxItemBytes = Math.max(counts.maxItemBytes, bytes);
      counts.itemWrites += 1;
      counts.wru += writeUnits(bytes);
    } else if (op === 'BatchWriteItem') {
      for (const requests of Object.values(input.RequestItems ?? {})) {
        for (const r of requests) {
          const bytes = itemBytes(r.PutRequest?.Item);
          counts.maxItemBytes = Math.max(counts.maxItemBytes, bytes);
          counts.itemWrites += 1;
          counts.wru += writeUnits(bytes);
        }
      }
    }
  };
  const meterRead = (op: string, input: Input, output: Output): void => {
    if (op === 'GetItem') {
      const bytes = itemBytes(output.Item);
      counts.maxItemBytes = Math.max(counts.maxItemBytes, bytes);
      counts.rru += readUnits(bytes, input.ConsistentRead === true);
    } else if (op === 'Query' || op === 'Scan') {
      const bytes = (output.Items ?? []).reduce((n, item) => n + itemBytes(item), 0);
      for (const item of output.Items ?? []) counts.maxItemBytes = Math.max(counts.maxItemBytes, itemBytes(item));
      counts.rru += readUnits(bytes, input.ConsistentRead === true);
    }
  };
  return counts;
}

/**
 * The mean write units of one write of each stored item whose `pk` starts with `pkPrefix` (state items:
 * `k#`), and the largest item: an UpdateItem is billed at its item's size, which its request does not show.
 */
export async function storedItemUnits(ddb: DynamoDBClient, table: string, pkPrefix = 'k#'): Promise<{ mean: number; maxBytes: number; items: number }> {
  let units = 0;
  let items = 0;
  let maxBytes = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await ddb.send(new ScanCommand({ TableName: table, ...(start && { ExclusiveStartKey: start }) }));
    for (const item of page.Items ?? []) {
      if (!item.pk?.S?.startsWith(pkPrefix)) continue;
      const bytes = itemBytes(item);
      maxBytes = Math.max(maxBytes, bytes);
      units += writeUnits(bytes);
      items += 1;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { mean: items ? units / items : 1, maxBytes, items };
}
