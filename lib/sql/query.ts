/**
 * The logical query both front ends produce — SQL text (`statements.ts`) and the Table API
 * (`table-api.ts`) — and `compile.ts` turns into a job: one source table (or two, `join`), an optional filter, an
 * optional window with its group keys, the select list, an optional HAVING, one sink table.
 */
import type { SinkSpec } from '../api/sink';
import type { Expr, SelectItem, WindowSpec } from './ast';
import type { JoinedTables } from './joins';
import type { SourcePosition } from './sql-error';
import type { Column } from './types';

/** A Kinesis table of JSON records. */
export interface SourceTable {
  readonly name: string;
  readonly stream: string;
  readonly columns: readonly Column[];
  /** The event-time column and its bounded out-of-orderness (from WATERMARK FOR … AS … - INTERVAL …). */
  readonly rowtime?: { readonly column: string; readonly outOfOrdernessMs: number } | undefined;
  readonly idleAfterMs?: number | undefined;
  readonly shards?: number | undefined;
}

/** Where results go; `columns`, when declared, name the select list's columns in order (Flink's INSERT). */
export interface SinkTable {
  readonly name: string;
  readonly sink: SinkSpec;
  readonly columns: readonly Column[];
}

/** How the window was written: it decides which window columns and functions the select list may use. */
export type WindowForm =
  /** GROUP BY …, TUMBLE(ts, …): TUMBLE_START(ts, …), TUMBLE_END(…), TUMBLE_ROWTIME(…). */
  | 'group-window'
  /** FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), …)): window_start, window_end, window_time. */
  | 'table-function'
  /** The Table API: $('w').start(), and window_start / window_end in string expressions. */
  | 'table-api';

export interface LogicalQuery {
  readonly jobName: string;
  /** Where the job name came from, for messages. */
  readonly jobNamePos?: SourcePosition | undefined;
  readonly source: SourceTable;
  /** FROM a JOIN b: `source` is the joined row (columns `alias.column`), read from both tables. */
  readonly join?: JoinedTables | undefined;
  /** The name the query may qualify columns with (`c.userId`). */
  readonly sourceAlias?: string | undefined;
  readonly where?: Expr | undefined;
  readonly window?: (WindowSpec & { readonly form: WindowForm }) | undefined;
  /** Group keys besides the window (columns). */
  readonly groupBy: readonly Expr[];
  /** True when the query has GROUP BY (with or without a window). */
  readonly grouped: boolean;
  /** `*` and `t.*` are items whose expression is a 'star'. */
  readonly select: readonly SelectItem[];
  readonly having?: Expr | undefined;
  readonly sink: SinkTable;
  readonly pos?: SourcePosition | undefined;
}
