/** Flink SQL and the Table API, compiled to the same job graph as the DataStream API. */
export { compileSql, compileQuery, GLOBAL_KEY, type CompileSqlOptions } from './compile';
export { parseSql, parseExpression, parseSelectItems } from './parser';
export { SqlError, type SqlProblem } from './sql-error';
export { scalarFunction, type ScalarFunction, type FunctionValue } from './user-functions';
export { changelogOf, describeChangelog, type Changelog, type RowKind } from './changelog';
export {
  from,
  kinesisTable,
  $,
  lit,
  Tumble,
  Slide,
  Session,
  Expression,
  Table,
  WindowedTable,
  GroupedTable,
  ResultTable,
  type GroupWindow,
  type InsertOptions,
  type KinesisTableOptions,
  type TableSource,
} from './table-api';
