/**
 * The logical query both front ends produce — SQL text (`statements.ts`) and the Table API
 * (`table-api.ts`) — and `compile.ts` turns into a job: one source table (or two, `join`), an optional filter, an
 * optional window with its group keys, the select list, an optional HAVING, one sink table.
 */
import type { StreamMode } from '../api/settings';
import type { SinkSpec } from '../api/sink';
import type { Expr, OrderKey, SelectItem, WindowSpec } from './ast';
import type { JoinedTables } from './joins';
import type { LookupJoin } from './lookup';
import type { RankFunction } from './top-n';
import type { SourcePosition } from './sql-error';
import type { Column } from './types';
import type { FunctionDeclaration, ScalarFunction } from './user-functions';

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

/**
 * Flink's Top-N: `SELECT cols FROM (SELECT …, ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) AS rn FROM …)
 * WHERE rn <= limit`. The query it ranks is the LogicalQuery itself (its select list holds the ROW_NUMBER
 * item); `columns` is the outer select list, by the ranked query's column names.
 */
export interface TopN {
  /** In the ranked query's terms (the FROM it reads), like its select list. */
  readonly partitionBy: readonly Expr[];
  readonly orderBy: readonly OrderKey[];
  readonly limit: number;
  /** The ranking item's column name. */
  readonly rankName: string;
  /** ROW_NUMBER(), RANK() or DENSE_RANK(). */
  readonly rankFunction: RankFunction;
  /** The outer select list: each a column of the ranked query (or the rank), under its output name. */
  readonly columns: readonly { readonly name: string; readonly source: string; readonly pos?: SourcePosition | undefined }[];
  readonly pos: SourcePosition;
}

export interface LogicalQuery {
  readonly jobName: string;
  /** Where the job name came from, for messages. */
  readonly jobNamePos?: SourcePosition | undefined;
  /** SET 'shardflow.stream-mode': the mode of every stream the job creates (default: provisioned). */
  readonly streamMode?: StreamMode | undefined;
  readonly source: SourceTable;
  /** FROM a JOIN b: `source` is the joined row (columns `alias.column`), read from both tables. */
  readonly join?: JoinedTables | undefined;
  /** FROM a JOIN t FOR SYSTEM_TIME AS OF …: each row of `source` enriched with t's item for its key (lookup.ts). */
  readonly lookup?: LookupJoin | undefined;
  /**
   * FROM (an aggregating subquery) AS s, aggregated again: the rows are that query's results (`source`
   * names them, its columns are known once compiled). Nexmark q5's MaxBids.
   */
  readonly over?: { readonly query: LogicalQuery; readonly pos: SourcePosition } | undefined;
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
  /** A Top-N (or deduplication) over the query's rows. */
  readonly topN?: TopN | undefined;
  /** CREATE FUNCTION statements, and the functions they load (compileSql loads them). */
  readonly functionDeclarations?: readonly FunctionDeclaration[] | undefined;
  readonly functions?: ReadonlyMap<string, ScalarFunction> | undefined;
  /** `SET 'table.exec.state.ttl'`: how long (event time) a continuous query keeps a key's state after its last update. */
  readonly stateTtlMs?: number | undefined;
  readonly sink: SinkTable;
  /** `UNION ALL SELECT …`: more queries whose rows go to the sink too, their columns by position. */
  readonly unionAll?: readonly LogicalQuery[] | undefined;
  readonly pos?: SourcePosition | undefined;
}
