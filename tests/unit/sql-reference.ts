/**
 * The independent reference the SQL tests compare with: sqlite3 on the same rows, and Flink's changelog
 * folded back into the rows it stands for.
 */
import { execFileSync } from 'node:child_process';
import type { Bid } from '../../lib/nexmark';

/**
 * sqlite3 on bids, as the table `bid (auction, bidder, price, channel, url, t, extra)` with `t` the event
 * time in epoch ms, inserted in order (so `rowid` is the arrival order, which breaks Top-N ties as Flink's
 * does); rows of `.mode json`.
 */
export function sqliteOnBids(input: readonly Bid[], query: string): Record<string, unknown>[] {
  const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  const rows = input.map((b) => `(${b.auction}, ${b.bidder}, ${b.price}, ${quote(b.channel)}, ${quote(b.url)}, ${b.dateTime}, ${quote(b.extra)})`);
  const text = [
    '.mode json',
    'CREATE TABLE bid (auction INTEGER, bidder INTEGER, price INTEGER, channel TEXT, url TEXT, t INTEGER, extra TEXT);',
    `INSERT INTO bid VALUES ${rows.join(',\n')};`,
    query,
  ].join('\n');
  const out = execFileSync('sqlite3', [':memory:'], { input: text, encoding: 'utf8' }).trim();
  return out ? (JSON.parse(out) as Record<string, unknown>[]) : [];
}

/** Rows as sorted JSON texts: equal when the two lists hold the same rows, in any order. */
export const byJson = (rows: readonly Record<string, unknown>[]): string[] => rows.map((r) => JSON.stringify(r)).sort();

/** A record's columns, without the fields the sink and the changelog own. */
export function columnsOf(record: Record<string, unknown>, own: readonly string[] = ['key', 'id', 'op', 'windowStart', 'windowEnd', 'resultOrder']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => !own.includes(k)));
}

/**
 * A retract changelog (records with `op` +I, -U, +U, -D) applied to an empty table, as a consumer of a
 * Kinesis sink would: +I and +U add their row, -U and -D take one equal row away. A -U or -D of a row that
 * is not there is an error.
 */
export function foldChangelog(records: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const rows = new Map<string, number>();
  for (const r of records) {
    const row = JSON.stringify(columnsOf(r));
    const count = rows.get(row) ?? 0;
    if (r.op === '+I' || r.op === '+U') rows.set(row, count + 1);
    else if (r.op === '-U' || r.op === '-D') {
      if (count === 0) throw new Error(`${String(r.op)} of a row not in the table: ${row}`);
      if (count === 1) rows.delete(row);
      else rows.set(row, count - 1);
    } else throw new Error(`a record without a change kind: ${JSON.stringify(r)}`);
  }
  return [...rows].flatMap(([row, count]) => Array.from({ length: count }, () => JSON.parse(row) as Record<string, unknown>));
}
