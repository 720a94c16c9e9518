/**
 * What the parser produces (and the Table API builds): statements and expressions as plain data, each
 * with where it was written. Nothing here is checked yet; `query.ts` resolves names and types.
 */
import type { DecimalType } from './decimal';
import type { SourcePosition } from './sql-error';
import type { SqlType, SqlValue } from './types';

/** Positions are absent only for Table API expressions built in code ($('clicks').sum()). */
type At = { readonly pos?: SourcePosition | undefined };

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '||' | '=' | '<>' | '<' | '<=' | '>' | '>=' | 'AND' | 'OR';

export type Expr =
  | (At & { readonly kind: 'column'; readonly name: string; readonly qualifier?: string | undefined })
  /** A DECIMAL literal (0.908) has its value unscaled (908n) and its type (DECIMAL(3, 3)). */
  | (At & { readonly kind: 'literal'; readonly type: SqlType; readonly value: SqlValue; readonly decimal?: DecimalType | undefined })
  | (At & { readonly kind: 'interval'; readonly ms: number; readonly text: string })
  | (At & { readonly kind: 'unary'; readonly op: '-' | 'NOT'; readonly operand: Expr })
  | (At & { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr })
  | (At & { readonly kind: 'like'; readonly negated: boolean; readonly value: Expr; readonly pattern: Expr; readonly escape?: Expr | undefined })
  | (At & { readonly kind: 'in'; readonly negated: boolean; readonly value: Expr; readonly list: readonly Expr[] })
  | (At & { readonly kind: 'between'; readonly negated: boolean; readonly value: Expr; readonly low: Expr; readonly high: Expr })
  | (At & { readonly kind: 'isNull'; readonly negated: boolean; readonly value: Expr })
  | (At & {
      readonly kind: 'call';
      /** Upper-case function name. */
      readonly name: string;
      readonly args: readonly Expr[];
      readonly distinct: boolean;
      /** COUNT(*) */
      readonly star: boolean;
      /** An aggregate's FILTER (WHERE …): only rows for which it is TRUE count. */
      readonly filter?: Expr | undefined;
      /** An OVER aggregation: the aggregate of each row's frame (over.ts), not of a group. */
      readonly over?: OverWindow | undefined;
    })
  | (At & { readonly kind: 'case'; readonly operand?: Expr | undefined; readonly whens: readonly { readonly when: Expr; readonly then: Expr }[]; readonly otherwise?: Expr | undefined })
  /** CAST(value AS type); TRY_CAST gives NULL where CAST fails. */
  | (At & { readonly kind: 'cast'; readonly value: Expr; readonly type: SqlType; readonly declared: string; readonly decimal?: DecimalType | undefined; readonly safe: boolean })
  /**
   * A ranking function over a partition: ROW_NUMBER() OVER (PARTITION BY … ORDER BY …). Only in a select list
   * whose query is filtered on it (Top-N, deduplication: see views.ts).
   */
  | (At & { readonly kind: 'over'; readonly fn: string; readonly partitionBy: readonly Expr[]; readonly orderBy: readonly OrderKey[] })
  /** `*` or `t.*` in a select list. */
  | (At & { readonly kind: 'star'; readonly qualifier?: string | undefined })
  /** The start, end or rowtime (end − 1) of the group's window: TUMBLE_START(…), window_start, $('w').start(). */
  | (At & {
      readonly kind: 'windowProperty';
      readonly property: 'start' | 'end' | 'rowtime';
      /** The window's alias it was asked of (`$('w').start()`), checked against the query's window. */
      readonly windowAlias?: string | undefined;
    });

/**
 * The window of an OVER aggregation: `OVER (PARTITION BY … ORDER BY ts [ROWS | RANGE BETWEEN … PRECEDING AND
 * CURRENT ROW])`. Without a frame it is RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW, as in SQL.
 */
export interface OverWindow {
  /** `OVER w`: a window of the query's WINDOW clause, which the parser puts in its place. */
  readonly name?: string | undefined;
  readonly partitionBy: readonly Expr[];
  readonly orderBy: readonly OrderKey[];
  readonly frame: OverFrame;
  readonly pos?: SourcePosition | undefined;
}

/** A frame from some rows (ROWS) or some time (RANGE) before the current row up to it. */
export interface OverFrame {
  readonly unit: 'ROWS' | 'RANGE';
  /** How far back it reaches: a number of rows (ROWS) or of milliseconds (RANGE); undefined: UNBOUNDED PRECEDING. */
  readonly preceding?: number | undefined;
  readonly pos?: SourcePosition | undefined;
}

