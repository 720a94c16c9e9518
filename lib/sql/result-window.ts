/**
 * The window a query's results are per, and the result columns that hold its start and end: of a window
 * aggregation, and of an aggregation over one's results grouped by those columns (Flink's window
 * aggregation over a window TVF's results, which keeps the window: Nexmark q5's MaxBids). A join reads it
 * to join results window by window; the compiler to aggregate results window by window.
 */
import type { Expr, SelectItem, WindowSpec } from './ast';
import type { LogicalQuery } from './query';

export interface ResultWindow {
  readonly window: WindowSpec;
  /** The result columns holding the window's start and end, when the query selects them. */
  readonly start?: string | undefined;
  readonly end?: string | undefined;
}

export function resultWindow(q: LogicalQuery): ResultWindow | undefined {
  if (q.window) return { window: q.window, start: selected(q, (e) => windowPropertyOf(e) === 'start'), end: selected(q, (e) => windowPropertyOf(e) === 'end') };
  if (!q.over) return undefined;
  const inner = resultWindow(q.over.query);
  if (!inner?.start || !inner.end) return undefined;
  const isColumn = (name: string) => (e: Expr) => e.kind === 'column' && e.name === name;
  // Grouped by both of the inner window's columns, the groups are per inner window; else they span windows.
  if (!q.groupBy.some(isColumn(inner.start)) || !q.groupBy.some(isColumn(inner.end))) return undefined;
  return { window: inner.window, start: selected(q, isColumn(inner.start)), end: selected(q, isColumn(inner.end)) };
}

/** The result name of the first select item that `is`: its alias, a column's name, window_start / window_end, EXPR$i (as the compiler names them). */
function selected(q: LogicalQuery, is: (e: Expr) => boolean): string | undefined {
  const i = q.select.findIndex((item) => is(item.expr));
  return i === -1 ? undefined : resultName(q.select[i]!, i);
}

function resultName(item: SelectItem, i: number): string {
  const property = windowPropertyOf(item.expr);
  return item.alias ?? (item.expr.kind === 'column' ? item.expr.name : property ? `window_${property}` : `EXPR$${i}`);
}

/** Whether a select item is its window's start or end, however written (window_start, TUMBLE_START(…), $('w').start()). */
export function windowPropertyOf(e: Expr): 'start' | 'end' | undefined {
  if (e.kind === 'windowProperty') return e.property === 'rowtime' ? undefined : e.property;
  if (e.kind === 'column') return e.name === 'window_start' ? 'start' : e.name === 'window_end' ? 'end' : undefined;
  const m = e.kind === 'call' ? /^(?:TUMBLE|HOP)_(START|END)$/.exec(e.name) : null;
  return m ? (m[1] === 'START' ? 'start' : 'end') : undefined;
}
