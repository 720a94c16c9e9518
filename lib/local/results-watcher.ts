import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { RESULT_ORDER_ATTRIBUTE } from '../io/sinks';

/**
 * Watches a results table and reports items that are new or changed since the last look (a late
 * firing updates an item in place). Scanning is fine locally: results tables are small.
 */
export class ResultsWatcher {
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly ddb: DynamoDBClient,
    readonly table: string,
  ) {}

  /** Items new or changed since the previous call. */
  async poll(): Promise<Record<string, unknown>[]> {
    const changed: Record<string, unknown>[] = [];
    let start: Record<string, never> | undefined;
    do {
      const page = await this.ddb.send(new ScanCommand({ TableName: this.table, ...(start && { ExclusiveStartKey: start }) }));
      for (const raw of page.Items ?? []) {
        const item = unmarshall(raw);
        const id = `${String(item.key)}\u0000${String(item.windowStart)}`;
        const body = JSON.stringify(item);
        if (this.seen.get(id) !== body) {
          this.seen.set(id, body);
          changed.push(item);
        }
      }
      start = page.LastEvaluatedKey as typeof start;
    } while (start);
    return changed.sort((a, b) => Number(a.windowStart) - Number(b.windowStart) || (String(a.key) < String(b.key) ? -1 : 1));
  }

  /** How many results have been seen. */
  get count(): number {
    return this.seen.size;
  }
}

/** One line for a result: key, window as times of day, and the other fields. */
export function formatResult(table: string, item: Record<string, unknown>): string {
  const { key, windowStart, windowEnd, id: _id, [RESULT_ORDER_ATTRIBUTE]: _order, ...fields } = item;
  const time = (ms: unknown): string => (typeof ms === 'number' && ms > 1e11 ? new Date(ms).toISOString().slice(11, 23) : String(ms));
  const window = windowEnd !== undefined ? `[${time(windowStart)} – ${time(windowEnd)})` : '';
  const rest = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : JSON.stringify(v)}`);
  return `${table}  ${String(key).padEnd(12)} ${window}  ${rest.join(' ')}`;
}