/** One key of ORDER BY in an OVER window. NULL sorts lowest unless NULLS FIRST / LAST says otherwise (Flink's default). */
export interface OrderKey {
  readonly expr: Expr;
  readonly descending: boolean;
  readonly nullsFirst: boolean;
}

export interface SelectItem {
  readonly expr: Expr;
  readonly alias?: string | undefined;
  readonly pos?: SourcePosition | undefined;
}

/** TUMBLE / HOP / CUMULATE / SESSION as Flink names them; sizes in ms. CUMULATE is a window table function only. */
export interface WindowSpec {
  readonly kind: 'TUMBLE' | 'HOP' | 'CUMULATE' | 'SESSION';
  readonly timeColumn: string;
  readonly timePos?: SourcePosition | undefined;
  readonly sizeMs: number;
  /** HOP's slide; CUMULATE's step (by which its windows' ends grow). */
  readonly slideMs: number;
  /** SESSION only. */
  readonly gapMs: number;
  /** SESSION table-valued function: PARTITION BY columns (must be grouped by). */
  readonly partitionBy: readonly string[];
  /** On a PROCTIME() column: windows by the rows' arrival (processing) time, not by `timeColumn`. */
  readonly processingTime?: boolean | undefined;
  readonly pos?: SourcePosition | undefined;
}

export type FromClause =
  /** `asOf`: `t FOR SYSTEM_TIME AS OF x.proc`, a lookup join's table (looked up as of the row's processing time). */
  | { readonly kind: 'table'; readonly name: string; readonly alias?: string | undefined; readonly asOf?: Expr | undefined; readonly pos: SourcePosition }
  /** FROM (SELECT …) AS alias: a derived table. */
  | { readonly kind: 'subquery'; readonly query: SelectQuery; readonly alias?: string | undefined; readonly pos: SourcePosition }
  | { readonly kind: 'windowTvf'; readonly table: string; readonly window: WindowSpec; readonly alias?: string | undefined; readonly pos: SourcePosition }
  /** `left [INNER | LEFT | RIGHT | FULL] JOIN right ON …`, and `left, right` (`comma`: the condition is in WHERE); `pos` is the join's first word. */
  | { readonly kind: 'join'; readonly type: JoinType; readonly left: FromClause; readonly right: FromClause; readonly on?: Expr | undefined; readonly comma: boolean; readonly pos: SourcePosition };

export type JoinType = 'INNER' | 'LEFT' | 'RIGHT' | 'FULL' | 'CROSS';

export interface SelectQuery {
  /** `*` and `t.*` are items whose expression is a 'star'. */
  readonly items: readonly SelectItem[];
  readonly from: FromClause;
  readonly where?: Expr | undefined;
  readonly groupBy: readonly Expr[];
  readonly having?: Expr | undefined;
  /** SELECT DISTINCT: a GROUP BY of the select list (views.ts). */
  readonly distinct?: boolean | undefined;
  readonly pos: SourcePosition;
}

export interface ColumnDef {
  readonly name: string;
  readonly type: SqlType;
  readonly declared: string;
  readonly notNull: boolean;
  readonly decimal?: DecimalType | undefined;
  readonly pos: SourcePosition;
}

export interface TableOption {
  readonly key: string;
  readonly value: string;
  readonly pos: SourcePosition;
}

export type Statement =
  | {
      readonly kind: 'createTable';
      readonly name: string;
      readonly columns: readonly ColumnDef[];
      readonly watermark?: { readonly column: string; readonly delayMs: number; readonly pos: SourcePosition } | undefined;
      readonly options: readonly TableOption[];
      readonly pos: SourcePosition;
    }
  | { readonly kind: 'set'; readonly key: string; readonly value: string; readonly pos: SourcePosition }
  | { readonly kind: 'createView'; readonly name: string; readonly query: SelectQuery; readonly pos: SourcePosition }
  /** CREATE FUNCTION name AS 'path/to/module.ts': a scalar function written in TypeScript. */
  | { readonly kind: 'createFunction'; readonly name: string; readonly module: string; readonly pos: SourcePosition; readonly modulePos: SourcePosition }
  /** `ctes`: WITH name AS (SELECT …), …, before the query: views of this query. `unionAll`: the queries after it, `UNION ALL SELECT …`. */
  | { readonly kind: 'insert'; readonly table: string; readonly query: SelectQuery; readonly unionAll?: readonly SelectQuery[] | undefined; readonly ctes?: readonly { readonly name: string; readonly query: SelectQuery; readonly pos: SourcePosition }[] | undefined; readonly pos: SourcePosition };
