/**
 * A query's result rows as they change, for `shardflow sql`: a table redrawn in place on a terminal
 * (Flink's SQL client's table mode), or one line per change elsewhere (its changelog: `+I` a new row,
 * `+U` a row's new values).
 */
import { RESULT_ORDER_ATTRIBUTE } from '../io/sinks';

/** Fields a results item carries for the sink, not for the reader. */
const HIDDEN = new Set(['key', 'id', RESULT_ORDER_ATTRIBUTE]);
/** The window's bounds, under Flink's names. */
const WINDOW_FIELDS: Readonly<Record<string, string>> = { windowStart: 'window_start', windowEnd: 'window_end' };

export interface RowChange {
  readonly op: '+I' | '+U';
  readonly values: readonly string[];
}

export class ResultTable {
  private readonly fields: string[] = [];
  private readonly rows = new Map<string, string[]>();

  /** Takes new or changed items (from a ResultsWatcher); returns the changes, with values in column order. */
  update(items: readonly Record<string, unknown>[]): RowChange[] {
    const changes: RowChange[] = [];
    for (const item of items) {
      for (const field of orderedFields(item)) if (!this.fields.includes(field)) this.fields.push(field);
      const id = `${String(item.key)}\u0000${String(item.windowStart)}\u0000${String(item.id)}`;
      const values = this.fields.map((f) => formatValue(f, item[f]));
      changes.push({ op: this.rows.has(id) ? '+U' : '+I', values });
      this.rows.set(id, values);
    }
    return changes;
  }

  /** Column names, Flink's for the window bounds. */
  get columns(): string[] {
    return this.fields.map((f) => WINDOW_FIELDS[f] ?? f);
  }

  get size(): number {
    return this.rows.size;
  }

  /** The changelog's header line (once the columns are known). */
  headerLine(): string {
    return ['op', ...this.columns].join(' | ');
  }

  /** One change as a line under that header. */
  changeLine(change: RowChange): string {
    return [change.op, ...change.values].join(' | ');
  }

  /**
   * The table as lines for a terminal of `width` × `height`: the header, a rule, the newest rows that fit
   * (rows in the order they first appeared), and `footer`.
   */
  render(width: number, height: number, footer: string): string[] {
    const columns = this.columns;
    const all = [...this.rows.values()];
    const shown = all.slice(Math.max(0, all.length - Math.max(1, height - 4)));
    const widths = columns.map((c, i) => Math.max(c.length, ...shown.map((r) => (r[i] ?? '').length)));
    const line = (cells: readonly string[]): string => clip(cells.map((c, i) => c.padEnd(widths[i]!)).join(' │ '), width);
    const hidden = all.length - shown.length;
    return [
      line(columns),
      clip(widths.map((w) => '─'.repeat(w)).join('─┼─'), width),
      ...shown.map((r) => line(this.fields.map((_, i) => r[i] ?? ''))),
      clip(`${hidden > 0 ? `(${hidden.toLocaleString('en-US')} older rows above) ` : ''}${footer}`, width),
    ];
  }
}

/** The window's bounds first, then the other fields in the item's order. */
function orderedFields(item: Record<string, unknown>): string[] {
  const rest = Object.keys(item).filter((f) => !HIDDEN.has(f) && !(f in WINDOW_FIELDS));
  return [...Object.keys(WINDOW_FIELDS).filter((f) => f in item), ...rest];
}

function formatValue(field: string, value: unknown): string {
  if (value === undefined || value === null) return 'NULL';
  if (field in WINDOW_FIELDS && typeof value === 'number') return new Date(value).toISOString().replace('T', ' ').replace('Z', '');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const clip = (text: string, width: number): string => (text.length > width ? `${text.slice(0, Math.max(1, width - 1))}…` : text);
